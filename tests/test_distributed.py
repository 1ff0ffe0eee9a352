"""Baselines across processes: two gloo ranks on loopback, each with its slice of fixed (substituted) draws,
give the gradient one process computes on all the draws.

The two ranks are spawned once for the module and run every case; each saves its gradients, and the
tests compare them here with one process on the concatenated draws. Costs with one element per draw:
the ranks' gradients are *averaged* (what DistributedDataParallel does). VIMCO's bound combines the
draws of both ranks: their gradients are *summed* (see ``scgrad.distributed``).
"""

from __future__ import annotations

import copy
import math
import pickle
import socket
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.distributions as D
import torch.multiprocessing as mp

import scgrad
from scgrad.distributed import WORLD, gather

RANKS, S, B = 2, 2, 3  # ranks, draws per rank, data points
TARGETS = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
X = torch.tensor([0.1, 0.9, 0.4], dtype=torch.float64)
# fixed draws for all ranks: [steps, RANKS * S, B]; rank r holds rows r * S .. (r + 1) * S of each step
DRAWS = torch.tensor(
    [
        [[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]],
        [[0, 1, 1], [1, 1, 1], [0, 0, 0], [1, 0, 1]],
        [[1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]],
    ],
    dtype=torch.float64,
)


def parameters(batch=B):
    """Fresh leaves: logits of the draws and a weight reaching the cost pathwise."""
    logits = torch.linspace(-0.5, 0.7, batch, dtype=torch.float64).requires_grad_()
    weight = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    return logits, weight


def per_draw(logits, weight, baseline, num_samples, targets=TARGETS):
    """One cost element per draw and data point: ``[num_samples, batch]``."""
    b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.ScoreFunction(baseline), num_samples=num_samples)
    scgrad.cost("c", (b - targets) ** 2 + weight * b * targets)


def gradient(program, *args, draws):
    with scgrad.substitute({"b": draws}):
        obj = scgrad.surrogate(program, *args)
    return torch.autograd.grad(obj.loss, [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad])


def iwae(params, num_samples, group, bound_over_group=True):
    """q(z | x) = Bernoulli(σ(w x + c)); p(z) = Bernoulli(1/2), p(x | z) = Normal(scale * z, 0.5); the bound
    over the draws of every rank of ``group`` (this rank's alone when ``group`` is None or not
    ``bound_over_group``)."""
    w, c, scale = params
    q = D.Bernoulli(logits=w * X + c)

    def log_weights(z):
        return D.Normal(scale * z, 0.5).log_prob(X) + math.log(0.5) - q.log_prob(z)

    z = scgrad.sample("z", q, scgrad.ScoreFunction(scgrad.VIMCO(log_weights, group=group)), num_samples=num_samples)
    log_w = gather(log_weights(z), 0, group) if group is not None and bound_over_group else log_weights(z)
    scgrad.cost("iwae", -(torch.logsumexp(log_w, 0, keepdim=True) - math.log(log_w.shape[0])))


def iwae_params():
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.5, -0.4, 0.8)]


def iwae_gradient(num_samples, group, draws, bound_over_group=True):
    params = iwae_params()
    with scgrad.substitute({"z": draws}):
        obj = scgrad.surrogate(iwae, params, num_samples, group, bound_over_group)
    return torch.autograd.grad(obj.loss, params)


def cases(rank, group):
    """Every case on this rank: name -> tensors (gradients, baseline state) or an error message."""
    mine = slice(rank * S, (rank + 1) * S)
    out = {}
    out["leave_one_out"] = gradient(per_draw, *parameters(), scgrad.LeaveOneOut(group=WORLD), S, draws=DRAWS[0, mine])
    out["leave_one_out_one_draw_each"] = gradient(
        per_draw, *parameters(), scgrad.LeaveOneOut(group=group), 1, draws=DRAWS[0, rank : rank + 1]
    )
    out["batch_average_draws"] = gradient(per_draw, *parameters(), scgrad.BatchAverage(group=group), S, draws=DRAWS[1, mine])
    # plain data parallelism: each rank its own data points (all its draws), the batch split across ranks
    targets = torch.cat([TARGETS, TARGETS.flip(0)])[rank * B : (rank + 1) * B]
    logits, weight = parameters(RANKS * B)
    logits_here = logits.detach()[rank * B : (rank + 1) * B].requires_grad_()
    draws = torch.cat([DRAWS[2, :S], DRAWS[2, S:]], 1)[:, rank * B : (rank + 1) * B]
    out["batch_average_data"] = gradient(per_draw, logits_here, weight, scgrad.BatchAverage(group=group), S, targets, draws=draws)
    # batches of different sizes (3 and 2 data points): the baseline is still the single-process one
    with scgrad.substitute({"b": DRAWS[2, mine, : B - rank]}):
        obj = scgrad.surrogate(per_draw, *parameters(B - rank), scgrad.BatchAverage(group=group), S, TARGETS[: B - rank])
    out["batch_average_uneven"] = obj.parts["b"].baseline
    average = scgrad.MovingAverage(decay=0.5, group=group)
    steps = [gradient(per_draw, *parameters(), average, S, draws=DRAWS[step, mine]) for step in range(3)]
    out["moving_average"] = [g for grads in steps for g in grads] + [average.average, average.count]
    out["vimco"] = iwae_gradient(S, group, DRAWS[0, mine])
    copied = copy.deepcopy(scgrad.ScoreFunction(scgrad.MovingAverage(group=group)))
    out["copy_shares_the_group"] = copied.baseline.group is group
    for name, run in {
        "mismatch_leave_one_out": lambda: gradient(
            per_draw, *parameters(), scgrad.LeaveOneOut(group=group), S + rank, draws=DRAWS[0, : S + rank]
        ),
        "mismatch_vimco": lambda: iwae_gradient(S + rank, group, DRAWS[0, : S + rank], bound_over_group=False),
        "mismatch_gather": lambda: iwae_gradient(S + rank, group, DRAWS[0, : S + rank]),
    }.items():
        try:
            run()
            out[name] = "no error"
        except scgrad.ScgradError as error:
            out[name] = str(error)
    return out


