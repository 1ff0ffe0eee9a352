"""``scgrad.surrogate``: run a program once, record its graph, and build the surrogate.

The public entry point ties the core (recording, dependencies, the combiner) to the estimators' rules
for nodes that name no estimator, which the core does not import.
"""

from __future__ import annotations

from scgrad.core.combine import build_objective
from scgrad.core.objective import Objective
from scgrad.core.provenance import provenance
from scgrad.core.record import GraphRecorder
from scgrad.core.replay import Replay
from scgrad.core.runtime import find
from scgrad.errors import ScgradError
from scgrad.estimators.defaults import builtin_default


def surrogate(program, *args, **kwargs) -> Objective:
    """Run ``program(*args, **kwargs)`` once, record its nodes and costs, and build the surrogate.

    The program draws with :func:`scgrad.sample` and reports costs with :func:`scgrad.cost`. Under
    ``with scgrad.provenance():`` each cost depends only on the nodes it was computed from; by
    default it depends on every node sampled before it (see :class:`~scgrad.core.record.GraphRecorder`
    for the nodes tracked all the same). Estimators that evaluate costs at other values of a node re-run
    the program. Nested calls are refused.
    """
    if find(GraphRecorder) is not None:
        raise ScgradError(
            "scgrad.surrogate was called inside a program already running under scgrad.surrogate; "
            "nesting is not supported. Call the inner program directly: its samples and costs join the outer graph."
        )
    tracked = find(provenance) is not None

    def record() -> GraphRecorder:
        return GraphRecorder(builtin_default, track_provenance=tracked)

    recorder = record()
    with recorder:
        program(*args, **kwargs)
    return build_objective(recorder.graph, Replay(recorder.graph, lambda: program(*args, **kwargs), record))
