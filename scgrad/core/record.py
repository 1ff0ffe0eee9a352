"""The handler ``surrogate`` runs a program under: draws each node with its estimator, records it."""

from __future__ import annotations

import torch

from scgrad.core.graph import CostSite, Graph, Node
from scgrad.core.layout import Layout
from scgrad.core.provenance import ProvenanceTensor, provenance_of, strip
from scgrad.core.runtime import Handler, Message
from scgrad.errors import ScgradError
from scgrad.estimators.base import Estimator
from scgrad.estimators.defaults import builtin_default


class GraphRecorder(Handler):
    """Records nodes and costs into :attr:`graph`; draws each node through its estimator."""

    direct = True

    def __init__(self, track_provenance: bool = False):
        self.graph = Graph()
        self.layout = Layout()
        self.track_provenance = track_provenance
        self._order = 0

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
        if self.track_provenance:
            return ProvenanceTensor(strip(node.value), node.upstream | {node.name})
        return node.value

    def _keep_cost(self, name: str, value: torch.Tensor) -> None:
        upstream = provenance_of(value) if self.track_provenance else None
        value = strip(value)
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
            estimator = builtin_default(dist)
        if not isinstance(estimator, Estimator):
            raise ScgradError(
                f"node {name!r}: the estimator must be an scgrad estimator such as "
                f"scgrad.ScoreFunction() or scgrad.Reparam(); got {type(estimator).__name__}."
            )
        estimator.check(name, dist)
        node = Node(name, dist, estimator, num_samples, self._order)
        self._order += 1
        if num_samples is not None:
            node.sample_dim = -(len(dist.batch_shape) + 1)
            self.layout.check_sample_dim(name, node.sample_dim, dist.batch_shape)
        if self.track_provenance:
            node.upstream = provenance_of(dist)
        return node