def worker(rank, port, folder):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=RANKS, timeout=timedelta(seconds=60)
    )
    try:
        torch.save(cases(rank, dist.group.WORLD), f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each rank computed, spawned once for every test of this module."""
    folder = tmp_path_factory.mktemp("ranks")
    context = mp.start_processes(worker, args=(free_port(), str(folder)), nprocs=RANKS, join=False, start_method="spawn")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the distributed workers did not finish within 120 s (a collective hung?)")
    return [torch.load(folder / f"rank{r}.pt") for r in range(RANKS)]


def averaged(ranks, name):
    return [sum(grads) / RANKS for grads in zip(*(r[name] for r in ranks))]


def assert_all_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


def test_leave_one_out_over_the_draws_of_every_rank(ranks):
    single = gradient(per_draw, *parameters(), scgrad.LeaveOneOut(), RANKS * S, draws=DRAWS[0])
    assert_all_close(averaged(ranks, "leave_one_out"), single)


def test_leave_one_out_with_one_draw_per_rank(ranks):
    single = gradient(per_draw, *parameters(), scgrad.LeaveOneOut(), RANKS, draws=DRAWS[0, :RANKS])
    assert_all_close(averaged(ranks, "leave_one_out_one_draw_each"), single)


def test_batch_average_over_the_draws_of_every_rank(ranks):
    single = gradient(per_draw, *parameters(), scgrad.BatchAverage(), RANKS * S, draws=DRAWS[1])
    assert_all_close(averaged(ranks, "batch_average_draws"), single)


def test_batch_average_over_the_data_of_every_rank(ranks):
    """Ranks hold different data points; one process holds the whole batch. Each rank's logits are its own
    slice, so the single-process gradient of the logits is the ranks' gradients side by side."""
    logits, weight = parameters(RANKS * B)
    draws = torch.cat([DRAWS[2, :S], DRAWS[2, S:]], 1)
    targets = torch.cat([TARGETS, TARGETS.flip(0)])
    single = gradient(per_draw, logits, weight, scgrad.BatchAverage(), S, targets, draws=draws)
    logits_grad = torch.cat([r["batch_average_data"][0] for r in ranks]) / RANKS
    assert_all_close([logits_grad, averaged(ranks, "batch_average_data")[1]], single)


def test_batch_average_over_batches_of_different_sizes(ranks):
    """Rank 0 holds 3 data points, rank 1 holds 2: the baseline is the one process's on all 5."""
    draws = torch.cat([DRAWS[2, :S], DRAWS[2, S:, : B - 1]], 1)
    logits = torch.cat([parameters(B)[0], parameters(B - 1)[0]]).detach()
    targets = torch.cat([TARGETS, TARGETS[: B - 1]])
    with scgrad.substitute({"b": draws}):
        obj = scgrad.surrogate(per_draw, logits, parameters()[1], scgrad.BatchAverage(), S, targets)
    assert_all_close([torch.cat([r["batch_average_uneven"] for r in ranks], 1)], [obj.parts["b"].baseline])


def test_moving_average_keeps_one_average_on_every_rank(ranks):
    average = scgrad.MovingAverage(decay=0.5)
    single = [g for step in range(3) for g in gradient(per_draw, *parameters(), average, RANKS * S, draws=DRAWS[step])]
    grads = averaged(ranks, "moving_average")[:-2]
    assert_all_close(grads, single)
    for rank in ranks:
        assert_all_close(rank["moving_average"][-2:], [average.average, average.count])


def test_vimco_over_the_draws_of_every_rank(ranks):
    single = iwae_gradient(RANKS * S, None, DRAWS[0])
    summed = [sum(grads) for grads in zip(*(r["vimco"] for r in ranks))]
    assert_all_close(summed, single)


@pytest.mark.parametrize(
    "name, names",
    [("mismatch_leave_one_out", "LeaveOneOut on node 'b'"), ("mismatch_vimco", "VIMCO on node 'z'"),
     ("mismatch_gather", "scgrad.distributed.gather")],
)
def test_different_draws_per_rank_raise_on_every_rank(ranks, name, names):
    for rank in ranks:
        assert names in rank[name], rank[name]
        assert "rank 0: (2, 3), rank 1: (3, 3)" in rank[name], rank[name]


def test_a_copy_shares_the_process_group(ranks):
    assert all(rank["copy_shares_the_group"] for rank in ranks)


@pytest.mark.parametrize("make", [scgrad.LeaveOneOut, scgrad.BatchAverage, scgrad.MovingAverage])
def test_a_group_needs_torch_distributed_initialised(make):
    logits, weight = parameters()
    with pytest.raises(scgrad.ScgradError, match="node 'b'.*not initialised.*init_process_group"):
        gradient(per_draw, logits, weight, make(group=WORLD), S, draws=DRAWS[0, :S])


def test_group_takes_a_process_group_or_world():
    with pytest.raises(scgrad.ScgradError, match="process group.*WORLD.*None.*got str"):
        scgrad.LeaveOneOut(group="world")
    baseline = scgrad.MovingAverage(group=WORLD)
    assert copy.deepcopy(baseline).group is WORLD
    assert pickle.loads(pickle.dumps(baseline)).group is WORLD
