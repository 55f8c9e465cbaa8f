"""Issue 7 end to end on a running app: a challenger shadowed, the paired endpoint, promote and roll back via reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from mlflow import MlflowClient

from serving.decision.audit import open_audit
from serving.decision.registry import register_bundle, resolve
from serving.lifecycle import ShadowComparison, fetch_paired, promote, rollback, serve_reload
from tests.serving.serve.conftest import SYMBOLS, TOKEN, running_app


def test_promote_and_rollback_through_a_running_app(
    tmp_path: Path, decision_bundle_dir: Path, btc_events: list[dict[str, Any]]
) -> None:
    with running_app(tmp_path / "home", decision_bundle_dir, shards=2, registry_poll_s=0) as app:
        challenger = register_bundle(decision_bundle_dir, "ppo", app.experiment, app.artifact_root, -1.0)
        reload = serve_reload(app.url, TOKEN)
        assert [s["models"]["challenger"] for s in reload()] == [challenger.names()] * 2
        for symbol in SYMBOLS[:2]:
            events = [{**e, "symbol": symbol} for e in btc_events[:800]]
            assert requests.post(f"{app.url}/v1/decisions", json={"events": events}, timeout=120).status_code == 200
        comparison = ShadowComparison.from_json(fetch_paired(app.url, TOKEN))
        assert comparison.n == 1600 and comparison.versions == challenger.names()
        assert len(comparison.logged) > 0
        audit = open_audit(app.config.audit_dsn or "")
        cache = tmp_path / "cache"
        client = MlflowClient()
        done = promote(challenger, client=client, audit=audit, cache=cache, reload=reload, reason="e2e", by="t")
        assert done.ok, done.cause
        assert [s["models"]["champion"] for s in done.shards] == [challenger.names()] * 2
        assert resolve("champion") == challenger
        back = rollback(agent="ppo", client=client, audit=audit, cache=cache, reload=reload, reason="e2e", by="t")
        assert back.ok, back.cause
        assert [s["models"]["champion"] for s in back.shards] == [app.champion.names()] * 2
        kinds = [r.kind for r in audit.records() if r.kind.startswith("model_")]
        assert {"model_promotion", "model_rollback", "model_swap"} <= set(kinds)
