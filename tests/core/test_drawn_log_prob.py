"""A node's own sample is not checked against its support again; any other value still is, and the
distribution's argument-validation flag is left as it was."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core.graph import Node


class CountingBernoulli(D.Bernoulli):
    """A Bernoulli that counts the checks of values against its support."""

    checks = 0

    def _validate_sample(self, value):
        CountingBernoulli.checks += 1
        super()._validate_sample(value)


@pytest.mark.parametrize("validate_args", [None, True])
def test_the_drawn_value_is_not_checked_again_and_the_flag_is_restored(validate_args):
    dist = CountingBernoulli(logits=torch.zeros(5, requires_grad=True), validate_args=validate_args)
    own = dict(vars(dist)).get("_validate_args", "absent")
    CountingBernoulli.checks = 0

    def program():
        b = scgrad.sample("b", dist, scgrad.ScoreFunction(), num_samples=3)
        scgrad.cost("c", b)

    objective = scgrad.surrogate(program)
    assert CountingBernoulli.checks == 0
    assert dict(vars(dist)).get("_validate_args", "absent") == own and dist._validate_args
    node = objective.graph.nodes["b"]
    torch.testing.assert_close(node.log_prob, D.Bernoulli(logits=torch.zeros(5)).log_prob(node.value))


def test_a_value_that_is_not_the_sample_is_still_checked():
    dist = D.Bernoulli(logits=torch.zeros(2), validate_args=True)
    node = Node("b", dist, scgrad.ScoreFunction(), None, 0, value=torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="support"):
        node.log_prob
    sampled = dist.sample()
    node = Node("b", dist, scgrad.ScoreFunction(), None, 0, value=sampled.clone(), sampled=sampled)
    node.log_prob  # a copy of the sample is another tensor: checked, and valid
    assert dist._validate_args


def test_relaxed_and_substituted_values_are_checked_as_before():
    """An estimator whose value is not ``dist.sample``'s (a substituted value here) gets the full check."""
    logits = torch.zeros(3, requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits, validate_args=True), scgrad.ScoreFunction())
        scgrad.cost("c", b)

    with scgrad.substitute({"b": torch.tensor([0.0, 1.0, 0.3])}, check_support=False):
        with pytest.raises(ValueError, match="support"):
            scgrad.surrogate(program)
