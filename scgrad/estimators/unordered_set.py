"""The unordered set estimator: k distinct outcomes drawn without replacement, weighted exactly."""

from __future__ import annotations

import torch
import torch.distributions as D

from scgrad.core.graph import Node
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator, Parts
from scgrad.estimators.components import refuse_enumerated_upstream


class UnorderedSet(Estimator):
    """Sampling without replacement (Gumbel-top-k), with the unordered set estimator and its built-in baseline.

    Approximates: ``d/dθ E_{x~p_θ}[f(x)]`` for a categorical ``x``.
    With: ``Σ_{s∈S} ∇p_θ(s) R(S, s) (f(s) − B(S, s))`` for the set ``S`` of ``k = num_samples`` distinct
    outcomes (the top ``k`` of ``log p + Gumbel noise``), where ``R(S, s) = p^{D∖s}(S∖s) / p(S)`` is the
    leave-one-out ratio of unordered-set probabilities and the baseline
    ``B(S, s) = Σ_{s'∈S} p(s') R^{D∖s}(S, s') f(s')`` (``R^{D∖s}(S, s) = 1``) is the same estimator for the
    other draws; the set probabilities are computed exactly by a recursion over the ``2^k`` subsets of ``S``
    (``O(k 2^k)`` per set, in float64 and log space). The ``k`` draws lie on the sample dim and are weighted by
    ``p(s) R(S, s)`` (the weights sum to one) as :class:`Enumerate` weights a support, so the objective's
    estimate, every cost's pathwise gradient and the scores of nodes upstream use the unbiased weighted
    estimate ``Σ_s p(s) R(S, s) f(s)`` instead of the plain mean of dependent draws.
    Requires: a ``Categorical`` node (not ``Independent``: the set is drawn from one categorical per batch
    element) with ``2 <= num_samples <= `` the number of categories; costs that keep the sample dim and the
    batch dims (one cost per draw and data point); no enumerated node before it. First derivatives (the
    baseline term has no higher ones).
    Bias: none.
    Paper: Kool, van Hoof & Welling 2020, "Estimating gradients for discrete random variables by sampling
    without replacement" (ICLR).
    """

    first_order_only = True

    def check(self, name, dist):
        if not isinstance(dist, D.Categorical):
            raise ScgradError(
                f"node {name!r}: UnorderedSet draws distinct outcomes of one Categorical per batch element, and "
                f"this node is {type(dist).__name__}. Keep the categorical dims as batch dims (no Independent), "
                f"or use IndeCateR() or ScoreFunction()."
            )

    needs_downstream = True
    wants_dependencies = True  # its draws are summed like enumerated outcomes: costs not computed from them are not its

    def draw(self, node: Node, layout):
        self._check_count(node)
        refuse_enumerated_upstream("UnorderedSet", node, layout)
        logits = node.dist.logits.detach()
        gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp_min(torch.finfo(logits.dtype).tiny)))
        node.enum_dims = (node.sample_dim,)
        return (logits + gumbel).topk(node.num_samples, dim=-1).indices.movedim(-1, 0)

    @staticmethod
    def _check_count(node: Node) -> None:
        count, size = node.num_samples, node.dist.probs.shape[-1]
        if count is None or not 2 <= count <= size:
            raise ScgradError(
                f"node {node.name!r}: UnorderedSet draws num_samples distinct outcomes of {size} categories and "
                f"needs 2 <= num_samples <= {size}; got num_samples={count}."
            )

    def _take_given_set(self, node: Node) -> None:
        """A value not drawn here (``scgrad.substitute``): check that it is a set, then weight it as one."""
        self._check_count(node)
        ordered = node.value.sort(dim=0).values
        repeated = ordered[1:] == ordered[:-1]
        if bool(repeated.any()):
            where = tuple(repeated.nonzero()[0].tolist()[1:])
            raise ScgradError(
                f"node {node.name!r}: the value given to UnorderedSet (by scgrad.substitute) repeats an outcome "
                f"along its sample dim (value shape {tuple(node.value.shape)}, at batch index {where}); UnorderedSet "
                f"weights a set of {node.num_samples} distinct outcomes per batch element. Substitute distinct "
                f"outcomes, or let UnorderedSet draw the node."
            )
        node.enum_dims = (node.sample_dim,)

    def parts(self, node, downstream):
        if not node.enum_dims:
            self._take_given_set(node)
        shape, independent = downstream.cost.shape, downstream.independent_dims
        shared = [d for d in range(-len(shape), 0) if shape[d] > 1 and d not in independent]
        if shared:
            raise ScgradError(
                f"node {node.name!r}: a downstream cost sums over its dim(s) {shared} (log-prob shape "
                f"{tuple(shape)}), but UnorderedSet weights each draw of each batch element on its own. Keep one "
                f"cost element per draw and data point; for a multi-sample objective use ScoreFunction(VIMCO(...))."
            )
        log_p = node.log_prob
        chosen = log_p.detach().double().movedim(0, -1).exp()
        rest = node.dist.probs.detach().double().scatter(-1, node.value.movedim(0, -1), 0.0).sum(-1)
        log_all, log_one_out, log_two_out = _log_set_probabilities(chosen, rest)
        log_ratio = log_one_out - log_all.unsqueeze(-1)
        ratio = (log_two_out - log_one_out.unsqueeze(-1)).exp()
        cost = downstream.cost.detach().double().movedim(0, -1)
        baseline = (ratio * (chosen * cost).unsqueeze(-2)).sum(-1)
        coefficient = (log_ratio.exp() * baseline).movedim(-1, 0).to(log_p.dtype)
        prob = log_p.exp()
        extra = -(coefficient * (prob - prob.detach())).sum() * node.num_samples / log_p.numel()
        return Parts(enumerated=(log_p + log_ratio.movedim(-1, 0).to(log_p.dtype),), extra=extra)


