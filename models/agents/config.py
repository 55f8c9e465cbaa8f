"""Frozen, keyword-only configs of the DDPG and PPO agents, validated with errors that name the field.

``DDPGConfig`` keeps the seed's fields (``state_dim``, ``action_dim``, ``hidden_dim``) and adds what
DDPG needs (Lillicrap et al. 2016, https://arxiv.org/abs/1509.02971): separate actor and critic
learning rates, the discount, the soft target update ``tau``, the replay buffer and the exploration noise.
Defaults follow the paper where SB3 does not know better; ``state_dim`` defaults to the trading env's
observation width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.env.config import check_int, check_number
from models.env.observation import OBSERVATION_DIM

NoiseKind = Literal["normal", "ornstein_uhlenbeck", "none"]


def _check_common(owner: DDPGConfig | PPOConfig) -> None:
    """Checks of the fields both configs share."""
    check_int(owner, "state_dim", 1)
    check_int(owner, "action_dim", 1)
    check_int(owner, "hidden_dim", 1, 65_536)
    arch = owner.net_arch
    if arch is not None and not (
        isinstance(arch, tuple) and arch and all(isinstance(w, int) and 1 <= w <= 65_536 for w in arch)
    ):
        raise ValueError(f"net_arch: must be None or a non-empty tuple of layer widths in [1, 65536], got {arch!r}")
    check_number(owner, "gamma", 0.0, 1.0)
    check_int(owner, "batch_size", 1)
    check_int(owner, "seed", 0, 2**32 - 1)
    check_int(owner, "torch_threads", 1, 1_024)
    device = owner.device
    if not isinstance(device, str) or not (device in ("cpu", "cuda", "mps", "auto") or device.startswith("cuda:")):
        raise ValueError(f"device: must be cpu, cuda, cuda:N, mps or auto, got {device!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class DDPGConfig:
    """DDPG: deterministic actor, Q critic, target networks of both updated softly by ``tau``."""

    state_dim: int = OBSERVATION_DIM
    """Observation width; checked against the env's observation space."""
    action_dim: int = 3
    """Action width: the seed's [size, entry_factor, exit_factor]."""
    hidden_dim: int = 256
    """Width of each of the two hidden layers of actor and critic (the seed's field)."""
    net_arch: tuple[int, ...] | None = None
    """Hidden layer widths overriding ``(hidden_dim, hidden_dim)``, e.g. (400, 300) as in the paper."""
    actor_lr: float = 1e-4
    """Adam learning rate of the actor (the paper's 1e-4)."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic (the paper's 1e-3)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Soft target update: theta_target <- tau theta + (1 - tau) theta_target after every gradient step."""
    buffer_size: int = 200_000
    """Replay buffer capacity, in transitions."""
    batch_size: int = 256
    """Minibatch size of each gradient step."""
    learning_starts: int = 1_000
    """Transitions collected (with random actions) before the first gradient step."""
    train_freq: int = 1
    """Environment steps between training rounds."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
    noise: NoiseKind = "normal"
    """Exploration noise on the actor's action: Gaussian, Ornstein-Uhlenbeck (the paper's) or none."""
    noise_std: float = 0.1
    """Standard deviation of the exploration noise, in units of the action's half-range."""
    seed: int = 0
    """Seed of Python, NumPy, torch and the env (``models.seeding.seed_everything``)."""
    device: str = "cpu"
    """Torch device; the device manager decides it for callers that want more than the CPU."""
    torch_threads: int = 1
    """Torch intra-op threads while training: small MLPs run faster (and reproducibly) on one."""

    def __post_init__(self) -> None:
        _check_common(self)
        check_number(self, "actor_lr", 0.0, 1.0, open_low=True)
        check_number(self, "critic_lr", 0.0, 1.0, open_low=True)
        check_number(self, "tau", 0.0, 1.0, open_low=True)
        check_int(self, "buffer_size", 1)
        check_int(self, "learning_starts", 0)
        check_int(self, "train_freq", 1)
        check_int(self, "gradient_steps", 1)
        if self.noise not in ("normal", "ornstein_uhlenbeck", "none"):
            raise ValueError(f"noise: must be normal, ornstein_uhlenbeck or none, got {self.noise!r}")
        check_number(self, "noise_std", 0.0, 10.0)

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        return self.net_arch or (self.hidden_dim, self.hidden_dim)


@dataclass(frozen=True, kw_only=True, slots=True)
class PPOConfig:
    """PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347) with a Gaussian policy; SB3 defaults."""

    state_dim: int = OBSERVATION_DIM
    """Observation width; checked against the env's observation space."""
    action_dim: int = 3
    """Action width: the seed's [size, entry_factor, exit_factor]."""
    hidden_dim: int = 64
    """Width of each of the two hidden layers of the policy and value networks."""
    net_arch: tuple[int, ...] | None = None
    """Hidden layer widths overriding ``(hidden_dim, hidden_dim)``."""
    learning_rate: float = 3e-4
    """Adam learning rate of the shared optimiser."""
    n_steps: int = 2_048
    """Environment steps per rollout."""
    batch_size: int = 64
    """Minibatch size of each gradient step."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda (Schulman et al. 2016)."""
    clip_range: float = 0.2
    """Clipping of the probability ratio."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient norm clip."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy."""
    seed: int = 0
    """Seed of Python, NumPy, torch and the env (``models.seeding.seed_everything``)."""
    device: str = "cpu"
    """Torch device."""
    torch_threads: int = 1
    """Torch intra-op threads while training."""

    def __post_init__(self) -> None:
        _check_common(self)
        check_number(self, "learning_rate", 0.0, 1.0, open_low=True)
        check_int(self, "n_steps", 2)
        check_int(self, "n_epochs", 1)
        check_number(self, "gae_lambda", 0.0, 1.0)
        check_number(self, "clip_range", 0.0, 10.0, open_low=True)
        check_number(self, "ent_coef", 0.0, 10.0)
        check_number(self, "vf_coef", 0.0, 10.0)
        check_number(self, "max_grad_norm", 0.0, 1e6, open_low=True)
        check_number(self, "log_std_init", -20.0, 5.0)

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        return self.net_arch or (self.hidden_dim, self.hidden_dim)
