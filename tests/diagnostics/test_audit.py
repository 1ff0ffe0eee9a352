"""``scgrad.audit``: contract breaks found by substitution, named; sound programs pass; nothing disturbed."""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad


def flipped(theta):
    b = scgrad.sample("b", D.Bernoulli(logits=theta), scgrad.ScoreFunction())
    scgrad.cost("pairs", b * b.flip(-1))


def outer_product(theta):
    a = scgrad.sample("a", D.Bernoulli(logits=theta[0]), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=3)
    b = scgrad.sample("b", D.Bernoulli(logits=theta[1]), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=3)
    scgrad.cost("outer", (a.unsqueeze(1) * b).sum(0))


MIX = torch.tensor([[1.0, -2.0, 0.5], [0.3, 1.0, -1.0], [2.0, 0.1, 1.0]])


def row_decoder(theta):
    z = scgrad.sample("z", D.Bernoulli(logits=theta.expand(2, 3)), scgrad.ScoreFunction())
    scgrad.cost("decoded", (z @ MIX - 1.0) ** 2)


def parent_mixes_child(theta):
    a = scgrad.sample("a", D.Bernoulli(logits=theta.expand(3)), scgrad.ScoreFunction())
    b = scgrad.sample("b", D.Bernoulli(logits=a.roll(1, -1) - 0.5), scgrad.ScoreFunction())
    scgrad.cost("child", b)


BROKEN = {
    "flip": (flipped, torch.zeros(6), "b", "pairs"),
    "outer product of draws": (outer_product, torch.zeros(2), "a", "outer"),
    "row-wise decoder": (row_decoder, torch.zeros(()), "z", "decoded"),
    "a later node mixing": (parent_mixes_child, torch.zeros(()), "a", "node 'b'"),
}


@pytest.mark.parametrize("program, theta, node, target", BROKEN.values(), ids=BROKEN.keys())
def test_a_program_that_mixes_elements_is_flagged_with_node_and_target(program, theta, node, target):
    torch.manual_seed(0)
    result = scgrad.audit(program, theta)
    assert not result.ok
    assert any(f"node {node!r}" in finding and target in finding and "aligned from the right" in finding
               for finding in result.findings), result.findings
    assert "finding" in str(result)


def readme_toy(logits, targets):
    b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(baseline=scgrad.LeaveOneOut()), num_samples=8)
    scgrad.cost("squared_error", (b - targets) ** 2)


torch.manual_seed(0)
ENCODER, DECODER = torch.nn.Linear(5, 4), torch.nn.Linear(4, 5)
DATA = torch.rand(3, 5).bernoulli()


def vae(x):
    q = D.Independent(D.Bernoulli(logits=ENCODER(x)), 1)
    z = scgrad.sample("z", q, scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=4)
    scgrad.cost("nll", -D.Independent(D.Bernoulli(logits=DECODER(z)), 1).log_prob(x))
    scgrad.cost("kl", D.kl_divergence(q, D.Independent(D.Bernoulli(probs=torch.full((3, 4), 0.5)), 1)))


def chain_and_tree(theta):
    a = scgrad.sample("a", D.Bernoulli(logits=theta.expand(4)), scgrad.ScoreFunction())
    b = scgrad.sample("b", D.Categorical(logits=torch.stack([a, 1 - a, a * 0], -1)), scgrad.ScoreFunction())
    c = scgrad.sample("c", D.Normal(a + b, 1.0), scgrad.Reparam())
    d = scgrad.sample("d", D.Bernoulli(logits=a - 0.5), scgrad.MuProp())
    scgrad.cost("leaves", (c - 1) ** 2 + d * b)


def enumerated(theta):
    a = scgrad.sample("a", D.Bernoulli(logits=theta.expand(3)), scgrad.Enumerate())
    b = scgrad.sample("b", D.Bernoulli(logits=2 * a - 1), scgrad.Enumerate())
    scgrad.cost("c", (a + b - 0.7) ** 2)


SOUND = {
    "readme toy": (readme_toy, (torch.zeros(6), torch.tensor([0.1, 0.3, 0.45, 0.55, 0.7, 0.9]))),
    "vae with an analytic kl": (vae, (DATA,)),
    "chain and tree": (chain_and_tree, (torch.zeros(()),)),
    "enumerated nodes": (enumerated, (torch.zeros(()),)),
}


