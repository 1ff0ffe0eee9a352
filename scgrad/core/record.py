"""The handler ``surrogate`` runs a program under: draws each node with its estimator, records it."""

from __future__ import annotations

import torch

from scgrad.core.graph import CostSite, Graph, Node
from scgrad.core.layout import Layout
from scgrad.core.collapsed import Collapsed, refuse_mixed
from scgrad.core.labels import Outcomes
from scgrad.core.outcome_dims import OutcomeDim, OutcomeTensor
from scgrad.core.provenance import ProvenanceTensor, provenance_of, strip
from scgrad.core.runtime import Handler, Message
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator


class GraphRecorder(Handler):
    """Records nodes and costs into :attr:`graph`; draws each node through its estimator.

    ``default(dist)`` gives the estimator of a node that names none (the rules live with the estimators:
    ``scgrad.estimators.defaults.builtin_default``).

    Dependencies: with ``track_provenance`` (under ``scgrad.provenance()``) every node's value carries
    its provenance and a value that leaves torch raises :class:`~scgrad.ScgradError` naming the node.
    Without it, the nodes whose estimator ``wants_dependencies`` are tracked (*probed*) all the same,
    except while ``torch.compile`` traces; a probed value that leaves torch is noted in
    ``graph.escaped`` and that node falls back to time order, which is always sound. An enumerated value
    read in Python is refused either way: the program would see every outcome at once. The value of a
    node enumerated inside :func:`scgrad.markov` also carries an :class:`~scgrad.core.labels.Outcomes`
    mark, which says whose outcomes its dim holds; from the first such loop on, every node is probed (a term
    taken in time order would combine steps the loop's dims no longer tell apart). Once a node is probed, the values of later nodes drawn from distributions that depend on it carry provenance too,
    and every later cost notes the provenance of its value.
    """

    direct = True

    def __init__(self, default, track_provenance: bool = False):
        self.default = default
        self.graph = Graph(tracked=track_provenance)
        self.layout = Layout()
        self.track_provenance = track_provenance
        self._probing = track_provenance
        self._order = 0

    def provenance_escaped(self, names: frozenset, how: str) -> None:
        """A value carrying ``names`` leaves torch (see :mod:`scgrad.core.provenance`): refuse it or note it."""
        names = frozenset(name for name in names if isinstance(name, str))  # not the Outcomes marks
        listed = ", ".join(repr(name) for name in sorted(names))
        enumerated = sorted(name for name in names if name in self.graph.nodes and self.graph.nodes[name].enum_dims)
        if enumerated:
            raise ScgradError(
                f"the value of enumerated node(s) {enumerated} is {how}; an enumerated value holds every outcome "
                f"at once (on a dim of its own), so the program cannot read it outside torch. Compute with torch "
                f"operations that count dims from the right, or give the node an estimator that draws a sample "
                f"(e.g. ScoreFunction())."
            )
        if self.track_provenance:
            raise ScgradError(
                f"under scgrad.provenance(), a value computed from node(s) {listed} is {how}, so the costs that "
                f"depend on it would lose track of those nodes and get a biased gradient. Keep the computation in "
                f"torch (torch.where instead of a Python branch, indexing with the tensor itself, building a new "
                f"tensor with torch.cat/torch.stack instead of writing into one), or leave out scgrad.provenance(): "
                f"time order (every cost depends on every node sampled before it) is always sound."
            )
        self.graph.escaped |= names

    def process(self, msg: Message) -> None:
        if msg.kind == "sample":
            self._refuse_repeated("node", msg.name, self.graph.nodes)
            msg.draw = self.draw
        else:
            self._refuse_repeated("cost", msg.name, self.graph.costs)

    def draw(self, msg: Message) -> torch.Tensor:
        node = self._node(msg.name, msg.fn, msg.estimator, msg.num_samples)
        node.value = node.estimator.draw(node, self.layout)
        msg.info["node"] = node
        return node.value

    def postprocess(self, msg: Message) -> None:
        if msg.kind == "sample":
            node = msg.info.get("node")
            if node is None:  # the value was substituted, not drawn
                node = self._node(msg.name, msg.fn, msg.estimator, msg.num_samples)
                node.value = msg.value
            msg.value = self._keep_node(node)
        else:
            self._keep_cost(msg.name, msg.value)

    def sample_directly(self, name: str, dist, estimator, num_samples) -> torch.Tensor:
        """``process``, ``draw`` and ``postprocess`` of a sample in one call, when this is the only handler.

        ``scgrad.sample`` takes this path, without a :class:`Message`, for a program run by
        ``surrogate`` alone: it runs once per random choice of every step, so the generic stack's
        per-call work shows in long episodes.
        """
        self._refuse_repeated("node", name, self.graph.nodes)
        node = self._node(name, dist, estimator, num_samples)
        node.value = node.estimator.draw(node, self.layout)
        return self._keep_node(node)

    def cost_directly(self, name: str, value: torch.Tensor) -> None:
        """``process`` and ``postprocess`` of a cost in one call, when this is the only handler."""
        self._refuse_repeated("cost", name, self.graph.costs)
        self._keep_cost(name, value)

    def _keep_node(self, node: Node) -> torch.Tensor:
        """Record a drawn (or substituted) node; return the value the program sees."""
        self.layout.observe(len(node.dist.batch_shape) + (node.num_samples is not None))
        self.graph.nodes[node.name] = node
        own = (node.name,)
        if node.collapsed:  # its value broadcasts: reductions over those dims are refused (core/collapsed)
            own += (Collapsed(node.name, node.collapsed, node.sample_dim),)
        if node.name in self.layout.framed:  # its value varies along its own outcomes only, not its parents'
            names = frozenset(name for name in node.upstream or () if not isinstance(name, Outcomes))
            return ProvenanceTensor(strip(node.value), names.union(own, (Outcomes(node.name),)))
        laid = [dim for dim in node.enum_dims if self.layout.enum_dims.get(dim) == node.name] if node.enum_dims else ()
        if laid and node.probed:  # where its outcomes lie is known: a tensor lining a dim of its own up with them is refused
            events = len(node.dist.event_shape)
            dims = tuple(OutcomeDim(dim - events, self.layout.sizes[dim], node.name) for dim in laid)
            return OutcomeTensor.of(node.value, (node.upstream or frozenset()).union(own), dims)
        if node.probed or node.upstream:
            return ProvenanceTensor(strip(node.value), node.upstream.union(own) if node.upstream else frozenset(own))
        return node.value

    def _keep_cost(self, name: str, value: torch.Tensor) -> None:
        upstream = provenance_of(value) if self._probing else None
        value = strip(value)  # first: a shape asked of a value carrying provenance goes through its torch-function hook
        refuse_mixed("cost", name, value.shape, upstream)
        self.layout.check_extent("cost", name, value.shape)
        self.layout.observe(value.dim())
        self.graph.costs[name] = CostSite(name, value, self._order, upstream)
        self._order += 1

    @staticmethod
    def _refuse_repeated(kind: str, name: str, recorded: dict) -> None:
        if name in recorded:
            call = "scgrad.sample" if kind == "node" else "scgrad.cost"
            raise ScgradError(
                f"{kind} name {name!r} is used twice in one program; give each {call} call its own name "
                f"(e.g. f'{name}_{{t}}' inside a loop)."
            )

    def _node(self, name: str, dist, estimator, num_samples) -> Node:
        if estimator is None:
            estimator = self.default(dist)
        if not isinstance(estimator, Estimator):
            raise ScgradError(
                f"node {name!r}: the estimator must be an scgrad estimator such as "
                f"scgrad.ScoreFunction() or scgrad.Reparam(); got {type(estimator).__name__}."
            )
        estimator.check(name, dist)
        sample_dim = None if num_samples is None else -(len(dist.batch_shape) + 1)
        upstream = provenance_of(dist) if self._probing else None  # before the first probed node no value carries any
        refuse_mixed("the distribution of node", name, dist.batch_shape, upstream)
        self.layout.check_node(name, dist.batch_shape, sample_dim, upstream)
        node = Node(name, dist, estimator, num_samples, self._order, sample_dim=sample_dim, upstream=upstream)
        self._order += 1
        wanted = estimator.wants_dependencies or self.layout.looped  # a markov loop's terms must know their nodes
        node.probed = self.track_provenance or (wanted and not torch.compiler.is_compiling())
        if node.probed and upstream is None:
            node.upstream = frozenset()
            self._probing = True
        return node
