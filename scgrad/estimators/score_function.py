"""The score-function (REINFORCE, likelihood-ratio) estimator."""

from __future__ import annotations

from scgrad.baselines.base import Baseline
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts


class ScoreFunction(Estimator):
    """Score-function gradient, optionally with a baseline.

    Approximates: ``d/dθ E_{z~p_θ}[f(z)]``.
    With: ``(f(z) - b) d/dθ log p_θ(z)``, built as a DiCE term so that derivatives of every order are
    estimated; ``b`` is the baseline's prediction of the downstream cost.
    Requires: ``log_prob`` differentiable in θ; nothing of ``f`` (any cost, even a black box).
    Bias: none, as long as the baseline does not depend on the sample it is used with (every
    scgrad baseline guarantees it).
    Paper: Williams 1992; Schulman et al. 2015; Foerster et al. 2018 (DiCE); Mao et al. 2019 (baselines).

    Args:
        baseline: a :mod:`scgrad.baselines` module (``MovingAverage()``, ``BatchAverage()``,
            ``LeaveOneOut()``, ``Critic(net).given(x)``), or ``None``.
    """

    batches_log_probs = True

    def __init__(self, baseline=None):
        super().__init__()
        if baseline is not None and not isinstance(baseline, Baseline):
            raise ScgradError(
                f"ScoreFunction(baseline=...) takes an scgrad baseline such as scgrad.MovingAverage(); "
                f"got {type(baseline).__name__}."
            )
        self.baseline = baseline

    # ``self._modules.get("baseline")`` is ``self.baseline`` (``None`` when there is none) without
    # ``nn.Module.__getattr__``'s search, which these per-step questions would otherwise pay each time.

    @property
    def needs_downstream(self) -> bool:
        return self._modules.get("baseline") is not None

    @property
    def wants_dependencies(self) -> bool:
        baseline = self._modules.get("baseline")
        return baseline is not None and baseline.needs_independence

    def parts(self, node, downstream):
        score = node.log_prob
        baseline = self._modules.get("baseline")
        if baseline is None:
            return Parts(score=score)
        prediction = baseline(node, downstream)
        return Parts(score=score, baseline=prediction.value, aux_loss=prediction.loss, update=prediction.update)
