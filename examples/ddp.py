"""A discrete VAE trained with DistributedDataParallel, the draws split across processes.

Every rank takes the same minibatch of scikit-learn's 8x8 digits (binarised) and draws its own
``--samples`` latents per image; ``LeaveOneOut(group=WORLD)`` gives each draw the mean cost of the
other ``ranks * samples - 1`` draws of every rank, and DDP averages the gradients, so each step is
the REINFORCE leave-one-out estimate one process would compute with ``ranks * samples`` draws.

    .venv/bin/torchrun --nproc_per_node 2 examples/ddp.py            # gloo, CPU
    .venv/bin/torchrun --nproc_per_node 2 examples/ddp.py --steps 500
"""

import argparse
import time

import torch
import torch.distributed as dist
import torch.distributions as D
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import scgrad
from scgrad.data import load_digits
from scgrad.distributed import WORLD

LATENTS = 16


class VAE(nn.Module):
    """16 Bernoulli latents, 64-128-16 encoder, mirrored decoder, uniform prior."""

    def __init__(self, baseline: scgrad.Baseline):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, LATENTS))
        self.decoder = nn.Sequential(nn.Linear(LATENTS, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64))
        self.estimator = scgrad.ScoreFunction(baseline)

    def posterior(self, x):
        return D.Independent(D.Bernoulli(logits=self.encoder(x)), 1)

    def kl(self, q):
        prior = D.Independent(D.Bernoulli(probs=torch.full_like(q.base_dist.logits, 0.5)), 1)
        return D.kl_divergence(q, prior)

    def nll(self, z, x):
        return -D.Independent(D.Bernoulli(logits=self.decoder(z)), 1).log_prob(x)

    def forward(self, x: torch.Tensor, num_samples: int) -> None:
        """The negative ELBO as a program; DDP's forward runs it, so its gradient hooks see every parameter."""
        q = self.posterior(x)
        scgrad.cost("kl", self.kl(q))                                          # [B], before z: not downstream of it
        z = scgrad.sample("z", q, self.estimator, num_samples=num_samples)     # [S, B, 16]
        scgrad.cost("nll", self.nll(z, x))                                     # [S, B]: one cost per draw


def mean_over_ranks(value: torch.Tensor) -> float:
    value = value.detach().clone()
    dist.all_reduce(value)
    return value.item() / dist.get_world_size()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=2, help="draws per image on each rank")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
    rank, ranks = dist.get_rank(), dist.get_world_size()

    data = load_digits()
    train, test = (data.train > 0.5).float(), (data.test > 0.5).float()
    torch.manual_seed(args.seed)                   # the same initial model on every rank (DDP also broadcasts it)
    model = DistributedDataParallel(VAE(scgrad.LeaveOneOut(group=WORLD)))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = torch.Generator().manual_seed(args.seed)  # the same minibatches on every rank
    torch.manual_seed(args.seed + 1 + rank)        # different draws on every rank
    if rank == 0:
        print(f"{ranks} ranks x {args.samples} draws per image = leave-one-out over {ranks * args.samples} draws; "
              f"batch {args.batch}, {args.steps} steps")

    start, recent = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        x = train[torch.randint(len(train), (args.batch,), generator=batches)]
        optimiser.zero_grad()
        objective = scgrad.surrogate(model, x, args.samples)
        objective.backward()                       # DDP averages the gradients across ranks
        optimiser.step()
        recent.append(objective.cost)
        if step % (args.steps // 5) == 0:
            train_elbo = mean_over_ranks(torch.stack(recent).mean())
            recent = []
            if rank == 0:
                print(f"step {step:5d}  train -ELBO {train_elbo:7.3f}  ({time.perf_counter() - start:5.1f} s)")

    with torch.no_grad():
        test_value = mean_over_ranks(torch.stack([negative_elbo(model.module, test) for _ in range(10)]).mean())
        flat = torch.cat([p.flatten() for p in model.parameters()])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, dist.ReduceOp.MIN)
        dist.all_reduce(high, dist.ReduceOp.MAX)
    if rank == 0:
        print(f"test -ELBO {test_value:7.3f} (one draw per image, 10 repeats per rank); "
              f"parameters identical on every rank: {torch.equal(low, high)}")
    dist.destroy_process_group()


def negative_elbo(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """The test objective, one draw per image, outside scgrad."""
    q = model.posterior(x)
    return (model.nll(q.sample(), x) + model.kl(q)).mean()


if __name__ == "__main__":
    main()
