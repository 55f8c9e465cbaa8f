"""The seed's configuration objects: one master config over the platform's own component configs.

Four of the seed's configs are the platform's configs under the seed's names, so a field means the
same thing wherever it is set: ``DDPGConfig`` (``models.agents``), ``ContextualBanditConfig``
(``models.bandit``), ``DeviceManagerConfig`` (``models.device``) and ``FlinkConfig``, which is
``models.streaming.processor.StreamConfig`` (the seed's ``parallelism`` and ``buffer_size``).
Two are the Python API's own: ``FeatureConfig`` (the seed's feature-store settings, not
``models.features.definitions.FeatureConfig``, which holds feature windows) and ``ExplanationConfig``.

What the Python API does with each is said on the field and reported by ``get_system_status()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from models.agents import DDPGConfig
from models.bandit import ContextualBanditConfig
from models.device import DeviceManagerConfig
from models.env.config import check_int
from models.streaming.processor import StreamConfig
from serving.decision.config import Clock
from serving.decision.training import BundleTrainingConfig

FlinkConfig = StreamConfig
"""The seed's streaming-ETL config: ``parallelism`` and ``buffer_size`` (plus lateness and dedup settings)."""
Agent = Literal["ddpg", "ppo"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureConfig:
    """The seed's feature-store settings (Feast online store on Redis).

    The Python API computes each symbol's features in process, from the events it is given (the
    streaming feature state of the decision path), and neither reads nor pushes the online store on
    the per-event path. The platform's online store is chosen by ``orchestration.settings``
    (``REDIS_URL``); these fields are validated and reported in ``get_system_status()``.
    """

    redis_host: str = "localhost"
    redis_port: int = 6379
    cache_ttl: int = 300
    """Seconds an online feature value stays valid."""

    def __post_init__(self) -> None:
        if not isinstance(self.redis_host, str) or not self.redis_host.strip():
            raise ValueError(f"redis_host: must be a non-empty string, got {self.redis_host!r}")
        check_int(self, "redis_port", 1, 65_535)
        check_int(self, "cache_ttl", 1)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplanationConfig:
    """The seed's explanation settings (SHAP values per decision).

    Maps onto ``serving.safety.explain.ExplanationConfig``: ``enable_real_time_explanation`` -> ``enabled``,
    ``shap_sample_size`` -> ``background_size`` (background rows DeepSHAP integrates over, at most those saved
    beside the actor).
    """

    enable_real_time_explanation: bool = True
    shap_sample_size: int = 100
    """Background samples the SHAP explainer draws."""

    def __post_init__(self) -> None:
        if not isinstance(self.enable_real_time_explanation, bool):
            raise ValueError(f"enable_real_time_explanation: must be a bool, got {self.enable_real_time_explanation!r}")
        check_int(self, "shap_sample_size", 1)


_COMPONENTS: dict[str, type] = {
    "feature_store_config": FeatureConfig,
    "etl_config": StreamConfig,
    "ddpg_config": DDPGConfig,
    "bandit_config": ContextualBanditConfig,
    "device_config": DeviceManagerConfig,
    "explanation_config": ExplanationConfig,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class MLOptimizationConfig:
    """The seed's master config; the fields after the seed's six are the Python API's own."""

    feature_store_config: FeatureConfig = field(default_factory=FeatureConfig)
    etl_config: StreamConfig = field(default_factory=StreamConfig)
    """The engine's streaming feature state (dedup, lateness); ``parallelism`` applies to ``rtopt stream``
    workers: the Python API decides in the caller's process, one event at a time."""
    ddpg_config: DDPGConfig = field(default_factory=DDPGConfig)
    """Describes a DDPG actor to train. A served actor keeps the widths it was trained with; where they
    differ from this config, a warning says so and ``get_system_status()["config_mismatches"]`` lists them."""
    bandit_config: ContextualBanditConfig = field(default_factory=ContextualBanditConfig)
    """Compared with the served bandit's config like ``ddpg_config``; the served (registered) bandit wins."""
    device_config: DeviceManagerConfig = field(default_factory=DeviceManagerConfig)
    """The device choice is reported; serving runs the actor's numpy forward pass on the CPU."""
    explanation_config: ExplanationConfig = field(default_factory=ExplanationConfig)
    agent: Agent = "ddpg"
    """Which registered actor sizes orders (``rtopt-ddpg`` or ``rtopt-ppo``); DDPG, as the seed configures it."""
    clock: Clock = "wall"
    """Feature age against the wall clock (live data); "market" for replays of history, where the newest
    event time is "now". With "wall", events older than ``max_feature_age`` give HOLD (stale_features)."""
    max_feature_age: timedelta = timedelta(minutes=5)
    fallback_agent_steps: int = 512
    """Agent training steps of the bundle trained on the shipped sample when the registry has no champion."""
    fallback_regime_bars: int = 1_000
    """Bars per simulated market the fallback regime detector is fitted on."""
    seed: int = 0
    """Seed of the fallback training."""
    audit_log: bool = True
    """Append every decision and rejected event to the hash-chained SQLite audit log under RTOPT_HOME."""
    progress: bool = True
    """Print what the orchestrator does (where the models come from) to stderr; it is logged at INFO too."""

    def __post_init__(self) -> None:
        for name, kind in _COMPONENTS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise ValueError(f"{name}: must be a {kind.__module__}.{kind.__name__}, got {type(value).__name__}")
        if self.agent not in ("ddpg", "ppo"):
            raise ValueError(f"agent: must be 'ddpg' or 'ppo', got {self.agent!r}")
        if self.clock not in ("wall", "market"):
            raise ValueError(f"clock: must be 'wall' or 'market', got {self.clock!r}")
        self.fallback_training()

    def fallback_training(self) -> BundleTrainingConfig:
        """The training budget of the sample bundle (validated here, so a bad budget fails at construction)."""
        return BundleTrainingConfig(
            agent=self.agent,
            agent_steps=self.fallback_agent_steps,
            regime_bars=self.fallback_regime_bars,
            seed=self.seed,
        )
