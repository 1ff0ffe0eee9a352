"""Check a program against the contract the surrogate relies on, by substitution.

The surrogate credits element ``i`` of a cost (and of a later node's log-probability) only to the
elements of each node that line up with it (shapes aligned from the right; a dim the target lacks or
has as 1 credits every element along it), and, under ``scgrad.provenance()`` or for a node tracked for
its estimator, only to the nodes its provenance names. A program that breaks those rules gets a biased
gradient that no shape can show. The audit runs the program once, then re-runs it with one element (or
draw) of one node changed at a time, every other node held at its recorded value, and compares which
targets change against what the surrogate will assume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scgrad.core.graph import Graph, Node
from scgrad.core.handlers import substitute
from scgrad.core.provenance import provenance
from scgrad.core.record import GraphRecorder
from scgrad.core.runtime import Message, find, plain_draw
from scgrad.diagnostics import substitution
from scgrad.estimators.defaults import builtin_default

@dataclass
class Audit:
    """What :func:`audit` found.

    Attributes:
        findings: contract breaks that bias the gradient, each naming node, target, dims and fix.
        notes: informational findings (variance, not bias) and what could not be checked.
        checked: per node audited, how many of its elements were changed (``(tried, total)``).
        replays: whether a re-run with every node held reproduced the costs; if not, nothing was audited.
        runs: how many times the program ran.
    """

    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    checked: dict = field(default_factory=dict)
    replays: bool = True
    runs: int = 0

    @property
    def ok(self) -> bool:
        """``False`` only when a finding biases a gradient (notes leave it ``True``)."""
        return not self.findings

    def __str__(self) -> str:
        if not self.replays:
            return "audit: not audited: " + " ".join(self.notes)
        head = "audit: ok" if self.ok else f"audit: {len(self.findings)} finding(s) that bias the gradient"
        tried = ", ".join(f"{name} {done}/{total}" for name, (done, total) in self.checked.items()) or "no node"
        lines = [f"{head} (elements changed per node: {tried}; {self.runs} runs)"]
        lines += [f"- {finding}" for finding in self.findings]
        lines += [f"- note: {note}" for note in self.notes]
        return "\n".join(lines)


class _PlainRecorder(GraphRecorder):
    """Records a run as ``surrogate`` would (provenance included), each node drawn plainly, no estimator run."""

    direct = False

    def __init__(self, track_provenance: bool = False):
        super().__init__(builtin_default, track_provenance)

    def draw(self, msg: Message) -> torch.Tensor:
        node = self._node(msg.name, msg.fn, msg.estimator, msg.num_samples)
        node.state["outcome"] = plain_draw(msg.fn, msg.num_samples)
        node.value = node.estimator.present(node.dist, node.state["outcome"])
        msg.info["node"] = node
        return node.value


def audit(program, *args, max_runs: int = 64, draws: int = 3, every_node: bool = False, **kwargs) -> Audit:
    """Check ``program(*args, **kwargs)`` against the contract the surrogate relies on.

    Each node whose estimator credits cost elements through its log-probability (score-function
    estimators, control variates, enumeration; not ``Reparam`` and the relaxations, whose gradient is
    pathwise) has elements (or draws) changed one at a time, to another outcome (a discrete node) or a
    fresh draw (a continuous one), every other node held; a change in a cost element, or in a later
    node's log-probability, that the surrogate does not credit to that element is a finding. Whether a
    change shows can depend on the other elements' values (``b * b.flip(-1)`` moves only where the partner
    is 1), so this is done at ``draws`` base points, each a fresh run of the program. Up to ``max_runs``
    runs in all, shared among the base points and nodes (elements spread evenly over each node);
    :attr:`Audit.checked` says how many elements of each node were changed. ``every_node``: check the pathwise nodes too
    (``diagnose`` and ``compare`` do: they try score-function estimators on every node). Leaves parameters'
    ``.grad``, the estimators' state and torch's random state as they were. The program must have no side
    effects outside scgrad.
    """
    state = torch.random.get_rng_state()
    try:
        with torch.no_grad():
            return _audit(program, args, kwargs, max_runs, every_node, draws)
    finally:
        torch.random.set_rng_state(state)


def _run(program, args, kwargs, values=None, tracked=False) -> Graph:
    recorder = _PlainRecorder(track_provenance=tracked)
    if values is None:
        with recorder:
            program(*args, **kwargs)
    else:
        with recorder, substitute(values, check_support=False):
            program(*args, **kwargs)
    return recorder.graph


def _audit(program, args, kwargs, max_runs: int, every_node: bool, draws: int) -> Audit:
    tracked = find(provenance) is not None
    result = Audit()
    graph = _run(program, args, kwargs, tracked=tracked)
    again = _run(program, args, kwargs, {name: node.value for name, node in graph.nodes.items()})
    result.runs = 2
    if not _same_costs(graph, again):
        result.replays = False
        result.notes.append(
            "a re-run with every node held at its recorded value gave other costs, so the program does not replay "
            "(randomness outside scgrad, an unseeded environment, state changed between runs); seed it, or make the "
            "randomness a scgrad.sample node."
        )
        return result
    seen: dict[str, tuple[Node, Graph]] = {}  # every node met at any base point, as first met, and its run
    broken: dict[tuple, list] = {}  # (node name, kind, target label, shape) -> [(element, where), ...]
    changed: dict[str, set] = {}  # node name -> labels of the targets that changed with it
    tried: dict[str, set] = {}  # node name -> elements changed
    remaining = max_runs - 2
    for point in range(draws):
        if point:
            if remaining < 2:
                break
            graph = _run(program, args, kwargs, tracked=tracked)  # another draw of every node: a new base point
            remaining -= 1
            result.runs += 1
        held = {name: node.value for name, node in graph.nodes.items()}
        for name, node in graph.nodes.items():
            seen.setdefault(name, (node, graph))
        audited = [node for node in graph.nodes.values() if every_node or not node.estimator.pathwise]
        allowance = remaining // (draws - point)
        for position, node in enumerate(audited):
            elements = substitution.elements(node, allowance // (len(audited) - position), point)
            allowance -= len(elements)
            remaining -= len(elements)
            for element in elements:
                value = substitution.changed(node, element)
                if value is None:
                    continue
                rerun = _run(program, args, kwargs, {**held, node.name: value})
                result.runs += 1
                tried.setdefault(node.name, set()).add(element)
                changed.setdefault(node.name, set()).update(_compare(graph, rerun, node, element, broken))
    for node, _ in seen.values():
        if node.name in tried or every_node or not node.estimator.pathwise:
            result.checked[node.name] = (len(tried.get(node.name, ())), substitution.count(node))
    for (name, *key), cases in broken.items():
        result.findings.append(_finding(seen[name][0], tuple(key), cases, len(tried[name])))
    for name, elements in tried.items():
        node, run = seen[name]
        _note_unused(run, node, changed.get(name, set()), elements, result)
    return result


def _same_costs(first: Graph, second: Graph) -> bool:
    if list(first.costs) != list(second.costs):
        return False
    return all(
        a.value.shape == b.value.shape and not bool(substitution.moved(a.value, b.value).any())
        for a, b in zip(first.costs.values(), second.costs.values())
    )


def _compare(graph: Graph, rerun: Graph, node: Node, element: tuple, broken: dict) -> set[str]:
    """Note in ``broken`` the targets that changed with ``element`` of ``node`` where the surrogate does not
    credit it; return the labels of every target that changed."""
    changed = set()
    node_shape = substitution.element_shape(node)
    targets = [(f"cost {name!r}", site, rerun.costs.get(name)) for name, site in graph.costs.items()]
    later = [other for other in graph.nodes.values() if other.order > node.order]
    targets += [(f"the log-prob of node {other.name!r}", other, rerun.nodes.get(other.name)) for other in later]
    for label, original, again in targets:
        before, after = _values(original), _values(again)
        if after is None or before.shape != after.shape:
            continue
        moved = substitution.moved(before, after)
        if not bool(moved.any()):
            continue
        changed.add(label)
        if not graph.precise(node) and original.order < node.order:
            continue  # recorded before the node: a replay artefact, not a dependency
        if graph.precise(node) and node.name not in (original.upstream or ()):
            broken.setdefault((node.name, "untracked", label, tuple(before.shape)), []).append((element, None))
            continue
        outside = moved & ~substitution.credited(before.shape, node_shape, element)
        if bool(outside.any()):
            where = tuple(int(i) for i in outside.nonzero()[0])
            broken.setdefault((node.name, "mixed", label, tuple(before.shape)), []).append((element, where))
    return changed


def _finding(node: Node, key: tuple, cases: list, tried: int) -> str:
    """One finding for a target of ``node``: the first case, and how many of the elements tried broke it (an element
    tried at several base points counts once)."""
    kind, label, shape = key
    element, where = cases[0]
    more = f" ({len({case for case, _ in cases})} of the {tried} elements tried do so)"
    if kind == "untracked":
        return (
            f"{label} changes when element {element} of node {node.name!r} changes{more}, but its tracked "
            f"dependencies omit {node.name!r}: the value reached it in a way torch's __torch_function__ does not see "
            f"(an in-place write through an older view, raw storage, C++ code), and its gradient misses that "
            f"dependency. Compute it with torch operations, or leave out scgrad.provenance() (time order)."
        )
    return (
        f"{label} (shape {shape}) changes at element {where} when element {element} of node {node.name!r} "
        f"(elements {tuple(substitution.element_shape(node))}) changes{more}, but the surrogate credits each of its elements only to "
        f"the node's elements that line up with it (dims aligned from the right): it mixes the node's elements or "
        f"draws across the dims involved, which biases {type(node.estimator).__name__}'s gradient. Keep one element "
        f"per node element; declare dims that belong together one event (D.Independent(dist, n), summing event dims "
        f"only); reshape rather than mix dims (e.g. z @ M over a batch dim); combine draws only with an estimator made "
        f"for it (VIMCO); or give {node.name!r} a pathwise estimator."
    )


def _values(target):
    if target is None:
        return None
    if isinstance(target, Node):
        return target.log_prob.detach()
    return target.value.detach()


def _note_unused(graph: Graph, node: Node, changed: set, elements: list, result: Audit) -> None:
    """Note the costs credited to ``node`` by time order that did not change with any element tried."""
    if graph.precise(node) or not elements:
        return
    unused = [name for name, site in graph.costs.items() if site.order > node.order and f"cost {name!r}" not in changed]
    if unused:
        result.notes.append(
            f"cost(s) {unused} are recorded after node {node.name!r}, so the surrogate credits them to it (time order), "
            f"but none changed when {len(elements)} of its elements changed: credit without dependency adds variance, "
            f"not bias. Record them before sampling {node.name!r}, or run under scgrad.provenance()."
        )
