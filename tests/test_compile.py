"""torch.compile: a training step built on the surrogate compiles whole, and gives eager's gradients.

One program holds a node for each estimator the step must compile for (score function alone, with
LeaveOneOut, BatchAverage and MovingAverage, two of them alike so that their log-probs are batched;
Reparam; GumbelSoftmax), so that one compilation covers them all:
compiling is slow (about 20 s on two cores), and the test file stays under a minute.

Eager and compiled steps see the same samples: the score-function nodes are substituted
(``scgrad.substitute``), and the pathwise nodes draw from the same seed, with
``torch._inductor.config.fallback_random`` so that compiled code draws eager's random numbers.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributions as D
from torch import nn

import scgrad

# Dynamo's own use of a deprecated TorchScript decorator, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

SAMPLES, BATCH, PIXELS, LATENTS, CATEGORIES, BITS, NORMALS = 3, 5, 12, 2, 3, 4, 2
WIDTHS = {"sf": LATENTS * CATEGORIES, "loo": LATENTS * CATEGORIES, "ba": BITS, "mu": NORMALS, "sigma": NORMALS,
          "gs": LATENTS * CATEGORIES, "ma": 1, "bits": 1}


def categorical(logits):
    return D.Independent(D.OneHotCategorical(logits=logits.view(-1, LATENTS, CATEGORIES)), 1)


class Model(nn.Module):
    """An encoder to the parameters of seven nodes, one per estimator, and a decoder of all of them.

    ``ma`` and ``bits`` are alike score-function nodes, so their log-probs come from one batched call.
    """

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(PIXELS, sum(WIDTHS.values()))
        self.decoder = nn.Linear(3 * LATENTS * CATEGORIES + BITS + NORMALS + 2, PIXELS)
        self.estimators = nn.ModuleDict({
            "sf": scgrad.ScoreFunction(),
            "loo": scgrad.ScoreFunction(scgrad.LeaveOneOut()),
            "ba": scgrad.ScoreFunction(scgrad.BatchAverage()),
            "rp": scgrad.Reparam(),
            "gs": scgrad.GumbelSoftmax(temperature=0.7),
            "ma": scgrad.ScoreFunction(scgrad.MovingAverage()),
            "bits": scgrad.ScoreFunction(),
        })

    def program(self, x):
        params = dict(zip(WIDTHS, self.encoder(x).split(list(WIDTHS.values()), -1)))
        scgrad.cost("prior", params["mu"].pow(2).sum(-1))  # [B]: before every node, depends on none
        kinds = {
            "sf": categorical(params["sf"]),
            "loo": categorical(params["loo"]),
            "ba": D.Independent(D.Bernoulli(logits=params["ba"]), 1),
            "rp": D.Independent(D.Normal(params["mu"], params["sigma"].exp()), 1),
            "gs": categorical(params["gs"]),
            "ma": D.Bernoulli(logits=params["ma"].squeeze(-1)),  # one bit per data point
            "bits": D.Bernoulli(logits=params["bits"].squeeze(-1)),
        }
        z = {name: scgrad.sample(name, dist, self.estimators[name], num_samples=SAMPLES) for name, dist in kinds.items()}
        features = torch.cat([z["sf"].flatten(-2), z["loo"].flatten(-2), z["ba"], z["rp"], z["gs"].flatten(-2), z["ma"].unsqueeze(-1), z["bits"].unsqueeze(-1)], -1)
        scgrad.cost("nll", -D.Independent(D.Bernoulli(logits=self.decoder(features)), 1).log_prob(x))  # [S, B]


def fixed_values(generator):
    """Samples for the score-function nodes, drawn once."""
    def one_hot():
        index = torch.randint(CATEGORIES, (SAMPLES, BATCH, LATENTS), generator=generator)
        return nn.functional.one_hot(index, CATEGORIES).float()

    def bits(*shape):
        return torch.randint(2, (SAMPLES, BATCH, *shape), generator=generator).float()

    return {"sf": one_hot(), "loo": one_hot(), "ba": bits(BITS), "ma": bits(), "bits": bits()}


def step(model, x, values):
    """One training step's gradient: the surrogate's loss, backpropagated."""
    with scgrad.substitute(values):
        loss = scgrad.surrogate(model.program, x).loss
    loss.backward()
    return loss.detach()


def loss_only(model, x, values):
    with scgrad.substitute(values):
        return scgrad.surrogate(model.program, x).loss


@pytest.fixture(scope="module", autouse=True)
def keep_validation():
    """torch.compile turns off torch.distributions' argument validation for the whole process on first
    use; turn it back on for the test files that run after this one."""
    validate = D.Distribution._validate_args
    yield
    D.Distribution.set_default_validate_args(validate)


def make_case(device):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = Model().to(device)
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.4), generator=generator)
    return model, x.to(device), {name: value.to(device) for name, value in fixed_values(generator).items()}


@pytest.fixture(scope="module")
def case():
    return make_case("cpu")


def gradients(run, model, x, values, seed=2):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = run(model, x, values)
    return loss, [p.grad.clone() for p in model.parameters()]


def test_compiled_step_gives_the_eager_gradient(device):
    model, x, values = make_case(device)
    start = copy.deepcopy(model.state_dict())  # the moving average learns from each step: start both from here
    compiled = torch.compile(step)
    with torch._dynamo.config.patch(trace_autograd_ops=True), torch._inductor.config.patch(fallback_random=True):
        compiled_loss, compiled_grads = gradients(compiled, model, x, values)
    after_compiled = copy.deepcopy(model.state_dict())
    model.load_state_dict(start)
    eager_loss, eager_grads = gradients(step, model, x, values)
    for name, value in model.state_dict().items():  # the moving average's update ran in the compiled step too
        torch.testing.assert_close(after_compiled[name], value)
    assert int(model.estimators["ma"].baseline.count) == 1
    torch.testing.assert_close(compiled_loss, eager_loss)
    for compiled_grad, eager_grad in zip(compiled_grads, eager_grads):
        assert compiled_grad.abs().sum() > 0
        torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-4, atol=1e-6)


def explain(fn, *args):
    torch._dynamo.reset()
    return torch._dynamo.explain(fn)(*args)


def test_the_surrogate_compiles_without_graph_breaks(case):
    """The forward (loss only) under the default settings: nothing in scgrad breaks the graph."""
    report = explain(loss_only, *case)
    assert report.graph_break_count == 0, [reason.reason for reason in report.break_reasons]
    assert report.graph_count == 1


def test_the_training_step_compiles_without_graph_breaks(case):
    """With ``trace_autograd_ops``, Dynamo traces ``loss.backward()`` too, and the step is one graph.

    Without it, the only break is torch's own, at ``loss.backward()`` (``Tensor.backward`` is not traced).
    """
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        report = explain(step, *case)
    assert report.graph_break_count == 0, [reason.reason for reason in report.break_reasons]
    assert report.graph_count == 1
    report = explain(step, *case)
    assert report.graph_break_count == 1
    assert "Tensor.backward()" in report.break_reasons[0].reason


def test_enumerated_values_under_compile_are_expanded_so_reductions_stay_refused():
    """While dynamo traces, values carry no provenance to mark a reduction with: Enumerate expands its
    value over the batch (shape (3, 5), not (3, 1)), and a cost summed over the batch is refused by shape."""
    logits = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, dtype=torch.float64)

    def program(keep):
        z = scgrad.sample("z", D.Categorical(logits=logits), scgrad.Enumerate())
        scgrad.cost("c", weights[z].sum(-1, keepdim=True) if keep else weights[z])

    compiled = torch.compile(lambda keep: scgrad.surrogate(program, keep).loss)
    truth = (logits.softmax(-1) * weights).sum(-1).mean()
    torch.testing.assert_close(compiled(False), truth)
    with pytest.raises(scgrad.ScgradError, match=r"cost 'c' has shape \(3, 1\) but the enumerated node\(s\) \['z'\]"):
        compiled(True)
