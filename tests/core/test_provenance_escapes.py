"""Values that leave torch: refused under provenance, time order for probed nodes otherwise; never lost."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core.provenance import ProvenanceTensor, provenance_of

THETA = 0.3
TABLE = torch.tensor([1.0, 5.0])


def node(theta, estimator=None):
    return scgrad.sample("b", D.Bernoulli(logits=theta), estimator or scgrad.ScoreFunction())


def branch_on_item(theta):
    b = node(theta)
    scgrad.cost("c", torch.tensor(3.0) if b.item() else torch.tensor(1.0))


def index_with_int(theta):
    scgrad.cost("c", TABLE[int(node(theta))])


def through_numpy(theta):
    scgrad.cost("c", torch.as_tensor(node(theta).numpy() * 2.0))


def write_into_plain(theta):
    b = node(theta)
    buf = torch.zeros(2)
    buf[0] = 2 * b + 1
    scgrad.cost("c", buf)


def add_out(theta):
    b = node(theta)
    buf = torch.zeros(())
    torch.add(b, 1.0, out=buf)
    scgrad.cost("c", buf)


def python_float_parameter(theta):
    b = node(theta)
    c = scgrad.sample("c2", D.Bernoulli(probs=0.2 + 0.6 * float(b)), scgrad.ScoreFunction())
    scgrad.cost("c", c)


def boolean_mask_shape(theta):
    b = node(theta)
    scgrad.cost("c", torch.tensor(float(len(TABLE[b.bool().expand(2)]))))


def write_into_a_view(theta):
    b = node(theta)
    a = scgrad.sample("a", D.Normal(torch.zeros(2), 1.0), scgrad.Reparam())
    view = a[:1]
    view.add_(b)
    scgrad.cost("c", a)


ESCAPES = {
    "item": (branch_on_item, "Tensor.item"),
    "int": (index_with_int, "__int__"),
    "numpy": (through_numpy, "numpy"),
    "setitem": (write_into_plain, "in place into a tensor that does not carry"),
    "out": (add_out, "in place into a tensor that does not carry"),
    "float parameter": (python_float_parameter, "__float__"),
    "boolean mask": (boolean_mask_shape, "boolean mask"),
    "view": (write_into_a_view, "view of another tensor"),
}


@pytest.mark.parametrize("program, how", ESCAPES.values(), ids=ESCAPES.keys())
def test_an_escape_under_provenance_is_refused_naming_the_node(program, how):
    theta = torch.tensor(THETA, requires_grad=True)
    with pytest.raises(scgrad.ScgradError, match=rf"(?s)'b'.*{how}.*time order"):
        with scgrad.provenance():
            scgrad.surrogate(program, theta)


@pytest.mark.parametrize("program", [branch_on_item, index_with_int, through_numpy], ids=["item", "int", "numpy"])
def test_without_provenance_the_same_programs_get_the_exact_gradient(program):
    """Time order: the score function of ``b`` reaches its cost, E[c] = p c(1) + (1 - p) c(0)."""
    theta = torch.tensor(THETA, requires_grad=True)
    values = {branch_on_item: (1.0, 3.0), index_with_int: (1.0, 5.0), through_numpy: (0.0, 2.0)}[program]
    p = torch.sigmoid(theta.detach())
    expected = p * (1 - p) * (values[1] - values[0])
    grads = []
    for outcome in (0.0, 1.0):
        with scgrad.substitute({"b": torch.tensor(outcome)}):
            objective = scgrad.surrogate(program, theta)
        (grad,) = torch.autograd.grad(objective.loss, theta)
        grads.append(grad)
    exact = (1 - p) * grads[0] + p * grads[1]
    assert torch.allclose(exact, expected)


def test_an_escaped_probed_node_falls_back_to_time_order():
    """A leave-one-out node (probed) read with .item(): a later cost lacking its sample dim counts as its."""
    logits = torch.zeros(3, requires_grad=True)

    def program(read):
        z = scgrad.sample("z", D.Bernoulli(logits=logits), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=4)
        scgrad.cost("per_draw", (z - 0.4) ** 2)
        if read:
            z.sum().item()
        scgrad.cost("kl", logits.sigmoid() ** 2)

    objective = scgrad.surrogate(program, False)
    assert set(objective.graph.costs["kl"].upstream) == set()
    with pytest.raises(scgrad.ScgradError, match=r"(?s)'kl'.*\(3,\).*left torch"):
        scgrad.surrogate(program, True)


def test_distribution_validation_is_not_an_escape():
    theta = torch.tensor(THETA, requires_grad=True)

    def program():
        b = node(theta)
        c = scgrad.sample("c2", D.Bernoulli(logits=b - 0.5, validate_args=True), scgrad.ScoreFunction())
        scgrad.cost("c", c)

    with scgrad.provenance():
        objective = scgrad.surrogate(program)
    assert objective.graph.nodes["c2"].upstream == {"b"}
    assert objective.graph.costs["c"].upstream == {"b", "c2"}


def test_transformed_distribution_parameters_carry_provenance():
    theta = torch.tensor(THETA, requires_grad=True)

    def program():
        b = node(theta)
        shifted = D.TransformedDistribution(D.Normal(0.0, 1.0), [D.transforms.AffineTransform(loc=3 * b, scale=1.0)])
        scgrad.cost("c", scgrad.sample("y", shifted, scgrad.ScoreFunction()))

    with scgrad.provenance():
        objective = scgrad.surrogate(program)
    assert objective.graph.nodes["y"].upstream == {"b"}


def test_in_place_writes_into_tracked_tensors_add_provenance():
    a = ProvenanceTensor(torch.ones(2), frozenset({"a"}))
    b = ProvenanceTensor(torch.ones(()), frozenset({"b"}))
    x = a * 2.0
    x.add_(b)
    assert provenance_of(x) == {"a", "b"}
    y = a + 0.0
    y += b
    assert provenance_of(y) == {"a", "b"}
    y[0] = b * 3
    assert provenance_of(y) == {"a", "b"}


def test_an_episode_under_provenance_gets_the_time_order_gradient():
    gym = pytest.importorskip("gymnasium")
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    torch.manual_seed(0)
    policy = torch.nn.Linear(4, 2)

    def gradient(tracked):
        torch.manual_seed(1)
        if tracked:
            with scgrad.provenance():
                objective, _ = scgrad.rl.rollout(envs, policy, seed=0)
        else:
            objective, _ = scgrad.rl.rollout(envs, policy, seed=0)
        return torch.autograd.grad(objective.loss, list(policy.parameters()))

    plain, tracked = gradient(False), gradient(True)
    assert all(torch.allclose(p, t, rtol=1e-5, atol=1e-5) for p, t in zip(plain, tracked))
    assert any(bool(p.abs().sum() > 0) for p in plain)


def test_the_hooks_common_path_tags_fresh_results_and_aliases_returned_arguments():
    a = ProvenanceTensor(torch.ones(3), frozenset({"a"}))
    b = ProvenanceTensor(torch.full((3,), 2.0), frozenset({"b"}))
    plain = torch.zeros(3)
    both = a * b + plain  # positional arguments only: the short path
    assert provenance_of(both) == {"a", "b"} and torch.equal(both.as_subclass(torch.Tensor), torch.full((3,), 2.0))
    assert provenance_of(a.contiguous()) == {"a"}  # the argument itself, already carrying its provenance
    same = plain.type_as(a)  # returns ``plain`` itself: tagged as an alias, the caller's tensor untouched
    assert provenance_of(same) == {"a"} and type(plain) is torch.Tensor and not provenance_of(plain)
    stacked = torch.stack([a, plain, b])  # a container of arguments: the general path opens it
    assert provenance_of(stacked) == {"a", "b"} and stacked.shape == (3, 3)
    assert provenance_of(torch.add(a, 1.0, alpha=2.0)) == {"a"}  # keyword arguments: the general path
