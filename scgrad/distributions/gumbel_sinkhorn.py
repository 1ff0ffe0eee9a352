"""Gumbel-Sinkhorn: a relaxed distribution over permutation matrices (Mena et al. 2018)."""

from __future__ import annotations

import torch
import torch.distributions as D
from torch.distributions import constraints
from scipy.optimize import linear_sum_assignment
from torch.distributions.utils import clamp_probs

from scgrad.errors import ScgradError


def sinkhorn(log_alpha: torch.Tensor, n_iters: int) -> torch.Tensor:
    """The Sinkhorn operator: ``n_iters`` rounds of row then column normalisation, in the log domain.

    ``log_alpha`` has shape ``(..., N, N)``. Returns ``exp`` of the normalised matrix: every column sums
    to one exactly (the last step), every row to one up to a tolerance that shrinks with ``n_iters``.
    """
    for _ in range(n_iters):
        log_alpha = log_alpha - log_alpha.logsumexp(-1, keepdim=True)
        log_alpha = log_alpha - log_alpha.logsumexp(-2, keepdim=True)
    return log_alpha.exp()


def matching(scores: torch.Tensor) -> torch.Tensor:
    """The permutation matrix ``P`` maximising ``sum(P * scores)`` for each ``(N, N)`` matrix of ``scores``.

    Solved by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``); no gradient. Same shape
    and dtype as ``scores``; ``P[..., i, j] = 1`` when row ``i`` is assigned to column ``j``.
    """
    flat = scores.detach().reshape(-1, *scores.shape[-2:]).cpu().double().numpy()
    perms = torch.zeros(flat.shape, dtype=scores.dtype)
    for k, matrix in enumerate(flat):
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        perms[k, torch.from_numpy(rows), torch.from_numpy(cols)] = 1
    return perms.reshape(scores.shape).to(scores.device)


class GumbelSinkhorn(D.Distribution):
    """Relaxed permutations: ``sinkhorn((log_alpha + G) / temperature)``, ``G`` iid standard Gumbel.

    Approximates: the Gumbel-matching distribution over permutation matrices,
    ``P = matching(log_alpha + G)``, whose mode is ``matching(log_alpha)``.
    With: ``rsample()`` returns doubly-stochastic matrices (event shape ``(N, N)``; rows sum to one up to
    the Sinkhorn tolerance, columns exactly), differentiable in ``log_alpha``. With ``hard=True`` it
    returns the permutation matrix ``matching(log_alpha + G)`` of the same noise, with the soft
    matrix's gradient (straight-through).
    Requires: square ``log_alpha`` of shape ``batch_shape + (N, N)``; scipy for ``hard=True``. There is no
    ``log_prob`` (the density is intractable), so use it with a pathwise estimator: ``scgrad.sample``
    picks ``Reparam()`` for it.
    Bias: the soft sample is a relaxation, so the gradient of a cost at soft samples is biased for the
    expected cost at permutations. The bias shrinks as the temperature goes to zero (and ``n_iters``
    grows), where the soft sample tends to the hard one, while the gradient's variance grows;
    ``hard=True`` evaluates the cost at a true permutation but keeps the soft sample's gradient.
    Paper: Mena, Belanger, Linderman & Snoek 2018, "Learning latent permutations with Gumbel-Sinkhorn
    networks".

    Args:
        log_alpha: scores, row ``i`` and column ``j`` for assigning item ``i`` to position ``j``.
        temperature: positive; float or tensor (a tensor may require grad).
        n_iters: Sinkhorn iterations.
        hard: return permutation matrices with straight-through gradients.
    """

    arg_constraints = {"log_alpha": constraints.independent(constraints.real, 2)}
    support = constraints.independent(constraints.unit_interval, 2)
    has_rsample = True

    def __init__(self, log_alpha: torch.Tensor, temperature=1.0, n_iters: int = 20, hard: bool = False, validate_args=None):
        if log_alpha.dim() < 2 or log_alpha.shape[-1] != log_alpha.shape[-2]:
            raise ScgradError(
                f"GumbelSinkhorn: log_alpha must have shape batch_shape + (N, N); got {tuple(log_alpha.shape)}."
            )
        if not bool((torch.as_tensor(temperature) > 0).all()):
            raise ScgradError(f"GumbelSinkhorn: the temperature must be positive; got {temperature!r}.")
        if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 1:
            raise ScgradError(f"GumbelSinkhorn: n_iters must be a positive int; got {n_iters!r}.")
        self.log_alpha = log_alpha
        self.temperature = temperature
        self.n_iters = n_iters
        self.hard = hard
        super().__init__(log_alpha.shape[:-2], log_alpha.shape[-2:], validate_args=validate_args)

    def perturb(self, sample_shape=torch.Size()) -> torch.Tensor:
        """``log_alpha + G``: shape ``sample_shape + batch_shape + (N, N)``."""
        shape = self._extended_shape(sample_shape)
        u = clamp_probs(torch.rand(shape, dtype=self.log_alpha.dtype, device=self.log_alpha.device))
        return self.log_alpha - (-u.log()).log()

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        scores = self.perturb(sample_shape)
        soft = sinkhorn(scores / self.temperature, self.n_iters)
        if not self.hard:
            return soft
        return matching(scores) + (soft - soft.detach())
