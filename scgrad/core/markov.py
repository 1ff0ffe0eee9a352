"""``scgrad.markov``: a loop whose steps depend only on the few steps before them, so that enumerated
nodes reuse the dims of steps that no longer take part (Pyro's ``pyro.markov``)."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

import torch

from scgrad.core.record import GraphRecorder
from scgrad.core.runtime import find
from scgrad.errors import ScgradError

T = TypeVar("T")


def markov(steps: Iterable[T], history: int = 1) -> Iterator[T]:
    """Iterate over ``steps``, letting each step's enumerated nodes reuse the dims of older steps.

    Enumerate lays each node's outcomes on a dim of its own, and a torch tensor holds at most 64 dims,
    so a chain of one enumerated node per step stops at 56 steps. Written as
    ``for t in scgrad.markov(range(T)):``, step ``t``'s enumerated nodes take the dims of step
    ``t - history - 1``, whose nodes the program promises no longer to combine with the current step's
    (a first-order chain or HMM: ``history=1``). The promise is checked, not trusted: every tensor the
    surrogate combines knows the nodes whose outcomes it varies along, and one that varies along two
    nodes sharing a dim is refused, naming them. Outside ``scgrad.surrogate``, and while
    ``torch.compile`` traces (where dependencies are not tracked), it is a plain loop and dims are not
    reused.

    Example::

        z = None
        for t in scgrad.markov(range(100)):
            logits = init if z is None else transition[z]
            z = scgrad.sample(f"z{t}", D.Categorical(logits=logits), scgrad.Enumerate())
            scgrad.cost(f"x{t}", -D.Categorical(logits=emission[z]).log_prob(x[t]))

    Args:
        steps: the loop's items.
        history: how many steps before it a step depends on (``>= 0``).
    """
    if not isinstance(history, int) or history < 0:
        raise ScgradError(f"scgrad.markov(history={history!r}): history is the number of earlier steps a step depends "
                          f"on, an int >= 0.")
    recorder = find(GraphRecorder)
    if recorder is None or torch.compiler.is_compiling():
        yield from steps
        return
    loop = recorder.layout.open_loop(history)
    try:
        for step, item in enumerate(steps):
            loop.step = step
            yield item
    finally:
        recorder.layout.close_loop(loop)
