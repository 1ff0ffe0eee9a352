"""One catalogue entry placed on a program's nodes, one estimator per node name, kept across calls."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.distributions as D

from scgrad.core.handlers import override_estimators
from scgrad.diagnostics.catalogue import Entry
from scgrad.errors import ScgradError


def sites(program, *args) -> dict[str, D.Distribution]:
    """The random choices of one plain run of ``program(*args)``: node name -> distribution."""
    found: dict[str, D.Distribution] = {}

    def note(name, dist):
        found[name] = dist
        return None

    with override_estimators(note):
        program(*args)
    return found


class Assignment:
    """The estimators of one :class:`~scgrad.diagnostics.catalogue.Entry` on the nodes of a program.

    Used as a context manager, it replaces the estimator of every node the entry applies to; the
    estimator for a node is made on first sight of its name and reused afterwards, so moving
    averages and learned parts carry over from one call to the next. Nodes the entry does not apply
    to keep their own estimator.
    """

    def __init__(self, entry: Entry):
        self.entry = entry
        self.estimators: dict[str, torch.nn.Module] = {}
        self._handler = override_estimators(self.choose)

    def choose(self, name: str, dist: D.Distribution):
        """The estimator for node ``name`` (made once), or ``None`` where the entry does not apply."""
        if not self.entry.applies(dist):
            return None
        if name not in self.estimators:
            self.estimators[name] = self.entry.make(dist)
        return self.estimators[name]

    def prepare(self, program, *args) -> None:
        """Make the estimators of every node by one plain run of ``program(*args)`` (no gradient work)."""
        with self:
            program(*args)

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """What the estimators learn (critics, control variates), for an optimiser."""
        for estimator in self.estimators.values():
            yield from estimator.parameters()

    def state_dict(self) -> dict:
        """The estimators' state (buffers and parameters) by node name."""
        return {name: estimator.state_dict() for name, estimator in self.estimators.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the estimators must have been made (see :meth:`prepare`)."""
        missing = sorted(set(state) - set(self.estimators))
        if missing:
            raise ScgradError(f"{self.entry.name}: no estimator was made for node(s) {missing}; call prepare() first.")
        for name, estimator_state in state.items():
            self.estimators[name].load_state_dict(estimator_state)

    def __enter__(self):
        self._handler.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._handler.__exit__(*exc_info)


def applicable(entry: Entry, found: dict[str, D.Distribution]) -> str | None:
    """``None`` if ``entry`` serves at least one of the nodes ``found``; else the reason it does not."""
    served = [(name, dist) for name, dist in found.items() if entry.applies(dist)]
    if not served:
        kinds = sorted({type(dist).__name__ for dist in found.values()})
        return f"meant for none of the program's distributions ({', '.join(kinds)})"
    for name, dist in served:
        try:
            entry.make(dist).check(name, dist)
        except ScgradError as error:
            return str(error)
    return None
