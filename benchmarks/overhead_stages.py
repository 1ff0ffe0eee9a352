"""Where scgrad's fixed per-step cost goes: the 50-Bernoulli step of ``overhead.py``, rebuilt stage by stage.

Each stage computes the same estimator as ``scgrad.surrogate`` on that problem (REINFORCE with a
leave-one-out baseline, its loss ``mean(c + expm1(s - s.detach()) (c - b))``), with one more part of
scgrad's pipeline than the stage before:

1. ``ops_plain``: the surrogate's tensor operations alone, the sample a plain tensor;
2. ``ops_provenance``: the same, the sample a ``ProvenanceTensor`` (the cost's operations go through the
   provenance hook, as they do for a leave-one-out node);
3. ``bare_recording``: the program run through ``scgrad.sample`` and ``scgrad.cost`` under the least a
   recorder can do (a handler on the stack that draws, gives the value its name's provenance and keeps the
   cost, without a check), then the operations of 2: the floor of any design that runs the program through
   the primitives and tracks the node's dependencies through ``__torch_function__``;
4. ``recording``: the program run under a ``GraphRecorder`` (its checks, the graph, the layout);
5. ``downstream``: + ``Replay``, ``Dependencies`` and the node's downstream cost;
6. ``parts``: + the estimator's parts (``ScoreFunction`` and ``LeaveOneOut``);
7. ``paired_term``: + the combiner's shared term of the cost and the baseline;
8. ``surrogate``: ``scgrad.surrogate`` itself (the rest of ``build_objective``: grouping, pairing, the
   finiteness check, the ``Objective``);
9. ``surrogate_time_order``: the same with the node's dependencies not tracked (a leave-one-out baseline
   that does not ask for them, so the cost is taken in time order, as ``scgrad.surrogate`` takes it for a
   node whose estimator does not ask): what the tracking costs in the whole pipeline. On this program the
   two give the same estimate (its one cost is computed from the node).

Each stage is first checked, in float64, to give the hand-written step's gradient from the same random
numbers, then timed against it as ``overhead.py`` times a pair (alternating step by step, the median
ratio with its 95% interval). The differences between stages locate the gap; a stage's ratio below 1
means the hand-written side does work scgrad skips (torch's support check of a sample in ``log_prob``).
The stages read scgrad's internals: this is a measurement of them, not an example of the API. Prints the
ratios and writes JSON.

    .venv/bin/python benchmarks/overhead_stages.py --steps 3000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.distributions as D

import scgrad
from scgrad.core.combine import _paired_term
from scgrad.core.dependencies import Dependencies
from scgrad.core.graph import unchecked_log_prob
from scgrad.core.provenance import ProvenanceTensor, strip
from scgrad.core.record import GraphRecorder
from scgrad.core.replay import Replay
from scgrad.core.runtime import Handler
from scgrad.estimators.defaults import builtin_default

sys.path.insert(0, str(Path(__file__).parent))
import overhead  # noqa: E402  (a sibling script: the problem, the hand-written step, the timing)


class BareRecorder(Handler):
    """The least a recorder does: takes ``sample`` and ``cost`` directly, draws, tags the value with the node's
    name (its provenance), keeps the cost's plain tensor. No check of any kind."""

    direct = True

    def __init__(self):
        self.nodes, self.costs = {}, {}

    def sample_directly(self, name, dist, estimator, num_samples):
        value = dist.sample((num_samples,))
        self.nodes[name] = (dist, value)
        return ProvenanceTensor(value, frozenset((name,)))

    def cost_directly(self, name, value):
        self.costs[name] = strip(value)


class UntrackedLeaveOneOut(scgrad.LeaveOneOut):
    """``LeaveOneOut`` that does not ask for its node's dependencies: its costs are taken in time order."""

    needs_independence = False


def stages(logits, targets) -> dict:
    """``name -> step`` (a function returning the loss), in the order of the module's docstring."""
    estimator = scgrad.ScoreFunction(scgrad.LeaveOneOut())

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), estimator, num_samples=overhead.DRAWS)
        scgrad.cost("squared_error", (b - targets) ** 2)

    def paired(cost, score, baseline):
        return torch.addcmul(cost, torch.expm1(score - score.detach()), cost - baseline).mean()

    def leave_one_out(cost):
        return (cost.sum(0, keepdim=True) - cost) / (overhead.DRAWS - 1)

    def ops(tracked: bool):
        def step():
            q = D.Bernoulli(logits=logits)
            b = q.sample((overhead.DRAWS,))
            value = ProvenanceTensor(b, frozenset({"b"})) if tracked else b
            cost = strip((value - targets) ** 2)
            loss = paired(cost, unchecked_log_prob(q, b), leave_one_out(cost.detach()))
            loss.item()  # the surrogate's finiteness check reads the loss once
            return loss
        return step

    def bare():
        recorder = BareRecorder()
        with recorder:
            program()
        q, b = recorder.nodes["b"]
        cost = recorder.costs["squared_error"]
        loss = paired(cost, unchecked_log_prob(q, b), leave_one_out(cost.detach()))
        loss.item()
        return loss

    untracked = scgrad.ScoreFunction(UntrackedLeaveOneOut())

    def program_in_time_order():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), untracked, num_samples=overhead.DRAWS)
        scgrad.cost("squared_error", (b - targets) ** 2)

    def recorded():
        recorder = GraphRecorder(builtin_default)
        with recorder:
            program()
        return recorder

    def pipeline(level: int):
        def step():
            graph = recorded().graph
            node, site = graph.nodes["b"], graph.costs["squared_error"]
            if level == 0:
                score, baseline = node.log_prob, leave_one_out(site.value.detach())
            else:
                replay = Replay(graph, program, lambda: GraphRecorder(builtin_default))
                downstream = Dependencies(graph, replay).downstream([node])[node]
                if level == 1:
                    score, baseline = node.log_prob, leave_one_out(downstream.cost)
                else:
                    part = estimator.parts(node, downstream)
                    score, baseline = part.score, part.baseline
            loss = _paired_term(site, part).total if level >= 3 else paired(site.value, score, baseline)
            loss.item()
            return loss
        return step

    return {
        "ops_plain": ops(False),
        "ops_provenance": ops(True),
        "bare_recording": bare,
        "recording": pipeline(0),
        "downstream": pipeline(1),
        "parts": pipeline(2),
        "paired_term": pipeline(3),
        "surrogate": lambda: scgrad.surrogate(program).loss,
        "surrogate_time_order": lambda: scgrad.surrogate(program_in_time_order).loss,
    }


def problem():
    """The 50-Bernoulli problem of ``overhead.py``: logits (the model) and targets."""
    return torch.zeros(overhead.BITS, requires_grad=True), torch.linspace(0.05, 0.95, overhead.BITS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: steadier timings)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/overhead_stages.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with overhead.default_dtype(torch.float64):
        logits, targets = problem()
        for name, step in stages(logits, targets).items():
            overhead.check_same_gradient(step, lambda: overhead.bits_by_hand(logits, targets), [logits])
    results = {}
    logits, targets = problem()
    for name, step in stages(logits, targets).items():
        r = overhead.time_pair(step, lambda: overhead.bits_by_hand(logits, targets), [logits], steps=args.steps, warmup=args.warmup)
        results[name] = r
        print(f"{name:20s} {r['scgrad_ms']:.3f} ms  by hand {r['by_hand_ms']:.3f} ms  "
              f"ratio {r['ratio']:.3f} [{r['ratio_ci95'][0]:.3f}, {r['ratio_ci95'][1]:.3f}]", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "torch": torch.__version__, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
