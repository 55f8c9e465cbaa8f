"""RL agents: Stable-Baselines3 DDPG and PPO from frozen configs, actor export for serving, online DDPG.

``train_ddpg(env, DDPGConfig(), steps)`` / ``train_ppo(env, PPOConfig(), steps)`` return trained SB3 models;
``export_actor(model, folder)`` writes safetensors + ONNX; ``load_actor(folder)`` gives a numpy
``obs -> action`` function without unpickling; ``OnlineDDPG`` keeps a DDPG learning from live transitions
at a bounded rate while the decision path reads an immutable actor snapshot.
"""

from models.agents.benchmarks import (
    LatencyStats,
    actor_infer_latency_us,
    ppo_env_train_steps_per_s,
    ppo_pendulum_steps_per_s,
)
from models.agents.config import DDPGConfig, NoiseKind, PPOConfig
from models.agents.export import (
    ActorMLP,
    ExportedActor,
    NumpyActor,
    OnnxActor,
    TorchActor,
    actor_layers,
    export_actor,
    load_actor,
    load_torch_actor,
    read_actor,
)
from models.agents.online import OnlineConfig, OnlineDDPG, OnlineStats, Transition
from models.agents.training import (
    ProgressHook,
    SplitRateDDPG,
    TrainingProgress,
    log_progress,
    make_ddpg,
    make_ppo,
    torch_threads,
    train_ddpg,
    train_ppo,
)

__all__ = [
    "ActorMLP",
    "DDPGConfig",
    "ExportedActor",
    "LatencyStats",
    "NoiseKind",
    "NumpyActor",
    "OnlineConfig",
    "OnlineDDPG",
    "OnlineStats",
    "OnnxActor",
    "PPOConfig",
    "ProgressHook",
    "SplitRateDDPG",
    "TorchActor",
    "TrainingProgress",
    "Transition",
    "actor_infer_latency_us",
    "actor_layers",
    "export_actor",
    "load_actor",
    "load_torch_actor",
    "log_progress",
    "make_ddpg",
    "make_ppo",
    "ppo_env_train_steps_per_s",
    "ppo_pendulum_steps_per_s",
    "read_actor",
    "torch_threads",
    "train_ddpg",
    "train_ppo",
]
