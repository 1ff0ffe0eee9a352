"""Episodes of a vectorised environment as scgrad programs: one action node and one cost per step.

Each environment of a vector env is one batch element and plays exactly one episode; the program
ends when every environment has finished. An environment that finishes early waits: at its later
steps its action's log-prob carries no gradient and its cost is zero, so nothing that happens after
its episode (the autoreset of a ``gym.make_vec`` env starts a new one) is credited to its actions,
and the episode's actions are credited only with their own episode's rewards. By time order the
action at step ``t`` is credited with the costs of steps ``t, t+1, ...``: reward-to-go. Under
``scgrad.provenance()`` the environment's outputs carry the provenance of every action before them (its
state depends on all of them), which gives the same credit.

Discounting scales each step's cost: the cost at step ``t`` is ``-gamma**t * reward_t``, so the
objective is minus the expected discounted return from the first step,
``-E[sum_t gamma**t r_t]``, and its gradient estimate is the exact (unbiased) one for it:
``sum_t gamma**t d log pi(a_t | s_t) G_t`` with ``G_t = sum_{t' >= t} gamma**(t' - t) r_t'``.
This is not the common per-step estimator ``sum_t d log pi(a_t | s_t) G_t`` (without the
``gamma**t``), which is the gradient of no objective; ``gamma = 1`` (the default) makes the two agree
and optimises the undiscounted return, the quantity a reward threshold measures.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.distributions as D

from scgrad.core.primitives import cost, sample
from scgrad.core.provenance import provenance_of, strip, with_provenance
from scgrad.core.objective import Objective
from scgrad.program import surrogate
from scgrad.errors import ScgradError
from scgrad.core.protocol import Estimator
from scgrad.estimators.components import ComponentEstimator
from scgrad.estimators.score_function import ScoreFunction


class Step(NamedTuple):
    """What a per-step estimator may look at; nothing of it depends on the step's action.

    Attributes:
        t: the step, from 0.
        obs: the observations at the step, ``[N, *obs_shape]`` float32.
        weight: ``[N]``, the factor of each environment's reward in its cost at this step:
            ``gamma**t`` while the environment's episode runs, 0 once it has finished. The costs
            credited to the step's action add up to ``weight * -(discounted return to go)``.
    """

    t: int
    obs: torch.Tensor
    weight: torch.Tensor


class Episodes(NamedTuple):
    """What one run of :func:`episode` played: per environment, ``returns`` (undiscounted, float) and
    ``lengths`` (steps, long), each of shape ``[N]``."""

    returns: torch.Tensor
    lengths: torch.Tensor


def episode(
    envs,
    policy: Callable[[torch.Tensor], torch.Tensor],
    estimator: Callable[[Step], Estimator] | None = None,
    *,
    gamma: float = 1.0,
    seed: int | None = None,
) -> Episodes:
    """An scgrad program: one episode in each environment of ``envs``, one action node and one cost per step.

    Run it under :func:`scgrad.surrogate` to train (or use :func:`rollout`), or call it directly to
    evaluate the policy. Node ``f"action{t}"`` is the step's ``Categorical`` action (batch ``[N]``),
    cost ``f"cost{t}"`` is ``-weight * reward`` (see :class:`Step`, and the module's docstring for what
    the discount means).

    Args:
        envs: a vector env with a discrete action space (``gym.make_vec(id, num_envs=N,
            vectorization_mode="sync")``); it is reset with ``seed`` at the start.
        policy: maps observations ``[N, *obs_shape]`` to action logits ``[N, A]``.
        estimator: maps each :class:`Step` to the estimator of its action, e.g.
            ``lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight))``; ``None``: plain
            ``ScoreFunction()`` (REINFORCE with reward-to-go). Build what does not depend on the
            step once, outside, and return it (a ``MovingAverage`` shared by the steps stays unbiased:
            every step reads the average from before the episode, and it absorbs the episode's costs
            once every step has read it).
        gamma: discount, in ``(0, 1]``.
        seed: passed to ``envs.reset``.
    """
    if not 0.0 < gamma <= 1.0:
        raise ScgradError(f"scgrad.rl.episode: gamma must lie in (0, 1]; got {gamma!r}.")
    plain = ScoreFunction() if estimator is None else None
    observation, _ = envs.reset(seed=seed)
    alive = torch.ones(envs.num_envs, dtype=torch.bool)
    returns = torch.zeros(envs.num_envs)
    lengths = torch.zeros(envs.num_envs, dtype=torch.long)
    t = 0
    history = frozenset()  # the nodes the environment's state depends on, where provenance is tracked
    while bool(alive.any()):
        obs = with_provenance(torch.as_tensor(observation, dtype=torch.float32), history)
        weight = alive.to(obs.dtype) * gamma**t
        logits = policy(obs)
        if logits.shape[:1] != alive.shape or logits.dim() != 2:
            raise ScgradError(
                f"scgrad.rl.episode: the policy must map observations of shape {tuple(obs.shape)} to logits of "
                f"shape ({envs.num_envs}, number of actions); got {tuple(logits.shape)}."
            )
        logits = torch.where(alive.unsqueeze(-1), logits, logits.detach())
        chosen = plain if estimator is None else estimator(Step(t, obs, weight))
        if seed is None and isinstance(chosen, ComponentEstimator):
            raise ScgradError(
                f"scgrad.rl.episode: node 'action{t}' has {type(chosen).__name__}(), which re-runs the episode to "
                f"evaluate its cost at other actions, but seed=None resets the environments to new states on each "
                f"run, so the re-runs would play other episodes. Pass seed= (e.g. a fresh int per rollout)."
            )
        action = sample(f"action{t}", D.Categorical(logits=logits), chosen)
        _check_action(t, chosen, strip(action), envs.num_envs)
        history = history | provenance_of(action)
        observation, reward, terminated, truncated, _ = envs.step(strip(action).numpy())
        reward = with_provenance(torch.as_tensor(reward, dtype=obs.dtype), history)
        cost(f"cost{t}", -weight * reward)
        returns += alive * strip(reward)
        lengths += alive
        alive = alive & ~torch.as_tensor(terminated | truncated)
        t += 1
    return Episodes(returns, lengths)


def _check_action(t: int, chosen, played: torch.Tensor, count: int) -> None:
    """Refuse an action value an environment cannot play: one index per environment, without gradient."""
    if played.shape == (count,) and not played.requires_grad:
        return
    name = type(chosen).__name__
    if getattr(chosen, "pathwise", False):
        why = f"{name} passes the gradient through the action's value (a vector on the simplex), which no environment carries."
    elif played.dim() > 1:
        why = f"{name} gives every action at once, on a dim of its own, where an environment plays one."
    else:
        why = f"{name} gives a value with a gradient."
    raise ScgradError(
        f"scgrad.rl.episode: node 'action{t}' has value shape {tuple(played.shape)}, but the environments take one "
        f"action index each, shape ({count},): {why} Use an estimator that draws one action per environment: "
        f"ScoreFunction() (with any baseline), RELAX(), MeasureValued() or IndeCateR()."
    )


def rollout(envs, policy, estimator=None, *, gamma: float = 1.0, seed: int | None = None) -> tuple[Objective, Episodes]:
    """:func:`episode` under :func:`scgrad.surrogate`: the :class:`~scgrad.Objective` and what was played.

    Arguments as for :func:`episode`. ``objective.backward()`` estimates the gradient of minus the
    expected discounted return (mean over environments) and fits the estimators' learned parts.
    """
    played = []
    objective = surrogate(lambda: played.append(episode(envs, policy, estimator, gamma=gamma, seed=seed)))
    return objective, played[0]
