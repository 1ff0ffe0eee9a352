"""The ``scgrad`` command."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import scgrad


def integer(text: str) -> int:
    """An integer option's value; anything else is refused with the text given."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_integer(text: str) -> int:
    """A positive integer option's value."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def at_least_two(text: str) -> int:
    """The number of estimates behind a variance: at least 2."""
    value = integer(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 (estimates to measure a variance), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scgrad`` command."""
    from scgrad.compare.problems import DEFAULT, PROBLEMS
    from scgrad.diagnostics.catalogue import CATALOGUE

    parser = argparse.ArgumentParser(
        prog="scgrad",
        description="Gradient estimation in stochastic computation graphs for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"scgrad {scgrad.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare = commands.add_parser(
        "compare", help="train a problem's model with every estimator; variance, bias, time and objective of each",
        description="Train the same model on the same data with each estimator, measure the gradient's variance "
                    "at checkpoints, and write DIR/results.json, DIR/report.md, DIR/report.html and plots.",
    )
    compare.add_argument("--problem", default=DEFAULT, metavar="NAME",
                         help=f"a built-in problem ({', '.join(PROBLEMS)}; default {DEFAULT}), or your own: "
                              f"FILE.py:NAME or module:NAME, a class or instance like scgrad.compare.Problem "
                              f"(see docs/user_problems.md)")
    compare.add_argument("--estimators", default=None, metavar="A,B,...",
                         help=f"comma-separated names, from: {', '.join(e.name for e in CATALOGUE)} (default: all "
                              f"that apply to the problem; --list says what each is)")
    compare.add_argument("--list", action="store_true", help="list the estimators and problems, then exit")
    compare.add_argument("--steps", type=positive_integer, default=None,
                         help="training steps per estimator (default: the problem's)")
    compare.add_argument("--samples", type=positive_integer, default=2,
                         help="draws of the latent per data point (default 2; leave-one-out, ARM, DisARM and the "
                              "unordered set need 2 or more)")
    compare.add_argument("--seed", type=integer, default=0, help="random seed, the same for every estimator (default 0)")
    compare.add_argument("--repeats", type=at_least_two, default=20,
                         help="gradient estimates per variance measurement (default 20)")
    compare.add_argument("--checkpoints", type=positive_integer, default=4,
                         help="variance measurements (and checkpoints) after step 0 (default 4)")
    compare.add_argument("--threads", type=positive_integer, default=1,
                         help="torch CPU threads while comparing (default 1: fastest for small models, and "
                              "no spinning threads when cores are shared)")
    compare.add_argument("--out", type=Path, default=None, metavar="DIR",
                         help="output folder (default scgrad-compare/PROBLEM, or scgrad-compare/PROBLEM--A+B "
                              "when --estimators is given, so that a narrower run keeps the full one's report)")
    compare.add_argument("--resume", action="store_true",
                         help="continue the run in DIR from its checkpoints (else they are discarded)")
    compare.set_defaults(usage_of=compare)  # for errors found after parsing, worded as argparse's own
    quickstart = commands.add_parser(
        "quickstart", help="train a small discrete model with the score function and print what it learned"
    )
    quickstart.add_argument("--steps", type=positive_integer, default=300, help="optimisation steps (default 300)")
    quickstart.add_argument("--seed", type=integer, default=0, help="random seed (default 0)")
    return parser


def default_folder(problem_name: str, estimators: list[str] | None) -> Path:
    """``scgrad-compare/PROBLEM`` for a run of every estimator, ``scgrad-compare/PROBLEM--A+B`` for a chosen
    set (sorted; a hash of it where the names would make the folder's name too long)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", problem_name)
    if estimators is not None:
        chosen = "+".join(sorted(set(estimators)))
        if len(chosen) > 80:
            chosen = f"{len(set(estimators))}-estimators-{hashlib.sha1(chosen.encode()).hexdigest()[:8]}"
        name += "--" + chosen
    return Path("scgrad-compare") / name


def run_compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``scgrad compare``: train with a progress bar, then print the table and where the outputs are."""
    import torch
    from rich.console import Console
    from tqdm import tqdm

    from scgrad.compare import Settings, compare, problem, results
    from scgrad.compare.listing import listing
    from scgrad.compare.load import is_reference, load
    from scgrad.compare.plots import OBJECTIVE_PNG, VARIANCE_PNG
    from scgrad.compare.run import HTML, REPORT, RESULTS, measured
    from scgrad.diagnostics.catalogue import CATALOGUE, lookup
    from scgrad.diagnostics.failure import failures, user_traceback
    from scgrad.diagnostics.table import estimator_table
    from scgrad.errors import ScgradError

    if args.list:
        print(listing())
        return 0
    names = None if args.estimators is None else [n.strip() for n in args.estimators.split(",") if n.strip()]
    try:
        entries = list(CATALOGUE) if names is None else lookup(names)
    except ScgradError as error:
        parser.error(f"argument --estimators: {error}")
    try:
        chosen = load(args.problem) if is_reference(args.problem) else problem(args.problem)
    except ScgradError as error:
        yours = "" if is_reference(args.problem) else " Or give your own: FILE.py:NAME or module:NAME."
        parser.error(f"argument --problem: {error}{yours}")
    except Exception as error:  # noqa: BLE001 -- the user's file raised: show its own traceback
        print(f"scgrad compare: --problem {args.problem}: loading it raised {type(error).__name__}; its traceback:\n"
              f"{user_traceback(error)}", file=sys.stderr)
        return 1
    settings = Settings(steps=args.steps or chosen.steps, samples=args.samples, seed=args.seed,
                        repeats=args.repeats, checkpoints=args.checkpoints)
    out = args.out or default_folder(chosen.name, names)
    console = Console(width=None if sys.stdout.isatty() else 120)
    if (out / RESULTS).exists() and not args.resume:
        earlier = json.loads((out / RESULTS).read_text())
        console.print(f"replacing the report in {out} of an earlier run ({len(earlier['estimators'])} estimators, "
                      f"{earlier['settings']['steps']} steps) when this one ends; to keep it, interrupt now and "
                      f"give --out DIR", markup=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    bar, current = None, None
    try:
        for progress in compare(chosen, entries, settings, out, resume=args.resume, skip_inapplicable=names is None):
            if progress.estimator != current:
                if bar is not None:
                    bar.close()
                current = progress.estimator
                bar = tqdm(total=settings.steps, unit="step",
                           desc=f"estimator {progress.index} of {progress.total}: {current}")
            bar.update(progress.step - bar.n)
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(threads)
    found = results(out)
    title = (f"scgrad compare: {found['problem']}, {settings.steps} steps, {settings.samples} samples, seed "
             f"{settings.seed}; objective: {found['objective_label']}")
    console.print(found["audit"]["text"], markup=False, highlight=False)
    console.print(estimator_table(title, found["estimators"], found["recommendation"]))
    for failed, text in failures(found["estimators"]):
        console.print(f"failure of {', '.join(failed)}:\n{text}", markup=False, highlight=False)
    paths = ", ".join(str(out / name) for name in (RESULTS, REPORT, HTML, VARIANCE_PNG, OBJECTIVE_PNG))
    if not measured(found["estimators"]):
        console.print(f"no estimator could be measured on {found['problem']}: each row above says why; wrote {paths}",
                      markup=False)
        return 1
    if found["recommendation"] is None:
        console.print("recommended: none (no unbiased estimator was measured)")
    else:
        warning = "" if found["audit"]["ok"] else " (warning: the program fails the audit above)"
        console.print(f"recommended: {found['recommendation']}{warning}; in your program:\n{found['usage']}",
                      markup=False, highlight=False)
    console.print(f"wrote {paths}", markup=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scgrad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare":
        from scgrad.errors import ScgradError

        try:
            return run_compare(args, args.usage_of)
        except ScgradError as error:
            args.usage_of.exit(2, f"scgrad compare: {error}\n")
    if args.command == "quickstart":
        from scgrad.quickstart import run

        run(steps=args.steps, seed=args.seed)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
