"""The one seeding function: every stochastic component draws from a generator made here."""

from __future__ import annotations

import os
import random

import numpy as np


def make_rng(seed: int) -> np.random.Generator:
    """Return a NumPy generator (PCG64) for ``seed``; components never use global NumPy state."""
    if seed < 0:
        raise ValueError(f"seed: must be >= 0, got {seed}")
    return np.random.default_rng(seed)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when installed) torch globally, and return a fresh generator.

    Libraries that keep global state (Stable-Baselines3, torch initialisers) need the global
    seeds; our own code takes the returned generator explicitly.
    """
    rng = make_rng(seed)
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # torch is optional for the pure market-data layer
        return rng
    torch.manual_seed(seed)
    return rng
