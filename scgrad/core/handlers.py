"""Small handlers over the stack: substitute a value, hide messages, override estimators."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch

from scgrad.core.runtime import Handler, Message
from scgrad.errors import ScgradError


class substitute(Handler):
    """Give named nodes fixed values instead of drawing them.

    Used to re-run a program with a node's value replaced (an estimator re-evaluating a cost at
    another point) and to compare gradients at fixed samples. The value must lie in the node's
    support; a value outside it is refused with the node's name, unless ``check_support=False``
    (an estimator evaluating a cost at a relaxed value). While ``torch.compile`` traces, the check is
    skipped, as torch.compile skips ``torch.distributions``' own validation: reading a tensor's value in
    Python would break the graph.
    """

    def __init__(self, values: Mapping[str, torch.Tensor], check_support: bool = True):
        self.values = dict(values)
        self.check_support = check_support

    def process(self, msg: Message) -> None:
        if msg.kind != "sample" or msg.name not in self.values:
            return
        value = self.values[msg.name]
        support = msg.fn.support
        check = self.check_support and support is not None and not torch.compiler.is_compiling()
        if check and not bool(support.check(value).all()):
            raise ScgradError(
                f"substitute: the value given for node {msg.name!r} lies outside the support of its "
                f"{type(msg.fn).__name__} ({support}); pass a value the distribution can produce."
            )
        msg.value = value


class block(Handler):
    """Hide messages from the handlers outside this one.

    ``hide`` lists names to hide (default: all); ``expose`` lists names to let through.
    """

    def __init__(self, hide: Iterable[str] | None = None, expose: Iterable[str] = ()):
        self.hide = None if hide is None else set(hide)
        self.expose = set(expose)

    def process(self, msg: Message) -> None:
        if msg.name in self.expose:
            return
        if self.hide is None or msg.name in self.hide:
            msg.stop = True


class override_estimators(Handler):
    """Replace the estimator of every node for which ``choose(name, dist)`` returns one.

    ``choose`` returns an estimator, or ``None`` to keep the node's own.
    """

    def __init__(self, choose: Callable[[str, torch.distributions.Distribution], object]):
        self.choose = choose

    def process(self, msg: Message) -> None:
        if msg.kind == "sample":
            chosen = self.choose(msg.name, msg.fn)
            if chosen is not None:
                msg.estimator = chosen
