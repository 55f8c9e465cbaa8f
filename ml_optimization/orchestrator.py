"""``MLOptimizationOrchestrator``: the seed's Python API over the platform's one decision path.

Entering the context builds a ``serving.decision.engine.DecisionEngine`` over a model bundle (the MLflow
registry's champion, else a small bundle trained on the shipped sample: ``ml_optimization.models``);
``process_market_data`` is ``DecisionEngine.process`` and returns its ``Decision`` unchanged, so the
Python API decides exactly as the backtest and the Ray Serve deployment do for the same events.

Feature age is measured against the wall clock unless ``MLOptimizationConfig.clock`` is "market"
(replays of history). The seed's example sends one event, which holds while the features warm up
(``hold_reason`` "warming_up") whichever clock is used; a stream of live events decides for real.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ml_optimization.config import MLOptimizationConfig
from ml_optimization.models import (
    LoadedModels,
    config_mismatches,
    describe_mismatches,
    registry_models,
    sample_models,
)
from models.device import choose_device, probe
from orchestration.settings import Settings, load_settings, prepare
from serving.decision.audit import AuditLog
from serving.decision.audit_journal import JournaledAudit
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.records import Decision
from serving.safety.explain import ExplanationConfig as SafetyExplanationConfig

log = logging.getLogger("ml_optimization")
_SQLITE = "sqlite:///"


class MLOptimizationOrchestrator:
    """``async with MLOptimizationOrchestrator(config) as system:`` then ``process_market_data`` per event.

    ``settings`` (default: ``load_settings()`` then ``prepare``) says where the registry, the cached models
    and the audit log live; ``bundle`` serves the given models instead of looking them up.
    """

    def __init__(
        self,
        config: MLOptimizationConfig | None = None,
        *,
        settings: Settings | None = None,
        bundle: ModelBundle | None = None,
    ) -> None:
        self.config = config or MLOptimizationConfig()
        self._settings = settings
        self._given = bundle
        self._engine: DecisionEngine | None = None
        self._audit: JournaledAudit | None = None
        self._report: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        # Loading (or training) the models takes seconds: off the event loop.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Load the models and build the engine (what ``__aenter__`` runs, for callers without a loop)."""
        if self._engine is not None:
            raise RuntimeError("MLOptimizationOrchestrator: already started")
        models = LoadedModels(self._given, "given by the caller") if self._given is not None else self._load_models()
        mismatches = config_mismatches(self.config, models.bundle)
        if mismatches:
            log.warning(describe_mismatches(mismatches))
        explain = self.config.explanation_config
        engine_config = EngineConfig(
            clock=self.config.clock,
            max_feature_age=self.config.max_feature_age,
            stream=self.config.etl_config,
            explanation=SafetyExplanationConfig(
                enabled=explain.enable_real_time_explanation, background_size=explain.shap_sample_size
            ),
        )
        self._audit = JournaledAudit(AuditLog(self._audit_path())) if self.config.audit_log else None
        try:
            self._engine = DecisionEngine(models.bundle, engine_config, audit=self._audit)
        except BaseException:
            self.close()
            raise
        self._report = self._describe(models, mismatches)
        self._say(f"models {dict(models.bundle.versions)}: {models.source}")

    def close(self) -> None:
        """Stop deciding and close the audit log; safe to call twice."""
        self._engine = None
        if self._audit is not None:
            self._audit.close()
            self._audit = None

    async def process_market_data(self, market_data: Mapping[str, Any] | str | bytes) -> Decision:
        """The champion's ``Decision`` for one event (``DecisionEngine.process``).

        Raises ``models.streaming.events.EventRejected`` (a ``ValueError`` naming the field) for a bad
        event. Runs on the caller's thread: a decision takes tens of microseconds, less than a thread hop.
        """
        return self._running().process(market_data)

    def get_system_status(self) -> dict[str, Any]:
        """The engine's status (status, active_models, decisions_generated, daily_pnl, ...) and this API's report."""
        return {**self._running().status(), **self._report}

    @property
    def engine(self) -> DecisionEngine:
        """The engine behind the API (hot swaps, shadows, the broker), while running."""
        return self._running()

    def _running(self) -> DecisionEngine:
        if self._engine is None:
            raise RuntimeError("MLOptimizationOrchestrator: not running; use it as `async with ... as system:`")
        return self._engine

    def _settings_now(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
            prepare(self._settings)
        return self._settings

    def _load_models(self) -> LoadedModels:
        settings = self._settings_now()
        found = registry_models(settings, self.config.agent, self._say)
        return found or sample_models(settings, self.config.fallback_training(), self._say)

    def _audit_path(self) -> Path:
        dsn = self._settings_now().audit_dsn
        if not dsn.startswith(_SQLITE):
            raise ValueError(
                "audit_log: the Python API writes a SQLite audit log, and RTOPT_AUDIT_DSN is not SQLite; "
                "set MLOptimizationConfig(audit_log=False) to decide without one"
            )
        # Its own file: the audit chain is kept by one writer (the Serve shards have theirs).
        return Path(dsn.removeprefix(_SQLITE)).parent / "python_api.db"

    def _describe(self, models: LoadedModels, mismatches: dict[str, dict[str, Any]]) -> dict[str, Any]:
        device = choose_device(self.config.device_config, probe())
        features, explain = self.config.feature_store_config, self.config.explanation_config
        return {
            "model_source": models.source,
            "config_mismatches": mismatches,
            "clock": self.config.clock,
            "audit_log": None if self._audit is None else str(self._audit.store.path),
            "device": {"kind": device.kind, "dtype": device.dtype, "reason": device.reason, "used_by_serving": False},
            "feature_store": {
                "redis": f"{features.redis_host}:{features.redis_port}",
                "cache_ttl": features.cache_ttl,
                "used_by_serving": False,
            },
            "explanations": {
                "requested": explain.enable_real_time_explanation,
                "shap_sample_size": explain.shap_sample_size,
                "computed": explain.enable_real_time_explanation,
                "method": "SHAP DeepExplainer on the actor + exact linear attributions of the bandit's score",
            },
        }

    def _say(self, message: str) -> None:
        log.info(message)
        if self.config.progress:
            print(f"ml_optimization: {message}", file=sys.stderr, flush=True)
