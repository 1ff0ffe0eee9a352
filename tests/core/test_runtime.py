"""The runtime: handler stack, exception safety, substitution, re-evaluation, outside surrogate."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad.core import runtime
from scgrad.core.protocol import Estimator, Parts


def toy(p, estimator=None):
    b = scgrad.sample("b", D.Bernoulli(probs=p), estimator)
    scgrad.cost("c", (b - 0.45) ** 2)
    return b


def test_outside_surrogate_sample_draws_and_cost_does_nothing():
    torch.manual_seed(0)
    p = torch.tensor([0.3, 0.9], requires_grad=True)
    b = toy(p)
    assert b.shape == (2,) and not b.requires_grad
    assert scgrad.sample("z", D.Normal(0.0, 1.0), num_samples=5).shape == (5,)
    assert not runtime._STACK


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_program_that_raises_leaves_no_handler_behind(error):
    def failing():
        scgrad.sample("b", D.Bernoulli(0.5))
        raise error

    with pytest.raises(type(error)):
        scgrad.surrogate(failing)
    assert not runtime._STACK
    obj = scgrad.surrogate(toy, torch.tensor(0.5))  # and the next call works
    assert set(obj.graph.nodes) == {"b"}


def test_nested_surrogate_is_refused():
    def outer():
        scgrad.surrogate(toy, torch.tensor(0.5))

    with pytest.raises(scgrad.ScgradError, match="nesting is not supported"):
        scgrad.surrogate(outer)
    assert not runtime._STACK


def test_substitute_fixes_values_and_checks_support():
    p = torch.tensor(0.3, requires_grad=True)
    with scgrad.substitute({"b": torch.tensor(1.0)}):
        obj = scgrad.surrogate(toy, p, scgrad.ScoreFunction())
    assert obj.graph.nodes["b"].value.item() == 1.0
    (grad,) = torch.autograd.grad(obj.loss, p)
    assert torch.isclose(grad, torch.tensor((1 - 0.45) ** 2 / 0.3))  # f(1) * d log p / dp
    with pytest.raises(scgrad.ScgradError, match="outside the support"), scgrad.substitute({"b": torch.tensor(0.5)}):
        scgrad.surrogate(toy, p)


def test_block_hides_nodes_from_the_surrogate():
    def program():
        with scgrad.block(hide=["hidden"]):
            scgrad.sample("hidden", D.Bernoulli(0.5))
            scgrad.sample("seen", D.Bernoulli(0.5))
        scgrad.cost("c", torch.tensor(1.0))

    assert set(scgrad.surrogate(program).graph.nodes) == {"seen"}


class Probe(Estimator):
    """Records what the surrogate hands an estimator."""

    def __init__(self, value):
        super().__init__()
        self.value = value
        self.seen = None

    needs_downstream = True

    def draw(self, node, layout):
        return node.dist.sample()

    def parts(self, node, downstream):
        self.seen = downstream, downstream.evaluate(self.value).cost
        return Parts(score=node.log_prob)


def test_evaluate_reruns_the_program_with_the_value_replaced():
    scale = torch.tensor(2.0, requires_grad=True)

    def program():
        a = scgrad.sample("a", D.Bernoulli(0.5))
        scgrad.cost("before", a * 10.0)  # upstream of b: not part of b's downstream cost
        b = scgrad.sample("b", D.Bernoulli(0.5), probe)
        scgrad.cost("after", scale * (b - a) ** 2)

    probe = Probe(torch.tensor(0.3))
    obj = scgrad.surrogate(program)
    a = obj.graph.nodes["a"].value
    downstream, evaluated = probe.seen
    assert torch.isclose(evaluated, scale * (0.3 - a) ** 2)
    assert evaluated.requires_grad and not downstream.cost.requires_grad
    b = obj.graph.nodes["b"].value
    assert torch.isclose(downstream.cost, 2.0 * (b - a) ** 2)


def test_value_of_the_surrogate_is_the_cost_estimate():
    p = torch.tensor([0.2, 0.7], requires_grad=True)
    obj = scgrad.surrogate(toy, p, scgrad.ScoreFunction(scgrad.MovingAverage()))
    b = obj.graph.nodes["b"].value
    assert torch.isclose(obj.loss, ((b - 0.45) ** 2).mean())
    assert torch.isclose(obj.cost, obj.loss.detach()) and not obj.cost.requires_grad
    assert set(obj.costs) == {"c"}


def _episode(logits, estimator):
    total = torch.zeros(())
    for t in range(4):
        a = scgrad.sample(f"a{t}", D.Bernoulli(logits=logits[t]), estimator, num_samples=3)
        total = total + a
        scgrad.cost(f"r{t}", (total - 1.5) ** 2)


@pytest.mark.parametrize("estimator", [scgrad.ScoreFunction(scgrad.LeaveOneOut()), scgrad.GumbelSoftmax(hard=True)])
def test_the_recorders_direct_path_records_what_the_handler_stack_does(estimator):
    # Alone on the stack, the recorder takes primitives directly; under another handler, through messages.
    logits = torch.tensor([0.3, -0.2, 0.5, 0.1], requires_grad=True)
    grads = []
    for wrap in (False, True):
        torch.manual_seed(0)
        with runtime.Handler() if wrap else contextlib.nullcontext():
            obj = scgrad.surrogate(_episode, logits, estimator)
        (grad,) = torch.autograd.grad(obj.loss, logits)
        grads.append((obj.loss.detach(), grad, [n.value for n in obj.graph.nodes.values()], list(obj.graph.costs)))
    (loss, grad, values, names), (loss2, grad2, values2, names2) = grads
    assert names == names2 == [f"r{t}" for t in range(4)]
    assert all(torch.equal(v, w) for v, w in zip(values, values2))
    assert torch.equal(loss, loss2) and torch.equal(grad, grad2)


@pytest.mark.parametrize("wrap", [False, True])
def test_a_repeated_name_is_refused_on_either_path(wrap):
    def twice():
        scgrad.sample("b", D.Bernoulli(0.5))
        scgrad.sample("b", D.Bernoulli(0.5))

    def cost_twice():
        scgrad.cost("c", torch.ones(()))
        scgrad.cost("c", torch.ones(()))

    for program, kind in ((twice, "node"), (cost_twice, "cost")):
        with runtime.Handler() if wrap else contextlib.nullcontext():
            with pytest.raises(scgrad.ScgradError, match=f"{kind} name 'b'|{kind} name 'c'"):
                scgrad.surrogate(program)
    assert not runtime._STACK


def test_the_objectives_cost_is_the_value_when_it_was_built():
    """A cost that is a view of a parameter: the estimate keeps its value from before the optimiser's step."""
    weight = torch.ones((), requires_grad=True)
    objective = scgrad.surrogate(lambda: scgrad.cost("c", weight.view(())))
    with torch.no_grad():
        weight.zero_()
    assert float(objective.cost) == 1.0 and float(objective.costs["c"]) == 1.0
