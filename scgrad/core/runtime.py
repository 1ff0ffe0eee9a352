"""The handler stack: how ``sample`` and ``cost`` messages reach the handlers in force.

A primitive builds a :class:`Message` and hands it to :func:`apply_stack`. Handlers are
context managers; the innermost sees a message first, and one that sets ``stop`` hides it
from the handlers outside it. The stack is the only module-level mutable state in scgrad,
and a handler always leaves it on exit, exceptions and interrupts included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_STACK: list["Handler"] = []


@dataclass(eq=False, slots=True)
class Message:
    """One call of a primitive on its way through the handlers.

    ``kind`` is ``"sample"`` or ``"cost"``; ``value`` is filled by a handler or, for a sample, by
    ``draw(msg)`` (a plain draw when no handler set ``draw``); ``stop`` hides the message from
    outer handlers.
    """

    kind: str
    name: str
    fn: Any = None
    value: Any = None
    estimator: Any = None
    num_samples: int | None = None
    draw: Any = None
    stop: bool = False
    info: dict = field(default_factory=dict)


class Handler:
    """Base of every handler: a context manager that pushes itself on the stack.

    Subclasses override :meth:`process` (before the value exists, innermost first) and
    :meth:`postprocess` (after, outermost first). A subclass that sets ``direct = True`` also
    implements ``sample_directly(name, dist, estimator, num_samples)`` and ``cost_directly(name,
    value)``, which do all it would do to a message; primitives call them, without a
    :class:`Message`, while that handler is alone on the stack.
    """

    direct = False

    def __enter__(self):
        _STACK.append(self)
        return self

    def __exit__(self, *exc_info):
        # Remove this handler and anything a misbehaving program left above it.
        if self in _STACK:
            del _STACK[_STACK.index(self):]
        return False

    def process(self, msg: Message) -> None:
        """See or change ``msg`` before its value is drawn."""

    def postprocess(self, msg: Message) -> None:
        """See ``msg`` once its value is drawn."""


def active() -> bool:
    """Whether any handler is in force (outside them, primitives take a fast path)."""
    return bool(_STACK)


def direct_handler() -> Handler | None:
    """The handler in force when it is the only one and takes primitives directly (``direct``), else ``None``."""
    if len(_STACK) == 1 and _STACK[0].direct:
        return _STACK[0]
    return None


def find(kind: type) -> Handler | None:
    """The innermost handler of type ``kind`` on the stack, or ``None``."""
    for handler in reversed(_STACK):
        if isinstance(handler, kind):
            return handler
    return None


def handlers():
    """The handlers in force, innermost first."""
    return reversed(_STACK)


def apply_stack(msg: Message) -> Message:
    """Send ``msg`` through the handlers, innermost first, and draw a value if none did."""
    reached = 0
    for handler in reversed(_STACK):
        reached += 1
        handler.process(msg)
        if msg.stop:
            break
    if msg.value is None and msg.kind == "sample":
        msg.value = msg.draw(msg) if msg.draw is not None else plain_draw(msg.fn, msg.num_samples)
    for handler in _STACK[len(_STACK) - reached:]:
        handler.postprocess(msg)
    return msg


def plain_draw(dist, num_samples: int | None):
    """Draw without gradient, as ``sample`` does outside ``surrogate``."""
    shape = () if num_samples is None else (num_samples,)
    return dist.sample(shape)
