"""Neural policies: saferl's model format, trainers (PPO, TD3) and the SB3 importer.

Importing this package does not import torch: the format and inference are numpy only,
and the trainers (:mod:`saferl.learn.ppo`, :mod:`saferl.learn.td3`) import torch when
they are imported themselves.

Example:
    >>> from saferl.learn import load_model
    >>> policy = load_model("oracles/cartpole-ppo")     # doctest: +SKIP
"""

from __future__ import annotations

from saferl.learn.evaluate import ReturnStats, evaluate_policy
from saferl.learn.model import NeuralPolicy, load_model, save_model
from saferl.learn.sb3 import load_sb3_zip

__all__ = ["NeuralPolicy", "ReturnStats", "evaluate_policy", "load_model", "load_sb3_zip", "save_model"]
