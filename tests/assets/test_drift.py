"""The drift report materializes on the shipped BTC-PERP week: an MLflow run with the HTML, scores in metadata."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, build_sensor_context, materialize
from mlflow import MlflowClient

from assets.drift import SHARE_CHECK, DriftReportConfig, drift_assets, feature_drift_report
from assets.features import NAMES, feature_assets
from assets.market_data import market_data_assets
from assets.models import RegimeTrainingConfig, model_assets, regime_model
from models.marketdata.samples import SAMPLES
from models.marketdata.store import MarketDataStore
from orchestration.resources import build_resources
from orchestration.sensors import build_drift_sensor
from orchestration.settings import Settings


def _materialize_inputs(settings: Settings, instance: DagsterInstance) -> None:
    """Curated bars and offline features of BTC-PERP, and a small champion regime detector."""
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    MarketDataStore(settings.market_data_root).write_batch(sample.symbol, sample.load(), None)
    instance.add_dynamic_partitions("symbols", ["BTC-PERP"])
    resources = build_resources(settings)
    features = materialize(
        [*market_data_assets, *feature_assets],
        selection=["market_bars", "offline_features"],
        partition_key="BTC-PERP",
        resources=resources,
        instance=instance,
    )
    assert features.success
    regime_config = {"config": RegimeTrainingConfig(n_bars=1_000).model_dump()}
    regime = materialize(
        model_assets,
        selection=[regime_model.key],
        resources=resources,
        instance=instance,
        run_config={"ops": {"regime_model": regime_config}},
    )
    assert regime.success


def test_materialize_given_btc_perp_returns_report_artifact_scores_and_warn_check(rtopt_settings: Settings) -> None:
    instance = DagsterInstance.ephemeral()
    _materialize_inputs(rtopt_settings, instance)

    result = materialize(
        drift_assets,
        resources=build_resources(rtopt_settings),
        instance=instance,
        run_config={"ops": {"feature_drift_report": {"config": DriftReportConfig(window_rows=1_440).model_dump()}}},
    )

    assert result.success
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == feature_drift_report.key)
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert set(metadata["drift_scores"]) == set(NAMES) - {"tod_sin", "tod_cos"}
    assert metadata["drift_share"] == pytest.approx(len(metadata["drifted_features"]) / (len(NAMES) - 2))
    assert isinstance(metadata["drifted"], bool)
    assert sum(metadata["regimes"].values()) + sum(metadata["unseen_regimes"].values()) == pytest.approx(1.0)
    html = Path(urlparse(metadata["report"]).path)
    assert html.name == "feature_drift_report.html" and html.stat().st_size > 10_000
    mlflow.set_tracking_uri(rtopt_settings.mlflow_tracking_uri)
    run = MlflowClient(rtopt_settings.mlflow_tracking_uri).get_run(metadata["mlflow_run_id"])
    assert run.data.metrics["drift_share"] == pytest.approx(metadata["drift_share"])
    assert run.data.tags["drifted"] == str(metadata["drifted"]).lower()
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == SHARE_CHECK and check.severity == AssetCheckSeverity.WARN
    assert check.passed == (not metadata["drift_share"] >= 0.5)
    tick = build_drift_sensor("training_job").evaluate_tick(build_sensor_context(instance=instance))
    assert len(tick.run_requests or []) == int(metadata["drifted"])


def test_materialize_given_no_offline_features_fails_loudly(rtopt_settings: Settings) -> None:
    result = materialize(
        drift_assets,
        resources=build_resources(rtopt_settings),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "materialize offline_features first" in str(failure.event_specific_data)
