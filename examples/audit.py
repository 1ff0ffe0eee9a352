"""Audit a program before trusting its gradient: a decoder that mixes a latent's batch rows, found and fixed.

The surrogate credits element ``i`` of a cost to element ``i`` of each node only (shapes aligned from the
right). A decoder that multiplies a ``[2, 3]`` Bernoulli latent by a matrix over its last dim mixes the
three elements of each row, so the score-function gradient is biased, and no shape shows it.
``scgrad.audit`` re-runs the program with one element changed at a time and names the cost that moved;
declaring the three elements one event (``D.Independent``) fixes it, and the audit then passes.

    .venv/bin/python examples/audit.py
"""

import torch
import torch.distributions as D

import scgrad

torch.manual_seed(0)
MIX = torch.randn(3, 3)
logits = torch.zeros(2, 3, requires_grad=True)


def decoder_mixing_rows():
    z = scgrad.sample("z", D.Bernoulli(logits=logits), scgrad.ScoreFunction())  # log-prob [2, 3]
    scgrad.cost("reconstruction", (z @ MIX - 1.0) ** 2)                           # [2, 3], each row mixed


def decoder_with_event_rows():
    z = scgrad.sample("z", D.Independent(D.Bernoulli(logits=logits), 1), scgrad.ScoreFunction())  # log-prob [2]
    scgrad.cost("reconstruction", ((z @ MIX - 1.0) ** 2).sum(-1))                                 # [2]


if __name__ == "__main__":
    print("as first written:")
    print(scgrad.audit(decoder_mixing_rows))
    print("\nwith each row one event:")
    print(scgrad.audit(decoder_with_event_rows))
