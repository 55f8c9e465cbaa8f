"""Jobs of the model lifecycle: apply the shadow gate's verdict (promote or archive), reload Serve for a new challenger.

The sensors (``orchestration.sensors``) judge and request; these jobs act. The side effects live in jobs, as
Dagster recommends, rather than in a sensor tick: each action is a run with its config (the verdict and the
gate's statistics), its logs and its outcome, visible in the UI and re-executable, and a failed promotion is a
failed run, not a line in a daemon log. Each job is one op calling ``serving.lifecycle``.
"""

import json
import os
from pathlib import Path
from typing import Any, Literal

from dagster import (
    AssetMaterialization,
    AssetObservation,
    Config,
    ConfigurableResource,
    Failure,
    MetadataValue,
    OpExecutionContext,
    job,
    op,
)
from mlflow import MlflowClient

from assets.lifecycle import SERVING_CHAMPION
from assets.resources import MlflowResource
from models.evaluation.gate import GateDecision
from orchestration.settings import Settings
from serving.decision.audit import open_audit
from serving.decision.registry import ResolvedVersions
from serving.lifecycle.promotion import PromotionResult, Reload, archive, promote, shard_problems
from serving.lifecycle.serve_http import serve_reload

SERVE_URL_ENV = "RTOPT_SERVE_URL"
ADMIN_TOKEN_ENV = "RTOPT_TOKEN_ADMIN"


class LifecycleResource(ConfigurableResource):
    """Where promotions are audited and checked before any alias moves, and the Serve app they hot-swap."""

    audit_dsn: str
    model_cache: str
    """Local folder a challenger is fetched into and loaded from (a corrupted artifact refuses the promotion)."""
    serve_url_env: str = SERVE_URL_ENV
    """Variable holding the Serve app's URL; unset: no app to reload (aliases move, apps follow on their poll)."""
    admin_token_env: str = ADMIN_TOKEN_ENV
    reload_timeout_s: float = 120.0

    def serve_url(self) -> str | None:
        return os.environ.get(self.serve_url_env, "").strip() or None

    def reload(self) -> Reload | None:
        """The Serve app's reload, or None without an app; raises when the app is set but its token is not."""
        url = self.serve_url()
        if url is None:
            return None
        token = os.environ.get(self.admin_token_env, "").strip()
        if not token:
            raise ValueError(f"{self.admin_token_env}: unset; the Serve app at {url} needs its admin token")
        return serve_reload(url, token, timeout_s=self.reload_timeout_s)


def lifecycle_resource(settings: Settings) -> LifecycleResource:
    return LifecycleResource(audit_dsn=settings.audit_dsn, model_cache=str(settings.home / "lifecycle" / "models"))


class VersionsConfig(Config):
    """A bundle's registered versions (``ResolvedVersions``) as run config."""

    regime: str
    bandit: str
    actor: str
    agent: Literal["ppo", "ddpg"] = "ppo"

    def versions(self) -> ResolvedVersions:
        return ResolvedVersions(self.regime, self.bandit, self.actor, self.agent)


class GateVerdictConfig(VersionsConfig):
    """The challenger the gate judged and its verdict."""

    promote: bool
    reason: str
    """The gate's reason: ``promote``, or the first failing condition with its numbers."""
    gate_json: str = "{}"
    """``GateDecision.to_dict()`` as JSON: the statistics the audit record keeps."""
    by: str = "shadow_comparison_sensor"


def versions_config(versions: ResolvedVersions) -> dict[str, str]:
    return {"regime": versions.regime, "bandit": versions.bandit, "actor": versions.actor, "agent": versions.agent}


def verdict_run_config(challenger: ResolvedVersions, decision: GateDecision) -> dict[str, Any]:
    """``promotion_job``'s run config for the gate's verdict on ``challenger``."""
    verdict = {"promote": decision.promote, "reason": decision.reason, "gate_json": json.dumps(decision.to_dict())}
    return {"ops": {apply_gate_verdict.name: {"config": {**versions_config(challenger), **verdict}}}}


def challenger_run_config(challenger: ResolvedVersions) -> dict[str, Any]:
    """``shadow_start_job``'s run config: the challenger every shard must be shadowing after the reload."""
    return {"ops": {reload_serve_for_challenger.name: {"config": versions_config(challenger)}}}


def _fail_unless_done(context: OpExecutionContext, result: PromotionResult) -> None:
    context.log.info(json.dumps(result.to_dict()))
    if not result.ok:
        raise Failure(
            description=f"{result.action} {result.status}: {result.cause}",
            metadata={"result": MetadataValue.json(result.to_dict())},
        )


@op(description="Promote the challenger (aliases, audit, Serve hot-swap; all or nothing) or archive it.")
def apply_gate_verdict(
    context: OpExecutionContext, config: GateVerdictConfig, mlflow: MlflowResource, lifecycle: LifecycleResource
) -> None:
    mlflow.activate()
    client = MlflowClient(tracking_uri=mlflow.tracking_uri, registry_uri=mlflow.registry_uri)
    challenger, gate = config.versions(), json.loads(config.gate_json)
    audit = open_audit(lifecycle.audit_dsn)
    try:
        if config.promote:
            result = promote(
                challenger,
                client=client,
                audit=audit,
                cache=Path(lifecycle.model_cache),
                reload=lifecycle.reload(),
                reason=config.reason,
                by=config.by,
                gate=gate,
            )
        else:
            result = archive(challenger, client=client, audit=audit, reason=config.reason, by=config.by, gate=gate)
    finally:
        audit.close()
    _fail_unless_done(context, result)
    _record_verdict(context, config, result)


def _record_verdict(context: OpExecutionContext, config: GateVerdictConfig, result: PromotionResult) -> None:
    """The verdict on ``serving_champion``: a materialization for a promotion, an observation for an archive."""
    metadata = {
        "action": result.action,
        "challenger": MetadataValue.json(dict(config.versions().names())),
        "reason": config.reason,
        "gate": MetadataValue.json(json.loads(config.gate_json)),
        "by": config.by,
    }
    if config.promote:
        context.log_event(AssetMaterialization(asset_key=SERVING_CHAMPION, metadata=metadata))
    else:
        context.log_event(AssetObservation(asset_key=SERVING_CHAMPION, metadata=metadata))


@op(description="Reload the Serve app so every shard shadows the new challenger; fails naming a shard that does not.")
def reload_serve_for_challenger(
    context: OpExecutionContext, config: VersionsConfig, lifecycle: LifecycleResource
) -> None:
    reload = lifecycle.reload()
    if reload is None:
        raise Failure(description=f"{lifecycle.serve_url_env} unset: no Serve app to reload")
    shards = reload()
    problems = shard_problems(shards, "challenger", config.versions().names())
    if problems:
        raise Failure(description="; ".join(problems), metadata={"shards": MetadataValue.json(shards)})
    context.log.info(f"every shard shadows {config.versions().names()}")


@job(
    description="The shadow gate's verdict on a challenger: promote it (all or nothing) or archive it with the reason."
)
def promotion_job() -> None:
    apply_gate_verdict()


@job(description="Reload the Serve app for a new challenger so the shards start shadowing it.")
def shadow_start_job() -> None:
    reload_serve_for_challenger()
