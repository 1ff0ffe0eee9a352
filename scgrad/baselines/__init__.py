"""Baselines for the score function, one per file."""

from scgrad.baselines.base import Baseline, Prediction
from scgrad.baselines.batch_average import BatchAverage
from scgrad.baselines.critic import Critic
from scgrad.baselines.leave_one_out import LeaveOneOut
from scgrad.baselines.moving_average import MovingAverage
from scgrad.baselines.vimco import VIMCO

__all__ = ["Baseline", "BatchAverage", "Critic", "LeaveOneOut", "MovingAverage", "Prediction", "VIMCO"]
