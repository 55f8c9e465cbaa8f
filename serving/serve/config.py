"""The Serve application's settings: one frozen pydantic model, validated where ``serve run`` passes args in."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ServeConfig(BaseModel):
    """Everything ``build_app`` needs; ``serve run serving.serve.app:build_app key=value`` sets any field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mlflow_tracking_uri: str
    """Where the registry lives; the shards load ``champion`` and ``challenger`` from it."""
    model_cache: str
    """Local folder the registered artifacts are fetched into (weights files only)."""
    agent: Literal["ppo", "ddpg"] = "ppo"
    shards: int = Field(default=1, ge=1, le=64)
    """Decision deployments; a symbol always goes to shard ``partition_of(symbol, shards)``."""
    symbols: tuple[str, ...] = ()
    """Symbols served; empty serves any symbol."""
    clock: Literal["wall", "market"] = "wall"
    """``market`` for replays of history (feature age against the newest event time)."""
    max_feature_age_s: float = Field(default=300.0, gt=0)
    max_batch: int = Field(default=10_000, ge=1)
    """Events in one request; a larger request gets 413."""
    max_ongoing_requests: int = Field(default=32, ge=1)
    max_queued_requests: int = Field(default=256, ge=1)
    """Requests waiting per deployment beyond the ongoing ones; more get 503 (bounded, never a backlog)."""
    ingress_replicas: int = Field(default=1, ge=1)
    ingress_autoscaling_max: int = Field(default=0, ge=0)
    """Above 0: the ingress autoscales between ``ingress_replicas`` and this many replicas."""
    colocate: bool = False
    """Build the one decision shard inside the one ingress replica (``serving.serve.local``): no actor hop per
    request. Needs ``shards == 1`` and a single, non-autoscaled ingress replica (one engine per symbol)."""
    registry_poll_s: float = Field(default=5.0, ge=0)
    """How often the ingress checks the registry aliases and hot-swaps the shards; 0 turns polling off."""
    redis_url: str | None = None
    """The online store the health check pings; None when the store is not Redis."""
    audit_dsn: str | None = None
    """The audit trail (``sqlite:///...`` or ``postgresql://...``), one hash chain shared by every shard; None
    runs without an audit log."""
    veto_rules: dict[str, Any] | None = None
    """``serving.safety.veto.VetoRules`` fields (e.g. {"max_size": 0.5}); None: no veto gate."""
    kill_switch_file: str | None = None
    """The persisted kill switch every shard obeys (``rtopt kill`` writes it); None: in memory per shard."""
    port: int = Field(default=8000, ge=1, le=65535)
    drift_window: int = Field(default=1_000, ge=1)
    """Decided events each shard's online PSI covers (``serving.monitoring.online``)."""
    drift_min_events: int = Field(default=500, ge=1)
    """Events in the window before the PSI can flag drift; at most ``drift_window``."""
    drift_threshold: float = Field(default=0.25, gt=0)
    """Largest per-feature PSI that counts as drift (0.25: a significant shift)."""
    performance_min_decisions: int = Field(default=500, ge=2)
    """Live champion decisions before its mean PnL is judged against the backtest's lower bound."""
    performance_z: float = Field(default=2.326, gt=0)
    """Width of that lower bound in standard errors (2.326: one-sided 99%)."""
    guard_decisions: int = Field(default=500, ge=0)
    """Decisions of a newly promoted champion the rollback guard watches (``serving.lifecycle.guard``); 0: off."""
    guard_drawdown_bps: float = Field(default=300.0, gt=0)
    """Drawdown since the promotion (bps of the maximum notional, summed per decision) that rolls it back."""

    @model_validator(mode="after")
    def _colocate_needs_one_replica_of_each(self) -> ServeConfig:
        if self.colocate and (self.shards != 1 or self.ingress_replicas != 1 or self.ingress_autoscaling_max > 1):
            raise ValueError(
                "colocate: needs shards=1, ingress_replicas=1 and no ingress autoscaling, got "
                f"shards={self.shards}, ingress_replicas={self.ingress_replicas}, "
                f"ingress_autoscaling_max={self.ingress_autoscaling_max}"
            )
        return self

    @model_validator(mode="after")
    def _drift_window_holds_min_events(self) -> ServeConfig:
        if self.drift_min_events > self.drift_window:
            raise ValueError(f"drift_min_events: {self.drift_min_events} exceeds drift_window {self.drift_window}")
        return self


def use_registry(config: ServeConfig) -> None:
    """Point this process's MLflow at the app's registry (``mlflow_tracking_uri``), for every replica alike.

    Under ``serve run`` or ``serve deploy`` a replica inherits no caller's environment (``rtopt serve`` also
    sets it through Ray's runtime_env), so each replica sets it from its config: the shards that load models
    and the ingress whose registry poll resolves the aliases.
    """
    os.environ["MLFLOW_TRACKING_URI"] = config.mlflow_tracking_uri
    os.environ["MLFLOW_REGISTRY_URI"] = config.mlflow_tracking_uri
