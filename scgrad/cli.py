"""The ``scgrad`` command."""

from __future__ import annotations

import argparse

import scgrad


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scgrad`` command."""
    parser = argparse.ArgumentParser(
        prog="scgrad",
        description="Gradient estimation in stochastic computation graphs for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"scgrad {scgrad.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    quickstart = commands.add_parser(
        "quickstart", help="train a small discrete model with the score function and print what it learned"
    )
    quickstart.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    quickstart.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scgrad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "quickstart":
        from scgrad.quickstart import run

        run(steps=args.steps, seed=args.seed)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
