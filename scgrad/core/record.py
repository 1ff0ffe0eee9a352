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

    def __init__(self, track_provenance: bool = False):
        self.graph = Graph()
        self.layout = Layout()
        self.track_provenance = track_provenance
        self._order = 0

    def process(self, msg: Message) -> None:
        if msg.kind == "sample":
            if msg.name in self.graph.nodes:
                raise ScgradError(
                    f"node name {msg.name!r} is used twice in one program; give each scgrad.sample "
                    f"call its own name (e.g. f'{msg.name}_{{t}}' inside a loop)."
                )
            msg.draw = self.draw
        elif msg.name in self.graph.costs:
            raise ScgradError(
                f"cost name {msg.name!r} is used twice in one program; give each scgrad.cost call "
                f"its own name (e.g. f'{msg.name}_{{t}}' inside a loop)."
            )

    def draw(self, msg: Message) -> torch.Tensor:
        node = self._node(msg)
        node.value = node.estimator.draw(node, self.layout)
        msg.info["node"] = node
        return node.value

    def postprocess(self, msg: Message) -> None:
        # Records either kind inline, without helper calls: this runs for every sample and cost of every step.
        if msg.kind == "sample":
            node = msg.info.get("node")
            if node is None:  # the value was substituted, not drawn
                node = self._node(msg)
                node.value = msg.value
            self.layout.observe(len(node.dist.batch_shape) + (node.num_samples is not None))
            self.graph.nodes[node.name] = node
            if self.track_provenance:
                msg.value = ProvenanceTensor(strip(node.value), node.upstream | {node.name})
            return
        value = msg.value
        upstream = provenance_of(value) if self.track_provenance else None
        value = strip(value)
        self.layout.observe(value.dim())
        self.graph.costs[msg.name] = CostSite(msg.name, value, self._order, upstream)
        self._order += 1

    def _node(self, msg: Message) -> Node:
        dist = msg.fn
        estimator = builtin_default(dist) if msg.estimator is None else msg.estimator
        if not isinstance(estimator, Estimator):
            raise ScgradError(
                f"node {msg.name!r}: the estimator must be an scgrad estimator such as "
                f"scgrad.ScoreFunction() or scgrad.Reparam(); got {type(estimator).__name__}."
            )
        estimator.check(msg.name, dist)
        node = Node(msg.name, dist, estimator, msg.num_samples, self._order)
        self._order += 1
        if msg.num_samples is not None:
            node.sample_dim = -(len(dist.batch_shape) + 1)
            self.layout.check_sample_dim(msg.name, node.sample_dim, dist.batch_shape)
        if self.track_provenance:
            node.upstream = provenance_of(dist)
        return node
