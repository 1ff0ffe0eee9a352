"""Reinforcement learning: episodes of vectorised (gymnasium) environments as scgrad programs.

Nothing here imports gymnasium (the ``rl`` extra): :func:`episode` takes any vector env with the
gymnasium interface (``reset(seed=...)``, ``step(actions)``, ``num_envs``).
"""

from scgrad.rl.critics import BoundControl, StateActionControl, StateValue
from scgrad.rl.episode import Episodes, Step, episode, rollout

__all__ = ["BoundControl", "Episodes", "StateActionControl", "StateValue", "Step", "episode", "rollout"]
