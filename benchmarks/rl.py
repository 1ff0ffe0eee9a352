"""Episodes and wall time to reach an environment's reward threshold, per policy-gradient method.

Methods, each training a 2-layer tanh policy with Adam on batches of episodes of a vectorised
gymnasium env (``--num-envs`` environments, one episode each per update, see ``scgrad.rl.episode``):

- ``reinforce``: ``ScoreFunction()``, reward-to-go credit from time order (scgrad);
- ``by_hand``: the same estimator written by hand (log-probs times reversed cumulative sums), checked to
  give the same gradient as ``reinforce`` from the same random numbers before anything is timed;
- ``actor_critic``: ``ScoreFunction(Critic(StateValue(value_net)).given(obs, weight))``, the value net
  fitted alongside the policy by ``Objective.backward()``;
- ``relax``: ``RELAX(StateActionControl(net).given(obs, weight))``, an action-dependent control variate
  of state and relaxed action tuned to minimise the gradient's variance (Grathwohl et al. 2018).

A run has reached the threshold when the mean return of the last ``--window`` training episodes is at
least the environment's ``reward_threshold`` (475 for CartPole-v1, -100 for Acrobot-v1); it stops
there, or after ``--max-episodes``. Wall time covers everything in the loop (environment steps
included) on ``--threads`` torch threads. Writes JSON and a PNG of the learning curves after every run.

    .venv/bin/python benchmarks/rl.py --envs CartPole-v1 --seeds 0 1 2 --out benchmarks/out/rl.json

The RELAX paper's protocol (Grathwohl et al. 2018: CartPole-v0, two layers of 10 ReLU units, RMSProp,
discount 0.99, entropy weight 0.01, one episode per update, 5 seeds; they report 1152 ± 90 episodes to
solve for A2C and 472 ± 114 for RELAX):

    .venv/bin/python benchmarks/rl.py --envs CartPole-v0 --methods actor_critic relax --seeds 0 1 2 3 4 \
        --num-envs 1 --hidden 10 --layers 2 --activation relu --optimiser rmsprop --gamma 0.99 \
        --entropy 0.01 --lr 0.01 --critic-lr 0.01 --out benchmarks/results/relax_paper/cartpole.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import torch
import torch.distributions as D
from torch import nn

import scgrad
from scgrad.rl import StateActionControl, StateValue, rollout

METHODS = ("reinforce", "by_hand", "actor_critic", "relax")


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(inputs: int, outputs: int, hidden: int = 64, layers: int = 1, activation: str = "tanh") -> nn.Module:
    """``layers`` hidden layers of ``hidden`` units (tanh or ReLU), then a linear output."""
    widths = [inputs] + [hidden] * layers
    parts = [module for a, b in zip(widths, widths[1:]) for module in (nn.Linear(a, b), ACTIVATIONS[activation]())]
    return nn.Sequential(*parts, nn.Linear(widths[-1], outputs))


def entropy_of(logits: list[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """The policy's entropy summed over each episode's steps (``logits[t]``: ``[N, A]``), averaged over episodes."""
    entropy = D.Categorical(logits=torch.stack(logits)).entropy()
    alive = torch.arange(len(logits)).unsqueeze(-1) < lengths.unsqueeze(0)
    return (entropy * alive).sum(0).mean()


def by_hand_loss(envs, policy, gamma: float, seed):
    """Plain REINFORCE with reward-to-go, written out: the same estimator as ``scgrad.rl.episode``.

    Returns the loss (value: minus the mean discounted return) and the undiscounted returns.
    """
    observation, _ = envs.reset(seed=seed)
    alive = torch.ones(envs.num_envs, dtype=torch.bool)
    log_probs, costs, returns = [], [], torch.zeros(envs.num_envs)
    t = 0
    while bool(alive.any()):
        obs = torch.as_tensor(observation, dtype=torch.float32)
        weight = alive.to(obs.dtype) * gamma**t
        logits = policy(obs)
        dist = D.Categorical(logits=torch.where(alive.unsqueeze(-1), logits, logits.detach()))
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        observation, reward, terminated, truncated, _ = envs.step(action.numpy())
        reward = torch.as_tensor(reward, dtype=obs.dtype)
        costs.append(-weight * reward)
        returns += alive * reward
        alive = alive & ~torch.as_tensor(terminated | truncated)
        t += 1
    costs = torch.stack(costs)
    to_go = costs.flip(0).cumsum(0).flip(0)
    return costs.sum(0).mean() + (torch.stack(log_probs) * to_go).mean(1).sum(), returns


class Agent:
    """One method's policy, learned parts and optimiser; ``update(seed)`` plays a batch and steps."""

    def __init__(self, method: str, envs, gamma: float, lr: float, critic_lr: float, hidden: int = 64,
                 layers: int = 1, activation: str = "tanh", optimiser: str = "adam", entropy: float = 0.0):
        obs_dim = envs.single_observation_space.shape[0]
        actions = int(envs.single_action_space.n)
        self.method, self.envs, self.gamma, self.entropy = method, envs, gamma, entropy
        shape = {"hidden": hidden, "layers": layers, "activation": activation}
        self.policy = mlp(obs_dim, actions, **shape)
        groups = [{"params": self.policy.parameters(), "lr": lr}]
        self.estimator = None
        if method == "actor_critic":
            value = mlp(obs_dim, 1, **shape)
            critic = scgrad.Critic(StateValue(value))
            self.estimator = lambda step: scgrad.ScoreFunction(critic.given(step.obs, step.weight))
            groups.append({"params": value.parameters(), "lr": critic_lr})
        elif method == "relax":
            net = mlp(obs_dim + actions, 1, **shape)
            control = StateActionControl(net)
            self.estimator = lambda step: scgrad.RELAX(control.given(step.obs, step.weight))
            groups.append({"params": net.parameters(), "lr": critic_lr})
        self.optimiser = torch.optim.RMSprop(groups) if optimiser == "rmsprop" else torch.optim.Adam(groups)

    def update(self, seed) -> torch.Tensor:
        """One batch of episodes and one optimiser step; returns the episodes' undiscounted returns."""
        self.optimiser.zero_grad()
        if self.method == "by_hand":
            loss, returns = by_hand_loss(self.envs, self.policy, self.gamma, seed)
            loss.backward()
        else:
            logits: list[torch.Tensor] = []

            def policy(obs):
                logits.append(self.policy(obs))
                return logits[-1]

            objective, played = rollout(self.envs, policy, self.estimator, gamma=self.gamma, seed=seed)
            if self.entropy:  # first, keeping the policy's graph for the objective's backward
                (-self.entropy * entropy_of(logits, played.lengths)).backward(retain_graph=True)
            objective.backward()
            returns = played.returns
        self.optimiser.step()
        return returns


