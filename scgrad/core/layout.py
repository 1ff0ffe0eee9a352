"""Where new batch dimensions go: enumeration dims to the left of every dim in use."""

from __future__ import annotations

from scgrad.errors import ScgradError


MAX_DEPTH = 56
"""The most batch dims (sample, plate and enumeration dims) a program may use: torch's 64, less room for events."""


class Layout:
    """Allocates enumeration dimensions and refuses sample dimensions that would collide with them.

    Positions are negative and counted from the right of the batch dims (log-prob and cost shape).
    ``depth`` is the number of batch dims used so far by any node or cost.
    """

    def __init__(self):
        self.depth = 0
        self.enum_dims: dict[int, str] = {}
        self.sizes: dict[int, int] = {}

    def observe(self, rank: int) -> None:
        """Note that a tensor with ``rank`` batch dims exists."""
        self.depth = max(self.depth, rank)

    def allocate(self, name: str, count: int, own_rank: int, size: int) -> tuple[int, ...]:
        """Return ``count`` fresh positions for node ``name``'s ``size`` outcomes, left of everything in use."""
        self.observe(own_rank)
        if self.depth + count > MAX_DEPTH:
            raise ScgradError(
                f"node {name!r}: enumerating it needs {count} more batch dim(s) beside the {self.depth} in use "
                f"(each enumerated node's outcomes lie on a dim of their own, left of every dim in use), and a "
                f"torch tensor holds at most 64 dims, events included (the limit here is {MAX_DEPTH} batch dims). "
                f"Enumerate fewer nodes: estimate some with ScoreFunction() or a relaxation, or write a long chain "
                f"with its steps on one batch dim (a vectorised forward algorithm) instead of one node per step."
            )
        dims = tuple(-(self.depth + 1 + i) for i in range(count))
        for dim in dims:
            self.enum_dims[dim] = name
            self.sizes[dim] = size
        self.depth += count
        return dims

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

    def check_batch(self, name: str, batch_shape) -> None:
        """Refuse a distribution whose batch dims put another size on an enumerated node's outcome dim."""
        for dim, owner in self.enum_dims.items():
            if len(batch_shape) >= -dim and batch_shape[dim] not in (1, self.sizes[dim]):
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
        if len(shape) <= self.depth:
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