@pytest.mark.parametrize("program, args", SOUND.values(), ids=SOUND.keys())
def test_a_sound_program_passes(program, args):
    torch.manual_seed(0)
    result = scgrad.audit(program, *args)
    assert result.ok and result.replays, str(result)
    assert result.checked and all(tried > 0 for tried, _ in result.checked.values())


def test_a_seeded_episode_passes():
    gym = pytest.importorskip("gymnasium")
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    torch.manual_seed(0)
    policy = torch.nn.Linear(4, 2)
    result = scgrad.audit(lambda: scgrad.rl.episode(envs, policy, seed=3), max_runs=12)
    assert result.ok and result.replays, str(result)


def test_an_unseeded_program_is_reported_as_not_replaying():
    def noisy(theta):
        a = scgrad.sample("a", D.Bernoulli(logits=theta.expand(3)), scgrad.ScoreFunction())
        scgrad.cost("c", a + torch.rand(3))

    result = scgrad.audit(noisy, torch.zeros(()))
    assert result.ok and not result.replays and result.runs == 2
    assert "does not replay" in str(result)


def test_a_cost_credited_without_dependency_is_a_note():
    def later(theta):
        a = scgrad.sample("a", D.Bernoulli(logits=theta.expand(3)), scgrad.ScoreFunction())
        scgrad.cost("own", a)
        scgrad.cost("unrelated", torch.ones(3))

    result = scgrad.audit(later, torch.zeros(()))
    assert result.ok and any("'unrelated'" in note and "provenance" in note for note in result.notes)


def test_a_dependency_hidden_from_provenance_is_a_finding():
    def hidden(theta):
        b = scgrad.sample("b", D.Bernoulli(logits=theta.expand(3)), scgrad.ScoreFunction())
        with torch._C.DisableTorchFunctionSubclass():  # as C++ code reading the data would
            doubled = torch.mul(b, 2.0).as_subclass(torch.Tensor)
        scgrad.cost("c", doubled)

    with scgrad.provenance():
        result = scgrad.audit(hidden, torch.zeros(()))
    assert not result.ok
    assert any("tracked dependencies omit 'b'" in finding and "cost 'c'" in finding for finding in result.findings)


def test_the_audit_leaves_gradients_estimators_and_random_state_alone():
    logits = torch.zeros(4, requires_grad=True)
    logits.grad = torch.full((4,), 7.0)
    average = scgrad.MovingAverage()
    average.average.fill_(3.0)
    average.count.fill_(5)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(average))
        scgrad.cost("c", (b - 0.3) ** 2)

    torch.manual_seed(11)
    before = torch.random.get_rng_state()
    result = scgrad.audit(program)
    assert result.ok and result.runs == 2 + 3 * 4 + 2  # record, replay; 3 base points of 4 elements
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(logits.grad, torch.full((4,), 7.0))
    assert float(average.average) == 3.0 and int(average.count) == 5


def test_the_work_is_bounded_by_max_runs():
    def wide(theta):
        b = scgrad.sample("b", D.Bernoulli(logits=theta.expand(1000)), scgrad.ScoreFunction())
        scgrad.cost("c", b)

    result = scgrad.audit(wide, torch.zeros(()), max_runs=10)
    assert result.runs == 10 and result.checked["b"] == (6, 1000)  # 2 elements at each of 3 base points
    assert "b 6/1000" in str(result)


def test_diagnose_reports_the_audit_above_its_table():
    theta = torch.zeros(6, requires_grad=True)
    diagnosis = scgrad.diagnose(flipped, theta, params=[theta], repeats=5, warmup=1,
                                estimators=[e for e in scgrad.diagnostics.CATALOGUE if e.name == "score_function"])
    assert not diagnosis.audit.ok
    text = str(diagnosis)
    assert text.index("finding") < text.index("score_function")


def test_a_finding_counts_each_element_once_over_the_base_points():
    def centred(theta):  # every draw's cost moves with every draw: each element tried breaks it
        b = scgrad.sample("b", D.Bernoulli(logits=theta), scgrad.ScoreFunction(scgrad.LeaveOneOut()), num_samples=4)
        scgrad.cost("c", ((b.mean(0, keepdim=True) - 0.5) ** 2).expand(4, 3))

    torch.manual_seed(0)
    result = scgrad.audit(centred, torch.zeros(3))
    assert not result.ok
    assert "(12 of the 12 elements tried do so)" in result.findings[0], result.findings