def check_same_gradient(env_id: str, num_envs: int, gamma: float) -> None:
    """``reinforce`` and ``by_hand`` give the same gradient from the same seeds (they are one estimator)."""
    grads = []
    for method in ("reinforce", "by_hand"):
        torch.manual_seed(0)
        envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
        agent = Agent(method, envs, gamma, lr=0.0, critic_lr=0.0)
        agent.update(seed=0)
        grads.append([p.grad.clone() for p in agent.policy.parameters()])
        envs.close()
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def train(env_id: str, method: str, seed: int, args) -> dict:
    """Train until the threshold or ``--max-episodes``; episodes and seconds to threshold, and the curve."""
    threshold = gym.spec(env_id).reward_threshold
    torch.manual_seed(seed)
    envs = gym.make_vec(env_id, num_envs=args.num_envs, vectorization_mode="sync")
    agent = Agent(method, envs, args.gamma, args.lr, args.critic_lr, args.hidden, args.layers, args.activation,
                  args.optimiser, args.entropy)
    history: list[float] = []
    curve = {"episodes": [], "mean_return": [], "seconds": []}
    reached = None
    start = time.perf_counter()
    while len(history) < args.max_episodes:
        returns = agent.update(seed=seed if not history else None)
        history += returns.tolist()
        elapsed = time.perf_counter() - start
        curve["episodes"].append(len(history))
        curve["mean_return"].append(float(returns.mean()))
        curve["seconds"].append(elapsed)
        recent = history[-args.window:]
        if len(recent) == args.window and sum(recent) / args.window >= threshold:
            reached = {"episodes": len(history), "seconds": elapsed}
            break
    envs.close()
    return {"reached": reached, "curve": curve}


