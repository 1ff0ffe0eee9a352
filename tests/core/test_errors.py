"""Bad input gets a clear error naming the node or cost, the shapes and the fix."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core import runtime


def run(program, *args):
    return scgrad.surrogate(program, *args)


def expect(match, program, *args):
    with pytest.raises(scgrad.ScgradError, match=match):
        run(program, *args)
    assert not runtime._STACK


def test_reparam_on_a_discrete_distribution():
    expect(r"node 'b': Reparam needs a reparameterisable.*Bernoulli has no rsample.*ScoreFunction",
           lambda: scgrad.sample("b", D.Bernoulli(0.5), scgrad.Reparam()))


def test_enumerate_without_finite_support():
    expect(r"node 'z': Enumerate needs a distribution with finite support.*Normal",
           lambda: scgrad.sample("z", D.Normal(0.0, 1.0), scgrad.Enumerate()))


def test_shapes_that_cannot_be_aligned():
    def program():
        b = scgrad.sample("b", D.Bernoulli(torch.full((3,), 0.5)), scgrad.ScoreFunction())
        scgrad.cost("c", torch.ones(4) * b.sum())

    expect(r"log-prob of node 'b' has shape \(3,\).*cost 'c' of shape \(4,\).*Independent", program)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_cost_is_named(bad):
    def program():
        b = scgrad.sample("b", D.Bernoulli(0.5))
        scgrad.cost("fine", b)
        scgrad.cost("broken", torch.tensor([1.0, bad]) * (1 + b))

    expect(r"cost 'broken' \(shape \(2,\)\) has 1 NaN or infinite", program)


def test_zero_probability_sample_is_named():
    def program():
        logits = torch.tensor([0.0, -float("inf")], requires_grad=True)
        b = scgrad.sample("b", D.Categorical(logits=logits), scgrad.ScoreFunction())
        scgrad.cost("c", b.float())

    with pytest.raises(scgrad.ScgradError, match=r"node 'b': its log-prob has NaN or infinite"):
        with scgrad.substitute({"b": torch.tensor(1)}):
            run(program)


def test_repeated_node_and_cost_names():
    def nodes():
        scgrad.sample("x", D.Bernoulli(0.5))
        scgrad.sample("x", D.Bernoulli(0.5))

    def costs():
        scgrad.cost("c", torch.tensor(1.0))
        scgrad.cost("c", torch.tensor(1.0))

    expect(r"node name 'x' is used twice", nodes)
    expect(r"cost name 'c' is used twice", costs)


def test_leave_one_out_with_one_draw():
    def program():
        b = scgrad.sample("b", D.Bernoulli(0.5), scgrad.ScoreFunction(scgrad.LeaveOneOut()))
        scgrad.cost("c", b)

    expect(r"LeaveOneOut on node 'b' needs several draws.*num_samples=None", program)


def test_batch_average_with_no_independent_element():
    def program():
        b = scgrad.sample("b", D.Bernoulli(torch.full((3,), 0.5)), scgrad.ScoreFunction(scgrad.BatchAverage()))
        scgrad.cost("c", b.sum())

    expect(r"BatchAverage on node 'b'.*no element is\s+independent", program)


def test_critic_with_a_wrong_shape_or_no_inputs():
    critic = scgrad.Critic(torch.nn.Linear(1, 1))

    def program(baseline):
        b = scgrad.sample("b", D.Bernoulli(torch.full((3,), 0.5)), scgrad.ScoreFunction(baseline))
        scgrad.cost("c", b)

    expect(r"Critic on node 'b': the module returned shape \(3, 1\).*\(3,\)", program, critic.given(torch.ones(3, 1)))
    expect(r"Critic on node 'b' has no inputs.*given", program, critic)


def test_non_tensor_costs_non_distributions_and_bad_num_samples():
    with pytest.raises(scgrad.ScgradError, match=r"cost\('c', \.\.\.\): the value must be a torch.Tensor; got float"):
        scgrad.cost("c", 1.0)
    with pytest.raises(scgrad.ScgradError, match=r"cost\('c', \.\.\.\): the value has dtype torch.int64.*value.float\(\)"):
        scgrad.cost("c", torch.tensor([1, 2]))
    with pytest.raises(scgrad.ScgradError, match=r"dtype torch.complex64.*real floating point.*value.abs\(\) \*\* 2"):
        scgrad.cost("c", torch.tensor([1 + 2j, 3j]))  # minimised: a complex number has no order
    with pytest.raises(scgrad.ScgradError, match=r"must be a torch.distributions.Distribution; got Tensor"):
        scgrad.sample("z", torch.tensor(0.5))
    for bad in (0, -1, 2.0, True):
        with pytest.raises(scgrad.ScgradError, match="num_samples must be a positive int"):
            scgrad.sample("z", D.Bernoulli(0.5), num_samples=bad)
    with pytest.raises(scgrad.ScgradError, match="must be an scgrad estimator"):
        run(lambda: scgrad.sample("z", D.Bernoulli(0.5), "score_function"))
    with pytest.raises(scgrad.ScgradError, match="takes an scgrad baseline"):
        scgrad.ScoreFunction(baseline=0.0)


def test_program_without_costs():
    expect(r"recorded no cost \(nodes: \['z'\]\)", lambda: scgrad.sample("z", D.Bernoulli(0.5)))


def test_num_samples_colliding_with_an_enumeration_dim():
    def program():
        scgrad.sample("z", D.Bernoulli(torch.full((2,), 0.5)), scgrad.Enumerate())
        scgrad.sample("w", D.Normal(torch.zeros(2), 1.0), num_samples=2)
        scgrad.cost("c", torch.zeros(2))

    expect(r"node 'w': its num_samples dim would sit at batch position -2, where\s+enumerated node 'z'", program)


@pytest.mark.parametrize("reduce", [
    lambda z: z.sum(-1, keepdim=True),
    lambda z: torch.logsumexp(z * torch.ones(3), dim=-1, keepdim=True),  # met data of the batch's size first
    lambda z: z.float().mean(dim=(-1,), keepdim=True) + 0.0 * z,
    lambda z: torch.softmax(z, -1),
])
def test_cost_reducing_over_enumerated_batch_elements(reduce):
    """The value broadcasts (shape (2, 1)), so the shape cannot show these: the reduction marks its result."""
    def program():
        z = scgrad.sample("z", D.Bernoulli(torch.full((3,), 0.5)), scgrad.Enumerate())
        scgrad.cost("c", reduce(z))

    expect(r"cost 'c' \(shape \(2, 1\)\) is computed with torch\.\w+ over dim -1 .* enumerated node 'z', which "
           r"combines its 3 batch elements", program)


def test_exact_refuses_nodes_it_cannot_enumerate_or_reparameterise():
    def program():
        z = scgrad.sample("z", D.Independent(D.Poisson(torch.full((3,), 2.0)), 1))
        scgrad.cost("c", z.sum(-1))

    with pytest.raises(scgrad.ScgradError, match=r"exact: node 'z' \(Independent\) can be neither enumerated"):
        scgrad.diagnostics.exact(program)


def test_an_unweighted_extra_term_beside_enumeration_is_refused():
    def program():
        z = scgrad.sample("z", D.Bernoulli(torch.full((2,), 0.5)), scgrad.Enumerate())
        b = scgrad.sample("b", D.Bernoulli(logits=z), scgrad.RELAX())
        scgrad.cost("c", b + z)

    expect(r"node 'b': RELAX adds a term that is not weighted by the\s+probabilities of the outcomes enumerated for node\(s\) \['z'\]", program)


def test_backward_of_a_surrogate_that_needs_no_gradient():
    """No parameter requires a gradient: refused by name, not torch's 'does not require grad'."""

    def program():
        b = scgrad.sample("b", D.Bernoulli(torch.full((3,), 0.4)), scgrad.ScoreFunction())
        scgrad.cost("constant", torch.ones(3))

    objective = run(program)
    with pytest.raises(scgrad.ScgradError, match=r"surrogate needs no gradient.*nodes \['b'\].*costs \['constant'\].*requires_grad"):
        objective.backward()


def test_an_empty_cost_is_refused_by_name_not_taken_for_an_overflow():
    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=torch.zeros(0)), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=2)
        scgrad.cost("c", b)

    expect(r"cost 'c' has no elements \(shape \(2, 0\)\).*NaN", program)


def test_a_shape_that_cannot_align_names_time_order_for_a_cost_not_computed_from_the_node():
    weights = torch.tensor([0.8, -1.2, 0.4], requires_grad=True)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=torch.zeros(2)), scgrad.ScoreFunction())
        scgrad.cost("c", (b - 0.3) ** 2)
        scgrad.cost("l2", weights**2)  # a regulariser of another shape, recorded after the node

    expect(r"cost 'l2' of shape \(3,\).*record it before sampling the node or run under\s+scgrad.provenance\(\)", program)