def _log_set_probabilities(chosen: torch.Tensor, rest: torch.Tensor):
    """Log-probabilities that sampling without replacement yields a set, for ``S`` and its subsets.

    ``chosen[..., i]`` is ``p(s_i)`` for the ``k`` members of ``S``, ``rest`` the probability of the outcomes
    outside ``S``. ``T(A)``, the probability of drawing exactly the set ``A ⊆ S`` once ``S ∖ A`` has been drawn,
    follows from ``T(∅) = 1``, ``T(A) = Σ_{j∈A} p_j T(A ∖ j) / (rest + p(A))``; then ``p(S) = T(S)``,
    ``p^{D∖s}(S ∖ s) = T(S ∖ s)`` and ``p^{D∖{s,s'}}(S ∖ {s,s'}) = T(S ∖ {s,s'})``. Returns the logs of ``T(S)``,
    ``T(S ∖ s_i)`` (last dim ``i``) and ``T(S ∖ {s_i, s_j})`` (last dims ``i, j``; ``T(S ∖ s_i)`` on the diagonal).
    """
    k = chosen.shape[-1]
    masks = torch.arange(2**k, device=chosen.device)
    bits = ((masks.unsqueeze(-1) >> torch.arange(k, device=chosen.device)) & 1).bool()
    mass = chosen @ bits.T.to(chosen.dtype)
    log_chosen = chosen.log()
    log_t = torch.full(chosen.shape[:-1] + (2**k,), float("-inf"), dtype=chosen.dtype, device=chosen.device)
    log_t[..., 0] = 0.0
    for level in range(1, k + 1):
        members = masks[bits.sum(-1) == level]
        parents = members.unsqueeze(-1) ^ (1 << torch.arange(k, device=chosen.device))
        terms = torch.where(bits[members], log_chosen.unsqueeze(-2) + log_t[..., parents], float("-inf"))
        log_t[..., members] = terms.logsumexp(-1) - (rest.unsqueeze(-1) + mass[..., members]).log()
    full = 2**k - 1
    single = 1 << torch.arange(k, device=chosen.device)
    one_out = full ^ single
    two_out = full & ~(single.unsqueeze(-1) | single)
    return log_t[..., full], log_t[..., one_out], log_t[..., two_out]
