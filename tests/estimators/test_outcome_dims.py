"""A dim of the program's own that lands on an enumerated node's outcome dim, with the outcomes' size, is refused.

Enumerate lays a node's outcomes on the first dim left of the batch dims in use when it draws the node. A tensor
scgrad has not seen (data, a parameter, a later node's batch) can have a dim there of the same size; its elements
would pair with the outcomes and be summed as them, with the cost's shape what it would have been. Each program
here gave such a wrong number before; the truths are sums over outcomes written here, and the fixes the errors
name (leading size-1 batch dims, or the other node drawn first) give them.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributions as D

import scgrad
from scgrad import ScgradError

THETA = torch.tensor([0.3, -0.5, 1.0], dtype=torch.float64)
DATA = torch.tensor([[0.1, 0.7, 0.4], [0.9, 0.3, 0.6]], dtype=torch.float64)  # two data points, the latent [3] shared


def squared_error_truth(logits, data):
    p = logits.sigmoid()
    return (p * (1 - data) ** 2 + (1 - p) * data**2).mean()


def check_value_and_gradient(program, logits, truth):
    ours = scgrad.surrogate(program).loss
    torch.testing.assert_close(ours, truth)
    torch.testing.assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(truth, logits)[0])


@pytest.mark.parametrize("num_samples", [None, 2])
def test_data_with_a_dim_on_the_outcome_dim_is_refused_where_it_meets_the_value(num_samples):
    data = DATA if num_samples is None else DATA.unsqueeze(1)  # [2, 1, 3] against draws [2, 3]

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate(), num_samples=num_samples)
        scgrad.cost("c", (b - data) ** 2)

    with pytest.raises(ScgradError, match=r"enumerated node 'b'.*outcomes lie at dim .*dist\.expand"):
        scgrad.surrogate(program)


def test_the_check_follows_the_value_through_elementwise_calls_and_into_a_likelihood():
    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate())
        logits = 2.0 * b - 1.0  # elementwise: the outcomes stay at dim -2
        scgrad.cost("nll", -D.Bernoulli(logits=logits).log_prob(torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])))

    with pytest.raises(ScgradError, match="enumerated node 'b'"):
        scgrad.surrogate(program)


def test_a_scalar_node_meets_a_vector_of_its_outcomes_size():
    weights = torch.tensor([0.5, 2.0], dtype=torch.float64)

    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=THETA[0]), scgrad.Enumerate())  # outcomes on dim -1
        scgrad.cost("c", b * weights)

    with pytest.raises(ScgradError, match="enumerated node 'b'"):
        scgrad.surrogate(program)


def test_a_later_node_with_a_batch_dim_of_its_own_there_is_refused_and_one_drawn_from_the_value_is_not():
    other = torch.tensor([[0.2, 0.1, -0.3], [1.0, -1.0, 0.5]], dtype=torch.float64)

    def independent():
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate())
        c = scgrad.sample("c", D.Bernoulli(logits=other), scgrad.Enumerate())
        scgrad.cost("d", (b - c) ** 2)

    with pytest.raises(ScgradError, match=r"node 'c'.*not computed from 'b'"):
        scgrad.surrogate(independent)

    logits = THETA.clone().requires_grad_()
    table = torch.tensor([-0.4, 0.8], dtype=torch.float64)

    def child():  # c's batch [2, 3] is b's outcomes by the table's rows
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.Enumerate())
        c = scgrad.sample("c", D.Bernoulli(logits=table[b.long()]), scgrad.Enumerate())
        scgrad.cost("d", (b - c) ** 2)

    p, q = logits.sigmoid(), table.sigmoid()
    truth = ((1 - p) * q[0] + p * (1 - q[1])).mean()
    check_value_and_gradient(child, logits, truth)


def test_the_fixes_the_errors_name_give_the_truth():
    logits = THETA.clone().requires_grad_()

    def expanded():
        b = scgrad.sample("b", D.Bernoulli(logits=logits).expand([1, 3]), scgrad.Enumerate())
        scgrad.cost("c", (b - DATA) ** 2)

    check_value_and_gradient(expanded, logits, squared_error_truth(logits, DATA))

    def elementwise_through():
        b = scgrad.sample("b", D.Bernoulli(logits=logits).expand([1, 3]), scgrad.Enumerate())
        scgrad.cost("c", (2.0 * b - 1.0 - (2.0 * DATA - 1.0)) ** 2 / 4.0)

    check_value_and_gradient(elementwise_through, logits, squared_error_truth(logits, DATA))

    other = torch.tensor([[0.2, 0.1, -0.3], [1.0, -1.0, 0.5]], dtype=torch.float64)

    def other_first():
        c = scgrad.sample("c", D.Bernoulli(logits=other), scgrad.Enumerate())
        b = scgrad.sample("b", D.Bernoulli(logits=logits), scgrad.Enumerate())
        scgrad.cost("d", (b - c) ** 2)

    p, q = logits.sigmoid(), other.sigmoid()
    check_value_and_gradient(other_first, logits, (p * (1 - q) + (1 - p) * q).mean())


def test_data_on_the_nodes_own_dims_and_event_dims_is_not_refused():
    logits = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)  # 4 data points, 5 classes
    scores = torch.randn(4, 5, dtype=torch.float64)

    def program():  # one-hot value [5, 4, 5]: outcomes at dim -3, the data's [4, 5] on the batch and event dims
        z = scgrad.sample("z", D.OneHotCategorical(logits=logits), scgrad.Enumerate())
        scgrad.cost("c", (z * scores).sum(-1))

    truth = (logits.softmax(-1) * scores).sum(-1).mean()
    check_value_and_gradient(program, logits, truth)


def test_a_tensor_made_from_the_value_itself_is_not_refused_and_one_made_from_its_shape_is_told_how():
    def program(like: bool):
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate())
        noise = torch.randn_like(b) if like else torch.randn(b.shape, dtype=b.dtype)
        scgrad.cost("c", (b + 0.1 * noise) ** 2)

    scgrad.surrogate(program, True)
    with pytest.raises(ScgradError, match=r"randn_like"):
        scgrad.surrogate(program, False)


@pytest.mark.parametrize("transform", [torch.exp, torch.neg, torch.sigmoid, lambda b: b.float().clone()],
                         ids=["exp", "neg", "sigmoid", "float-clone"])
def test_the_check_follows_the_value_through_calls_on_it_alone(transform):
    def program():
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate())
        scgrad.cost("c", (transform(b) - DATA) ** 2)

    with pytest.raises(ScgradError, match="enumerated node 'b'"):
        scgrad.surrogate(program)


def test_a_likelihood_from_probs_is_checked_through_its_own_conversions():
    data = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=torch.float64)

    def program():  # Bernoulli(probs=...).log_prob takes logs of the value before meeting the data
        b = scgrad.sample("b", D.Bernoulli(logits=THETA), scgrad.Enumerate())
        scgrad.cost("nll", -D.Bernoulli(probs=0.1 + 0.6 * b).log_prob(data))

    with pytest.raises(ScgradError, match="enumerated node 'b'"):
        scgrad.surrogate(program)
