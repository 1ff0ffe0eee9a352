"""``MovingAverage(per_element=True)``: one average per data point, read before it is updated, checkpointed.

The exact gradients here are written out in closed form and differentiated with plain autograd.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.distributions as D

import scgrad
from stats import assert_unbiased, gradient_samples

SCALES = torch.tensor([1.0, 3.0, 10.0, 30.0, 100.0], dtype=torch.float64)  # data points of very different costs
TARGETS = torch.tensor([0.1, 0.45, 0.2, 0.8, 0.6], dtype=torch.float64)


def plate(logits, baseline, num_samples=None):
    """Five data points, one Bernoulli each; data point ``i`` costs ``SCALES[i] * (b_i - TARGETS[i])**2``."""
    b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(baseline), num_samples=num_samples)
    scgrad.cost("c", SCALES * (b - TARGETS) ** 2)


def exact_gradient(logits):
    """``d/dlogits mean_i E[SCALES_i (b_i - TARGETS_i)^2]``, from ``E = p (1 - t)^2 + (1 - p) t^2``."""
    logits = logits.detach().requires_grad_()
    p = logits.sigmoid()
    objective = (SCALES * (p * (1 - TARGETS) ** 2 + (1 - p) * TARGETS**2)).mean()
    return torch.autograd.grad(objective, logits)[0]


def estimate(logits, baseline, num_samples=None):
    return torch.autograd.grad(scgrad.surrogate(plate, logits, baseline, num_samples).loss, logits)[0]


@pytest.mark.parametrize("num_samples", [None, 4], ids=["one_draw", "four_draws"])
def test_per_element_average_is_unbiased(num_samples):
    logits = torch.tensor([-1.0, 0.0, 0.5, 1.5, -0.3], dtype=torch.float64, requires_grad=True)
    baseline = scgrad.MovingAverage(decay=0.8, per_element=True).double()
    samples = gradient_samples(lambda: estimate(logits, baseline, num_samples), 4000)
    assert_unbiased(samples, exact_gradient(logits))
    assert baseline.average.shape == ((5,) if num_samples is None else (1, 5))


def test_per_element_average_is_read_before_it_is_updated():
    """Each element predicts the average of its own earlier costs; the first call predicts zero."""
    average = scgrad.MovingAverage(decay=0.5, per_element=True).double()
    logits = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    values = [torch.tensor(v, dtype=torch.float64) for v in ([1, 0, 1, 0, 1], [0, 0, 1, 1, 1], [1, 1, 0, 0, 1])]
    costs = [SCALES * (v - TARGETS) ** 2 for v in values]
    seen = []
    for value in values:
        with scgrad.substitute({"b": value}):
            seen.append(scgrad.surrogate(plate, logits, average).parts["b"].baseline.clone())
    torch.testing.assert_close(seen[0], torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(seen[1], costs[0])
    torch.testing.assert_close(seen[2], 0.5 * costs[0] + 0.5 * costs[1])
    torch.testing.assert_close(average.average, 0.25 * costs[0] + 0.25 * costs[1] + 0.5 * costs[2])
    assert int(average.count) == 3


def two_steps(logits, baseline):
    """Two nodes of one shape sharing the baseline; the second's cost depends on both."""
    first = scgrad.sample("a0", D.Bernoulli(logits=logits[0]), scgrad.ScoreFunction(baseline))
    scgrad.cost("r0", SCALES[:3] * first)
    second = scgrad.sample("a1", D.Bernoulli(logits=logits[1]), scgrad.ScoreFunction(baseline))
    scgrad.cost("r1", SCALES[:3] * (3 * first + second))


def test_a_per_element_average_shared_by_two_nodes_stays_unbiased():
    """Node a1 must not read an average updated with a0's downstream cost, which contains a1's own sample."""
    logits = torch.tensor([[0.3, -0.5, 1.0], [0.0, 0.8, -1.2]], dtype=torch.float64, requires_grad=True)

    def exact():
        p = logits.sigmoid()
        scales = SCALES[:3]
        objective = (scales * p[0]).mean() + (scales * (3 * p[0] + p[1])).mean()
        return torch.autograd.grad(objective, logits)[0]

    baseline = scgrad.MovingAverage(decay=0.0, per_element=True).double()
    samples = gradient_samples(lambda: torch.autograd.grad(scgrad.surrogate(two_steps, logits, baseline).loss, logits)[0], 4000)
    assert_unbiased(samples, exact())
    assert int(baseline.count) == 2 * 4000


