"""Ground truth: the exact objective of a program, every discrete node enumerated."""

from __future__ import annotations

from scgrad.core.handlers import override_estimators
from scgrad.core.surrogate import Objective, surrogate
from scgrad.errors import CombinedDrawsError, ScgradError
from scgrad.estimators.enumerate import Enumerate, has_finite_support
from scgrad.estimators.reparam import Reparam


def _exact_estimators(each_draw: bool):
    return lambda name, dist: _exact_estimator(name, dist, each_draw)


def _exact_estimator(name, dist, each_draw: bool):
    if has_finite_support(dist):
        return Enumerate(each_draw=each_draw)
    if dist.has_rsample:
        return Reparam()
    raise ScgradError(
        f"exact: node {name!r} ({type(dist).__name__}) can be neither enumerated (no enumerate_support) nor "
        f"reparameterised (no rsample): check it with a program whose nodes have a finite support or rsample."
    )


def exact(program, *args, **kwargs) -> Objective:
    """The exact objective of ``program``: every discrete node enumerated, every other reparameterised.

    Whatever estimators the program names are replaced. The returned :class:`~scgrad.Objective`'s
    ``loss`` is the exact expectation as a differentiable function of the parameters (exact given
    the draws of any continuous nodes), so ``torch.autograd.grad(obj.loss, params)`` is the exact
    gradient and ``create_graph=True`` gives exact higher derivatives. Cost grows with the product of
    the support sizes; meant for small graphs and tests.

    The ``num_samples`` draws of a node first share one enumeration dim; if a cost combines the
    draws, the program is run again with a dim per draw (``Enumerate(each_draw=True)``). The program
    must therefore have no side effects outside scgrad.
    """
    try:
        with override_estimators(_exact_estimators(each_draw=False)):
            return surrogate(program, *args, **kwargs)
    except CombinedDrawsError:
        with override_estimators(_exact_estimators(each_draw=True)):
            return surrogate(program, *args, **kwargs)
