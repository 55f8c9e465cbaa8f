"""One decision shard: a Ray Serve deployment that owns a DecisionEngine for the symbols routed to it.

Models come from the MLflow registry (``serving.decision.registry``). ``apply_models`` loads a new
champion or challenger off the lock and swaps it into the running engine in place: requests keep
flowing, per-symbol state carries over. A version that fails to load leaves the last good one serving
and is reported, by name, in ``health``.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from ray import serve

from models.streaming.events import EventRejected
from serving.decision.audit import AuditTrail, open_audit
from serving.decision.bundle import ModelBundle
from serving.decision.engine import DecisionEngine, EngineConfig
from serving.decision.registry import ModelUnavailableError, ResolvedVersions, load_bundle, resolve
from serving.safety.veto import VetoRules
from serving.safety.veto_http import Verb, list_answer, resolve_answer
from serving.serve.config import ServeConfig

log = logging.getLogger(__name__)


def rejection(error: EventRejected) -> dict[str, str]:
    """The JSON error of a rejected event: its reason code, the field it names, the message."""
    field = error.detail.split(":", 1)[0] if ":" in error.detail else ""
    return {"reason": error.reason.value, "field": field, "message": error.detail}


class DecisionShard:
    """Holds one engine; every method runs on the replica's event loop, one at a time per call."""

    def __init__(self, config: dict[str, Any], shard: int) -> None:
        self.config = ServeConfig(**config)
        self.shard = shard
        os.environ["MLFLOW_TRACKING_URI"] = self.config.mlflow_tracking_uri
        os.environ["MLFLOW_REGISTRY_URI"] = self.config.mlflow_tracking_uri
        self.engine: DecisionEngine | None = None
        self.applied: dict[str, ResolvedVersions | None] = {"champion": None, "challenger": None}
        self.unhealthy: dict[str, str] = {}
        self.apply_models(resolve("champion", self.config.agent), resolve("challenger", self.config.agent))

    def _engine_config(self) -> EngineConfig:
        cfg = self.config
        return EngineConfig(
            symbols=frozenset(cfg.symbols),
            clock=cfg.clock,
            max_feature_age=timedelta(seconds=cfg.max_feature_age_s),
            kill_switch_file=None if cfg.kill_switch_file is None else Path(cfg.kill_switch_file),
            vetoes=None if cfg.veto_rules is None else VetoRules(**cfg.veto_rules),
        )

    def _load(self, role: str, versions: ResolvedVersions | None) -> ModelBundle | None:
        if versions is None:
            return None
        try:
            bundle = load_bundle(versions, Path(self.config.model_cache))
        except ModelUnavailableError as error:
            self.unhealthy[role] = str(error)
            log.error("shard %d: %s stays on its last good version: %s", self.shard, role, error)
            return None
        self.unhealthy.pop(role, None)
        return bundle

    def apply_models(self, champion: ResolvedVersions | None, challenger: ResolvedVersions | None) -> dict[str, Any]:
        """Swap in ``champion`` and shadow ``challenger`` where they differ from what runs now."""
        if champion is None and self.engine is None:
            self.unhealthy["champion"] = "no registered champion (run the training job or make demo)"
        if champion is not None and champion != self.applied["champion"]:
            bundle = self._load("champion", champion)
            if bundle is not None:
                if self.engine is None:
                    self.engine = DecisionEngine(bundle, self._engine_config(), audit=self._audit())
                else:
                    self.engine.swap(bundle)
                self.applied["champion"] = champion
        if self.engine is not None and challenger != self.applied["challenger"]:
            shadow = self._load("challenger", challenger)
            if shadow is not None or challenger is None:
                self.engine.set_shadow("challenger", shadow)
                self.applied["challenger"] = challenger
        return self.health()

    def _audit(self) -> AuditTrail | None:
        dsn = self.config.audit_dsn
        return None if dsn is None else open_audit(dsn)

    def decide(self, payloads: list[Any]) -> list[dict[str, Any]]:
        """Decisions (as dicts) or ``{"error": ...}`` entries, one per payload, in order."""
        if self.engine is None:
            raise RuntimeError(f"shard {self.shard}: no champion loaded ({self.unhealthy.get('champion', '')})")
        out: list[dict[str, Any]] = []
        for item in self.engine.process_batch(payloads):
            out.append({"error": rejection(item)} if isinstance(item, EventRejected) else item.to_dict())
        return out

    def health(self) -> dict[str, Any]:
        names = {role: (v.names() if v else None) for role, v in self.applied.items()}
        return {"shard": self.shard, "ready": self.engine is not None, "models": names, "unhealthy": self.unhealthy}

    def status(self) -> dict[str, Any]:
        if self.engine is None:
            return {"shard": self.shard, "status": "not_ready", "unhealthy": self.unhealthy}
        return {"shard": self.shard, **self.engine.status(), "unhealthy": self.unhealthy}

    def shadow_paired(self, name: str) -> dict[str, Any]:
        """This shard's part of ``GET /v1/shadow/{name}/paired`` (``serving.lifecycle.comparison.merge_paired``)."""
        if self.engine is None:
            return {"shard": self.shard, "versions": None, "champion_versions": None}
        return {"shard": self.shard, **self.engine.shadow_paired(name)}

    def kill(self, cause: str, by: str = "api") -> dict[str, Any]:
        if self.engine is not None:
            self.engine.kill(cause, by=by)
        return self.status()

    def vetoes(self) -> dict[str, Any]:
        """This shard's pending and resolved vetoes (``serving.safety.veto_http.list_answer``)."""
        if self.engine is None or self.engine.vetoes is None:
            return {"pending": [], "resolved": []}
        return list_answer(self.engine.vetoes)

    def resolve_veto(self, veto_id: str, verb: Verb, *, by: str, role: str, reason: str) -> tuple[int, dict[str, Any]]:
        if self.engine is None or self.engine.vetoes is None:
            return 404, {"detail": f"veto {veto_id}: no such veto"}
        return resolve_answer(self.engine.vetoes, veto_id, verb, by=by, role=role, reason=reason)

    def resume(self, cause: str, by: str) -> dict[str, Any]:
        if self.engine is not None:
            self.engine.resume(cause, by)
        return self.status()

    def set_limits(self, values: dict[str, Any], by: str) -> dict[str, Any]:
        """The audited limit change (old and new values); a bad field raises ValueError naming it."""
        if self.engine is None:
            raise RuntimeError(f"shard {self.shard}: no champion loaded")
        return self.engine.set_limits(values, by)


DecisionShardDeployment = serve.deployment(name="DecisionShard")(DecisionShard)