def variance(samples: torch.Tensor) -> tuple[float, float]:
    """Trace of the covariance of ``samples`` (rows: estimates) and its standard error."""
    squared = (samples - samples.mean(0)).pow(2).sum(1)
    n = samples.shape[0]
    return float(squared.mean()) * n / (n - 1), float(squared.std()) / n**0.5


def test_per_element_average_beats_the_scalar_one_when_data_points_cost_differently():
    logits = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    found = {}
    for per_element in (False, True):
        baseline = scgrad.MovingAverage(decay=0.9, per_element=per_element).double()
        gradient_samples(lambda: estimate(logits, baseline), 100, seed=1)  # let the averages settle
        found[per_element] = variance(gradient_samples(lambda: estimate(logits, baseline), 2000, seed=2))
    (scalar, scalar_se), (per_element, per_element_se) = found[False], found[True]
    assert scalar - per_element > 4.5 * (scalar_se**2 + per_element_se**2) ** 0.5, found
    assert per_element < 0.5 * scalar, found  # by far: most of the scalar baseline's variance comes from the mismatch


def test_per_element_state_round_trips_through_a_checkpoint():
    logits = torch.tensor([-1.0, 0.0, 0.5, 1.5, -0.3], dtype=torch.float64, requires_grad=True)
    trained = scgrad.ScoreFunction(scgrad.MovingAverage(decay=0.7, per_element=True)).double()
    for _ in range(5):
        scgrad.surrogate(lambda: plate(logits, trained.baseline, 3))
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    restored = scgrad.ScoreFunction(scgrad.MovingAverage(decay=0.7, per_element=True)).double()
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(restored.baseline.average, trained.baseline.average)
    assert restored.baseline.average.shape == (1, 5) and int(restored.baseline.count) == 5
    gradients = []
    for estimator in (trained, restored):
        torch.manual_seed(3)
        objective = scgrad.surrogate(lambda: plate(logits, estimator.baseline, 3))
        gradients.append(torch.autograd.grad(objective.loss, logits)[0])
    assert torch.equal(*gradients)
    assert torch.equal(restored.baseline.average, trained.baseline.average)


def test_a_cost_of_another_shape_is_refused_naming_node_and_shapes():
    baseline = scgrad.MovingAverage(per_element=True)
    scgrad.surrogate(plate, torch.zeros(5, requires_grad=True), baseline.double(), 2)
    scgrad.surrogate(plate, torch.zeros(5, requires_grad=True), baseline, 6)  # other draws: the same data points
    before = baseline.average.clone()

    def four_points(logits):
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(baseline))
        scgrad.cost("c", b * 2.0)

    with pytest.raises(scgrad.ScgradError, match=r"node 'b'.*shape \(4,\).*one average per element of shape \(1, 5\).*drop_last"):
        scgrad.surrogate(four_points, torch.zeros(4, dtype=torch.float64, requires_grad=True))
    assert torch.equal(baseline.average, before) and int(baseline.count) == 2


def test_nodes_of_other_shapes_sharing_one_per_element_average_are_refused():
    baseline = scgrad.MovingAverage(per_element=True)

    def two_shapes():
        a = scgrad.sample("a", D.Bernoulli(logits=torch.zeros(3)), scgrad.ScoreFunction(baseline))
        scgrad.cost("ca", a)
        b = scgrad.sample("b", D.Bernoulli(logits=torch.zeros(2, 3)), scgrad.ScoreFunction(baseline))
        scgrad.cost("cb", b)

    with pytest.raises(scgrad.ScgradError, match=r"node 'b'.*shape \(2, 3\).*of shape \(3,\)"):
        scgrad.surrogate(two_shapes)
    assert int(baseline.count) == 0


def test_per_element_with_a_process_group_is_refused():
    with pytest.raises(ValueError, match="per_element=True, group"):
        scgrad.MovingAverage(per_element=True, group=scgrad.distributed.WORLD)
