"""The one exception type scgrad raises for input it cannot handle."""


class ScgradError(ValueError):
    """Bad input to scgrad: the message names the node or cost, the shapes and the fix.

    A ``ValueError`` subclass, so code that already catches ``ValueError`` keeps working.
    """


class CombinedDrawsError(ScgradError):
    """A cost sums over batch elements (or draws) that an enumerated node lays out on one shared dim."""
