"""The online drift sensor: the Serve app's cheap drift signal requests retraining between full reports.

Each tick reads ``GET /v1/drift`` (``serving.monitoring.online.merge_drift``: per-feature online PSI against
the champion's training reference, and the champion's live PnL against its backtest expectation). When the
app says drifted, the sensor requests the training job once per drift episode: the run key is the episode's
key (the champion's versions and when the episode began), and the cursor remembers it, so later ticks of
the same episode skip. The reasons go into the run's tags.

Faults say so and change nothing: Serve unreachable, or the app's registry poll failing (MLflow unreachable:
the app keeps serving its last good models, and a training run could not register what it trains), give a
``SkipReason`` naming the cause; the cursor is kept, so the next tick tries again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.lifecycle_jobs import ADMIN_TOKEN_ENV, SERVE_URL_ENV
from orchestration.sensors import REASON_TAG, TRIGGER_TAG, serve_unreachable, training_run_config
from serving.lifecycle.serve_http import ServeRequestError, call

FetchDrift = Callable[[], Mapping[str, Any] | None]
"""The app's ``GET /v1/drift`` answer, or None when no app is configured; raises ``ServeRequestError``."""
EPISODE_TAG = "rtopt/drift_episode"
KIND_TAG = "rtopt/drift_kind"


def http_drift_fetch(
    serve_url_env: str = SERVE_URL_ENV, token_env: str = ADMIN_TOKEN_ENV, timeout_s: float = 10.0
) -> FetchDrift:
    """``GET /v1/drift`` on the app ``$serve_url_env`` names, with the admin token (None while the URL is unset)."""

    def fetch() -> Mapping[str, Any] | None:
        url = os.environ.get(serve_url_env, "").strip()
        if not url:
            return None
        return call("GET", url.rstrip("/") + "/v1/drift", os.environ.get(token_env, "").strip(), timeout_s)

    return fetch


def online_drift_tick(answer: Mapping[str, Any], cursor: str | None, symbol: str) -> SensorResult | SkipReason:
    """One training run per drift episode of ``answer`` (the app's ``GET /v1/drift``)."""
    registry_error = (answer.get("registry") or {}).get("error")
    if not answer.get("drifted"):
        max_psi = answer.get("max_psi")
        psi = "no PSI yet" if max_psi is None else f"max PSI {max_psi:.3f}"
        suffix = f"; the app's registry poll fails ({registry_error})" if registry_error else ""
        return SkipReason(f"no online drift ({psi}, performance within its backtest bound){suffix}")
    key, reasons = answer.get("key"), "; ".join(answer.get("reasons", []))
    if key is None:
        return SkipReason(f"drift seen but the shards serve different champions (a swap under way): {reasons}")
    if key == cursor:
        return SkipReason(f"drift episode {key}: retraining requested already ({reasons})")
    if registry_error:
        why = f"drift episode {key} ({reasons}), but MLflow is unreachable from the app ({registry_error}): retrying"
        return SkipReason(why)
    kinds = [k for k in ("feature_drift", "performance_drift") if answer.get(k)]
    request = RunRequest(
        run_key=f"online-drift-{key}",
        run_config=training_run_config(symbol),
        tags={TRIGGER_TAG: "online_drift", REASON_TAG: reasons[:1_000], EPISODE_TAG: key, KIND_TAG: ",".join(kinds)},
    )
    return SensorResult(run_requests=[request], cursor=key)


def build_online_drift_sensor(
    job_name: str,
    *,
    fetch: FetchDrift | None = None,
    serve_url_env: str = SERVE_URL_ENV,
    symbol: str = "BTC-PERP",
    name: str = "online_drift_sensor",
    minimum_interval_seconds: int = 60,
) -> SensorDefinition:
    """A sensor requesting ``job_name`` (training) once per online drift episode the Serve app reports."""
    read = fetch or http_drift_fetch(serve_url_env)

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Requests {job_name} when the Serve app's online PSI or live PnL says the champion drifted.",
    )
    def _online_drift_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        try:
            answer = read()
        except ServeRequestError as error:
            return serve_unreachable(error)
        except ValueError as error:  # no admin token configured
            return SkipReason(f"cannot ask the Serve app: {error}")
        if answer is None:
            return SkipReason(f"{serve_url_env} unset: no Serve app to read the online drift signal from")
        return online_drift_tick(answer, context.cursor, symbol)

    return _online_drift_sensor
