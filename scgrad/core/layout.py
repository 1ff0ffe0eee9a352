"""Where new batch dimensions go: enumeration dims to the left of every dim in use."""

from __future__ import annotations

from scgrad.errors import ScgradError


MAX_DEPTH = 56
"""The most batch dims (sample, plate and enumeration dims) a program may use: torch's 64, less room for events."""


class Layout:
    """Allocates enumeration dimensions and refuses sample dimensions that would collide with them.

    Positions are negative and counted from the right of the batch dims (log-prob and cost shape).
    ``depth`` is the number of batch dims used so far by any node or cost. ``enum_dims`` and ``sizes``
    give each position's current owner and its number of outcomes. Inside a :func:`scgrad.markov` loop,
    a step reuses the positions of the step ``history + 1`` before it (see :meth:`allocate`);
    ``framed`` names the nodes enumerated in such a step.
    """

    def __init__(self):
        self.depth = 0
        self.enum_dims: dict[int, str] = {}
        self.sizes: dict[int, int] = {}
        self.framed: set[str] = set()
        self._loops: list[MarkovLoop] = []
        self.looped = False

    def open_loop(self, history: int) -> "MarkovLoop":
        """Start a :func:`scgrad.markov` loop whose steps depend on the ``history`` steps before them."""
        loop = MarkovLoop(history)
        self._loops.append(loop)
        self.looped = True
        return loop

    def close_loop(self, loop: "MarkovLoop") -> None:
        """End ``loop`` (and any loop opened inside it and left open)."""
        if loop in self._loops:
            del self._loops[self._loops.index(loop):]

    def observe(self, rank: int) -> None:
        """Note that a tensor with ``rank`` batch dims exists."""
        self.depth = max(self.depth, rank)

    def allocate(self, name: str, count: int, batch_shape, sampled: bool, size: int) -> tuple[int, ...]:
        """Return ``count`` positions for the ``size`` outcomes of node ``name`` (``batch_shape``, and a
        ``num_samples`` dim left of it where ``sampled``).

        Fresh positions lie left of everything in use. In a step of a markov loop, a node with one
        position takes one of the step ``history + 1`` before, if one is free where its distribution has
        size 1 or no dim: that step's nodes no longer take part, as the loop's user promised.
        """
        rank = len(batch_shape) + sampled
        self.observe(rank)
        loop = self._loops[-1] if self._loops else None
        reused = []
        if loop is not None and count == 1:
            reused = loop.reuse(lambda dim: -dim > rank or (-dim <= len(batch_shape) and batch_shape[dim] == 1))
        count -= len(reused)
        if self.depth + count > MAX_DEPTH:
            raise ScgradError(
                f"node {name!r}: enumerating it needs {count} more batch dim(s) beside the {self.depth} in use "
                f"(each enumerated node's outcomes lie on a dim of their own, left of every dim in use), and a "
                f"torch tensor holds at most 64 dims, events included (the limit here is {MAX_DEPTH} batch dims). "
                f"For a chain or HMM written as a loop, iterate with scgrad.markov(steps, history=k) (each step "
                f"depending on the k before it), whose steps reuse the dims of steps left behind. Otherwise "
                f"enumerate fewer nodes: estimate some with ScoreFunction() or a relaxation."
            )
        dims = tuple(reused) + tuple(-(self.depth + 1 + i) for i in range(count))
        for dim in dims:
            self.enum_dims[dim] = name
            self.sizes[dim] = size
        self.depth += count
        if loop is not None:
            loop.taken(dims)
            self.framed.add(name)
        return dims

    def check_node(self, name: str, batch_shape, sample_dim: int | None, upstream: frozenset | None) -> None:
        """A new node's checks against the enumerated nodes' outcome dims: :meth:`check_batch`, :meth:`check_extent`
        and, where it has a ``num_samples`` dim at ``sample_dim``, :meth:`check_sample_dim` (nothing to check while
        no node is enumerated). ``upstream``: the provenance of its distribution, ``None`` where it is not tracked."""
        if not self.enum_dims:
            return
        self.check_batch(name, batch_shape, upstream)
        self.check_extent("node", name, batch_shape)
        if sample_dim is not None:
            self.check_sample_dim(name, sample_dim, batch_shape)

    def check_sample_dim(self, name: str, position: int, batch_shape) -> None:
        """Refuse a ``num_samples`` dim that would land on another node's enumeration dim."""
        owner = self.enum_dims.get(position)
        if owner is not None:
            raise ScgradError(
                f"node {name!r}: its num_samples dim would sit at batch position {position}, where "
                f"enumerated node {owner!r} keeps its support (distribution batch shape "
                f"{tuple(batch_shape)}). Sample {name!r} before {owner!r}, or give its distribution "
                f"leading size-1 batch dims (dist.expand(...)) so the sample dim lands further left."
            )

    def check_batch(self, name: str, batch_shape, upstream: frozenset | None = None) -> None:
        """Refuse a distribution whose batch dims put another size on an enumerated node's outcome dim, or (where
        ``upstream``, its provenance, is known) the outcomes' size without being computed from that node: a batch
        dim of its own that lines up with the outcomes by chance, whose elements would be weighted as outcomes."""
        for dim, owner in self.enum_dims.items():
            if len(batch_shape) < -dim or batch_shape[dim] == 1:
                continue
            if batch_shape[dim] == self.sizes[dim]:
                if upstream is not None and owner not in upstream and not self.looped:
                    raise ScgradError(
                        f"node {name!r}: its distribution has batch shape {tuple(batch_shape)}, of size "
                        f"{batch_shape[dim]} at dim {dim}, where enumerated node {owner!r} keeps its "
                        f"{self.sizes[dim]} outcomes, but it is not computed from {owner!r}: that batch dim of its "
                        f"own lines up with {owner!r}'s outcomes (Enumerate lays them on the first dim left of the "
                        f"batch dims in use when it draws the node), and its elements would be taken for "
                        f"{owner!r}'s outcomes: a wrong number. Draw {owner!r} from a distribution with leading size-1 "
                        f"batch dims, {len(batch_shape)} batch dims in all as {name!r} has (dist.expand([1, ..., "
                        f"*dist.batch_shape])), so that its outcomes lie left of them; or draw {name!r} before {owner!r}. "
                        f"If its parameters were made in the shape of a value (torch.zeros(v.shape)), make them from the "
                        f"value itself (torch.zeros_like(v), x.expand_as(v)), so that they are seen to be computed from it."
                    )
                continue
            raise ScgradError(
                f"node {name!r}: its distribution has batch shape {tuple(batch_shape)}, of size "
                f"{batch_shape[dim]} at dim {dim}, where enumerated node {owner!r} keeps its "
                f"{self.sizes[dim]} outcomes. Enumerate lays a node's outcomes on the first dim left of the "
                f"batch dims in use when it is drawn ({dim}); indexing with its value (W[{owner}]) moves "
                f"them one dim further left, so a batch drawn later lands on them. Draw {owner!r} with as "
                f"many batch dims of size 1 as {name!r} has batch dims (dist.expand("
                f"{[1] * max(1, len(batch_shape) - 1)}) here), and index with those dropped: W[{owner}[..., 0]] for one "
                f"batch dim."
            )

    def check_extent(self, kind: str, name: str, shape) -> None:
        """Refuse a tensor that varies along an enumerated node's outcome dim and has batch dims left of it.

        Enumeration dims lie left of every dim in use when they are allocated, so a tensor with more dims
        than are in use, of the outcomes' size on an outcome dim, moved those outcomes (``W[g]`` puts
        them left of ``W``'s dims) and a batch took their place: its sizes match by chance, and summing
        the dim as the node's outcomes would give a wrong number.
        """
        if not self.enum_dims or len(shape) <= self.depth:
            return
        for dim, owner in self.enum_dims.items():
            if self.sizes[dim] > 1 and shape[dim] == self.sizes[dim]:
                raise ScgradError(
                    f"{kind} {name!r} has shape {tuple(shape)}: more dims than the {self.depth} in use, and at dim "
                    f"{dim}, where enumerated node {owner!r} keeps its {self.sizes[dim]} outcomes, a dim of that "
                    f"size. Indexing with an enumerated value (W[{owner}]) moves its outcomes one dim left, and a "
                    f"batch that takes their place is summed as {owner!r}'s outcomes: a wrong number. Draw "
                    f"{owner!r} with a size-1 batch dim per batch dim below it (dist.expand([1])), and index with "
                    f"those dropped (W[{owner}[..., 0]])."
                )


class MarkovLoop:
    """The enumeration positions each step of one :func:`scgrad.markov` loop took, for later steps to reuse."""

    def __init__(self, history: int):
        self.history = history
        self.step = 0
        self._dims: dict[int, list[int]] = {}

    def reuse(self, fits) -> list[int]:
        """A position of the step ``history + 1`` back for which ``fits(position)``, taken off its list (or none)."""
        free = self._dims.get(self.step - self.history - 1, [])
        for dim in free:
            if fits(dim):
                free.remove(dim)
                return [dim]
        return []

    def taken(self, dims) -> None:
        """Note that the current step took ``dims``."""
        self._dims.setdefault(self.step, []).extend(dims)