def plot(results: dict, thresholds: dict, path: Path) -> None:
    """Mean return per batch against episodes, one panel per environment, one colour per method.

    ``by_hand`` is dashed: it plays the same episodes as ``reinforce`` (same estimator, same seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (env_id, by_method) in zip(axes[0], results.items()):
        for colour, (method, runs) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], by_method.items()):
            for i, run in enumerate(runs.values()):
                curve = run["curve"]
                ax.plot(curve["episodes"], curve["mean_return"], color=colour, alpha=0.7, lw=1,
                        ls="--" if method == "by_hand" else "-", label=method if i == 0 else None)
        ax.axhline(thresholds[env_id], color="black", ls="--", lw=1)
        ax.set(title=env_id, xlabel="episodes", ylabel="mean return of the batch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summarise(runs: dict) -> dict:
    """How many seeds reached the threshold; the median, mean and standard error of episodes over those."""
    reached = [r["reached"] for r in runs.values() if r["reached"] is not None]

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2

    episodes = [r["episodes"] for r in reached]
    mean = sum(episodes) / len(episodes) if episodes else None
    spread = (sum((e - mean) ** 2 for e in episodes) / (len(episodes) - 1)) ** 0.5 if len(episodes) > 1 else None
    return {
        "seeds_reached": len(reached),
        "seeds": len(runs),
        "median_episodes": median(episodes) if reached else None,
        "mean_episodes": mean,
        "standard_error_episodes": spread / len(episodes) ** 0.5 if spread is not None else None,
        "median_seconds": median([r["seconds"] for r in reached]) if reached else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--num-envs", type=int, default=8, help="environments (episodes) per update")
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=0.01, help="policy learning rate (Adam)")
    parser.add_argument("--critic-lr", type=float, default=0.01, help="learning rate of the critic or control (Adam)")
    parser.add_argument("--window", type=int, default=100, help="training episodes averaged against the threshold")
    parser.add_argument("--max-episodes", type=int, default=3000)
    parser.add_argument("--hidden", type=int, default=64, help="units per hidden layer (policy, critic, control)")
    parser.add_argument("--layers", type=int, default=1, help="hidden layers")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    parser.add_argument("--optimiser", choices=["adam", "rmsprop"], default="adam")
    parser.add_argument("--entropy", type=float, default=0.0, help="weight of the policy's entropy bonus (summed over steps)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/rl.json"))
    args = parser.parse_args(argv)
    if args.entropy and "by_hand" in args.methods:
        parser.error("--entropy: the by_hand method has no entropy bonus; leave it out of --methods")
    torch.set_num_threads(args.threads)

    thresholds = {env_id: gym.spec(env_id).reward_threshold for env_id in args.envs}
    results = {env_id: {method: {} for method in args.methods} for env_id in args.envs}
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for env_id in args.envs:
        check_same_gradient(env_id, args.num_envs, args.gamma)
        for seed in args.seeds:  # every method gets a seed before any gets the next: partial runs stay comparable
            for method in args.methods:
                results[env_id][method][str(seed)] = run = train(env_id, method, seed, args)
                reached = run["reached"]
                done = f"{reached['episodes']:5d} episodes {reached['seconds']:7.1f} s" if reached else "not reached"
                print(f"{env_id:12s} {method:13s} seed {seed}: {done}", flush=True)
                summary = {e: {m: summarise(runs) for m, runs in by_method.items() if runs} for e, by_method in results.items()}
                args.out.write_text(json.dumps({"config": config, "thresholds": thresholds, "summary": summary, "runs": results}, indent=2))
                plot(results, thresholds, args.out.with_suffix(".png"))
    for env_id, by_method in summary.items():
        for method, s in by_method.items():
            spread = f" ± {s['standard_error_episodes']:.0f}" if s["standard_error_episodes"] is not None else ""
            print(f"{env_id:12s} {method:13s} reached {s['seeds_reached']}/{s['seeds']}, mean {s['mean_episodes']}"
                  f"{spread} episodes (median {s['median_episodes']}, {s['median_seconds']} s)")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
