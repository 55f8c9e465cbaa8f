"""`make demo`: ingest the shipped real data, run the platform and training jobs, serve the champion over HTTP."""

from __future__ import annotations

import time

from dagster import AssetKey, DagsterInstance, Definitions

from assets.features import SOURCE_ORDER, offline_features, online_features
from assets.market_data import asset_name
from models.marketdata.schema import DataKind
from models.marketdata.store import MarketDataStore
from orchestration.info import describe, render
from orchestration.ingestion import ingest_samples
from orchestration.settings import Settings

# Runs still land in the Dagster instance with full logs; the terminal shows warnings only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def kinds_by_symbol(store: MarketDataStore) -> dict[str, list[DataKind]]:
    """Which kinds of data each symbol has in the store (a run materializes only those)."""
    found: dict[str, list[DataKind]] = {}
    for kind in DataKind:
        for symbol in store.symbols(kind):
            found.setdefault(symbol, []).append(kind)
    return dict(sorted(found.items()))


def run_demo(settings: Settings) -> int:
    from orchestration.definitions import build_definitions

    store = MarketDataStore(settings.market_data_root)
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def("platform_job")
    failures = 0
    with DagsterInstance.get() as instance:
        print("1/5 ingesting the shipped real market data")
        for m in ingest_samples(store, instance):
            counts = f"accepted {m.accepted:>6}  rejected {m.rejected:>4}"
            print(f"    {m.symbol:<12} {m.kind:<7} {counts}  {m.first} .. {m.last}")
        print(f"2/5 feature_store_job: feast apply of {settings.feast_yaml.name}")
        applied = definitions.resolve_job_def("feature_store_job").execute_in_process(
            instance=instance, run_config=QUIET
        )
        failures += 0 if applied.success else 1
        symbols = kinds_by_symbol(store)
        print(f"3/5 running platform_job for {len(symbols)} symbol partitions")
        for symbol, kinds in symbols.items():
            selection = [AssetKey(asset_name(k)) for k in kinds]
            if any(k in SOURCE_ORDER for k in kinds):
                selection += [offline_features.key, online_features.key]
            result = job.execute_in_process(
                instance=instance,
                partition_key=symbol,
                asset_selection=selection,
                raise_on_error=False,
                run_config=QUIET,
            )
            failures += 0 if result.success else 1
            checks = [
                f"{e.asset_key.to_user_string()}.{e.check_name}={'pass' if e.passed else 'FAIL'}"
                for e in result.get_asset_check_evaluations()
            ]
            status = "ok" if result.success else "FAILED"
            print(
                f"    {symbol:<12} run {result.run_id[:8]} {status}  {', '.join(a.to_user_string() for a in selection)}"
            )
            for line in checks:
                print(f"    {'':<12} check {line}")
        failures += _train(definitions, instance)
    if failures == 0:
        from orchestration.demo_serve import serve_demo

        failures += serve_demo(settings)
    print("\nWhere the results are:")
    print(render(describe(settings), indent=2))
    print("\nLook at them: `make dev` (Dagster UI http://127.0.0.1:3000, MLflow UI http://127.0.0.1:5000)")
    return 1 if failures else 0


def _train(definitions: Definitions, instance: DagsterInstance) -> int:
    """Train and register every model on the BTC-PERP sample with small budgets."""
    print("4/5 training_job: regime detector, DDPG, PPO, bandit -> MLflow registry; out-of-sample evaluation")
    started = time.perf_counter()
    result = definitions.resolve_job_def("training_job").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        if "registered_model" in meta:
            name, version, alias = meta["registered_model"], meta["version"], meta["alias"]
            print(
                f"    {name:<13} version {version:<3} alias {alias:<10} validation_score {meta['validation_score']:.4f}"
            )
        else:
            composed, hold = meta["composed_total_return"], meta["buy_and_hold_total_return"]
            print(f"    evaluation (test window, net of costs): composed {composed:+.2%}, buy-and-hold {hold:+.2%}")
            print(f"    equity plot: {meta['equity_plot']}")
    status = "ok" if result.success else "FAILED"
    print(f"    training took {time.perf_counter() - started:.0f} s; run {result.run_id[:8]} {status}")
    return 0 if result.success else 1
