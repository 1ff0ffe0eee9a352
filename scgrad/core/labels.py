"""Whose outcomes each dim holds: the labels under which enumerated tensors are contracted.

A dim of a log-probability or cost is either a batch dim, shared by position with every other
tensor, or an enumerated node's outcomes. Without :func:`scgrad.markov` each enumeration position
belongs to one node, and the position says whose outcomes lie there. Inside a markov loop a position
holds several nodes' outcomes in turn; a tensor's :class:`Outcomes` marks say
which of them it varies along, and a tensor that varies along two of them is refused: summing their
outcomes as one would give a wrong number.
"""

from __future__ import annotations

from typing import NamedTuple

from scgrad.errors import ScgradError


class Outcomes(NamedTuple):
    """A provenance entry: the tensor varies along the dim of the named node's enumerated outcomes.

    The recorder adds it to the values of nodes enumerated inside :func:`scgrad.markov`, where one dim holds
    the outcomes of several nodes in turn: it tells the combiner whose outcomes a tensor's dim holds.
    """

    node: str


def outcome_marks(names) -> frozenset:
    """The nodes whose enumerated outcomes a tensor with provenance ``names`` varies along (its :class:`Outcomes`)."""
    return frozenset(name.node for name in names or () if isinstance(name, Outcomes))


Label = tuple  # (position, owner): owner is the node whose outcomes the dim holds, None for a batch dim


class DimLabels:
    """Labels the dims of the tensors of one recorded graph (see the module's docstring).

    ``recycled``: some position holds the outcomes of more than one node (a markov loop reused it).
    """

    def __init__(self, nodes):
        self.owners: dict[int, list[str]] = {}
        for node in nodes:
            for dim in node.enum_dims:
                self.owners.setdefault(dim, []).append(node.name)
        self.recycled = any(len(names) > 1 for names in self.owners.values())

    def of(self, shape, marks: frozenset, label: str) -> tuple[Label, ...]:
        """One label per dim of ``shape`` (positions ``-len(shape)`` to ``-1``); size-1 dims are batch dims.

        ``marks`` names the nodes whose outcomes the tensor may vary along (read only where a position is
        shared); ``label`` names the tensor in errors.
        """
        labels = []
        for dim in range(-len(shape), 0):
            owners = self.owners.get(dim)
            if owners is None or shape[dim] == 1:
                labels.append((dim, None))
            elif len(owners) == 1:
                labels.append((dim, owners[0]))
            else:
                labels.append((dim, self._owner(dim, owners, marks, shape, label)))
        return tuple(labels)

    @staticmethod
    def _owner(dim: int, owners: list, marks: frozenset, shape, label: str) -> str:
        carried = [name for name in owners if name in marks]
        if len(carried) == 1:
            return carried[0]
        if carried:
            raise ScgradError(
                f"{label} (shape {tuple(shape)}) is computed from enumerated nodes {carried}, whose outcomes share dim "
                f"{dim} under scgrad.markov: a later step reused the dim of a step that this tensor still combines "
                f"with it, and summing them as one would give a wrong number. Raise the loop's history "
                f"(scgrad.markov(steps, history=k) for a step that reaches k steps back), or record the cost "
                f"within the steps it depends on. (A baseline or control variate of a node inside the loop sums the "
                f"costs of later steps: use ScoreFunction() without one there.)"
            )
        raise ScgradError(
            f"{label} (shape {tuple(shape)}) varies along dim {dim}, which holds the outcomes of enumerated nodes "
            f"{owners} in turn under scgrad.markov, but it carries no trace of which: its value left torch, or was "
            f"computed while torch.compile traced. Keep the computation in torch, or run the loop without "
            f"scgrad.markov."
        )
