"""The ``scgrad`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import scgrad


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scgrad`` command."""
    from scgrad.compare.problems import DEFAULT, PROBLEMS

    parser = argparse.ArgumentParser(
        prog="scgrad",
        description="Gradient estimation in stochastic computation graphs for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"scgrad {scgrad.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare = commands.add_parser(
        "compare", help="train a problem's model with every estimator; variance, bias, time and objective of each",
        description="Train the same model on the same data with each estimator, measure the gradient's variance "
                    "at checkpoints, and write DIR/results.json, DIR/report.md and plots.",
    )
    compare.add_argument("--problem", choices=sorted(PROBLEMS), default=DEFAULT, help=f"default {DEFAULT}")
    compare.add_argument("--estimators", default=None, metavar="A,B,...",
                         help="comma-separated catalogue names (default: all that apply to the problem)")
    compare.add_argument("--steps", type=_positive, default=None, help="training steps per estimator (default: the problem's)")
    compare.add_argument("--samples", type=_positive, default=2, help="draws of the latent per data point (default 2)")
    compare.add_argument("--seed", type=int, default=0, help="random seed, the same for every estimator (default 0)")
    compare.add_argument("--repeats", type=_at_least_two, default=20,
                         help="gradient estimates per variance measurement (default 20)")
    compare.add_argument("--checkpoints", type=_positive, default=4,
                         help="variance measurements (and checkpoints) after step 0 (default 4)")
    compare.add_argument("--threads", type=_positive, default=1,
                         help="torch CPU threads while comparing (default 1: fastest for small models, and "
                              "no spinning threads when cores are shared)")
    compare.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default scgrad-compare/PROBLEM)")
    compare.add_argument("--resume", action="store_true",
                         help="continue the run in DIR from its checkpoints (else they are discarded)")
    quickstart = commands.add_parser(
        "quickstart", help="train a small discrete model with the score function and print what it learned"
    )
    quickstart.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    quickstart.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 to measure a variance, got {text}")
    return value


def run_compare(args: argparse.Namespace) -> int:
    """``scgrad compare``: train with a progress bar, then print the table and where the outputs are."""
    import torch
    from rich.console import Console
    from tqdm import tqdm

    from scgrad.compare import Settings, compare, problem, results
    from scgrad.diagnostics.catalogue import CATALOGUE, lookup
    from scgrad.diagnostics.table import estimator_table

    chosen = problem(args.problem)
    named = args.estimators is not None
    entries = lookup([n.strip() for n in args.estimators.split(",") if n.strip()]) if named else list(CATALOGUE)
    settings = Settings(steps=args.steps or chosen.steps, samples=args.samples, seed=args.seed,
                        repeats=args.repeats, checkpoints=args.checkpoints)
    out = args.out or Path("scgrad-compare") / args.problem
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    bar, current = None, None
    try:
        for name, step in compare(chosen, entries, settings, out, resume=args.resume, skip_inapplicable=not named):
            if name != current:
                if bar is not None:
                    bar.close()
                bar, current = tqdm(total=settings.steps, desc=f"{args.problem} {name}", unit="step"), name
            bar.update(step - bar.n)
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(threads)
    found = results(out)
    console = Console(width=None if sys.stdout.isatty() else 120)
    title = f"scgrad compare: {found['problem']}, {settings.steps} steps, {settings.samples} samples, seed {settings.seed}"
    console.print(found["audit"]["text"], markup=False, highlight=False)
    console.print(estimator_table(title, found["estimators"], found["recommendation"]))
    warning = "" if found["audit"]["ok"] else " (warning: the program fails the audit above)"
    console.print(f"recommended: {found['recommendation']}{warning}")
    console.print(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'variance.png'}, {out / 'objective.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scgrad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare":
        from scgrad.errors import ScgradError

        try:
            return run_compare(args)
        except ScgradError as error:
            parser.exit(2, f"scgrad compare: {error}\n")
    if args.command == "quickstart":
        from scgrad.quickstart import run

        run(steps=args.steps, seed=args.seed)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
