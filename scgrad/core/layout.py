"""Where new batch dimensions go: enumeration dims to the left of every dim in use."""

from __future__ import annotations

from scgrad.errors import ScgradError


class Layout:
    """Allocates enumeration dimensions and refuses sample dimensions that would collide with them.

    Positions are negative and counted from the right of the batch dims (log-prob and cost shape).
    ``depth`` is the number of batch dims used so far by any node or cost.
    """

    def __init__(self):
        self.depth = 0
        self.enum_dims: dict[int, str] = {}

    def observe(self, rank: int) -> None:
        """Note that a tensor with ``rank`` batch dims exists."""
        self.depth = max(self.depth, rank)

    def allocate(self, name: str, count: int, own_rank: int) -> tuple[int, ...]:
        """Return ``count`` fresh positions for node ``name``, left of everything in use."""
        self.observe(own_rank)
        dims = tuple(-(self.depth + 1 + i) for i in range(count))
        for dim in dims:
            self.enum_dims[dim] = name
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
