"""The seed's Python API: ``from ml_optimization import MLOptimizationOrchestrator, MLOptimizationConfig, ...``.

A thin package over the platform: the configs are the platform's own (``ml_optimization.config``) and
the orchestrator is the ``DecisionEngine`` behind an async context manager (``ml_optimization.orchestrator``).
"""

from ml_optimization.config import (
    ContextualBanditConfig,
    DDPGConfig,
    DeviceManagerConfig,
    ExplanationConfig,
    FeatureConfig,
    FlinkConfig,
    MLOptimizationConfig,
)
from ml_optimization.orchestrator import MLOptimizationOrchestrator
from models.streaming.events import EventRejected
from serving.decision.records import Action, Decision, HoldReason

__all__ = [
    "Action",
    "ContextualBanditConfig",
    "DDPGConfig",
    "Decision",
    "DeviceManagerConfig",
    "EventRejected",
    "ExplanationConfig",
    "FeatureConfig",
    "FlinkConfig",
    "HoldReason",
    "MLOptimizationConfig",
    "MLOptimizationOrchestrator",
]
