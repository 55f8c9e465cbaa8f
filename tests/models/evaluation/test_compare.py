"""compare() end to end on the BTC-PERP sample: every policy, the same windows, finite metrics, honest reporting."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from models.bandit import ContextualBanditConfig, LinUCB, context_dim
from models.env import MarketReplay
from models.evaluation import (
    PROTOCOL_V1,
    ComposedConfig,
    EvaluationProtocol,
    EvaluationReport,
    compare,
    fit_bandit,
    plot_equity,
    report_markdown,
    split_bounds,
)
from models.strategies import Strategy

SMALL = EvaluationProtocol(n_folds=2, seeds=(7,))


def _bandit(arms: tuple[Strategy, ...]) -> LinUCB:
    names = [a.name for a in arms]
    return LinUCB(names, ContextualBanditConfig(dim=context_dim(len(names)), exploration_rate=0.1, seed=0))


@pytest.fixture(scope="module")
def trained(btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...]) -> LinUCB:
    """A bandit over the fixed single-symbol arms, trained on the train part only."""
    return fit_bandit(btc_replay, single_symbol_arms, _bandit(single_symbol_arms))


@pytest.fixture(scope="module")
def report(btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB) -> EvaluationReport:
    return compare(btc_replay, single_symbol_arms, bandit=trained)


def test_compare_given_btc_perp_returns_every_policy_side_by_side(report: EvaluationReport) -> None:
    assert report.names == (
        "flat",
        "buy_and_hold",
        "strategy:momentum",
        "strategy:mean_reversion",
        "strategy:market_making",
        "strategy:volatility_breakout",
        "strategy:cross_venue_arbitrage",
        "random_arm[seed=0]",
        "random_arm[seed=1]",
        "random_arm[seed=2]",
        "composed[seed=0]",
        "composed[seed=1]",
        "composed[seed=2]",
    )


def test_compare_given_btc_perp_returns_finite_metrics_for_the_composed_policy(report: EvaluationReport) -> None:
    for seed in PROTOCOL_V1.seeds:
        metrics = report.result(f"composed[seed={seed}]").metrics
        assert all(math.isfinite(v) for v in metrics.as_dict().values()), metrics
        assert metrics.trade_count > 0 and metrics.bars == len(report.window) - 1


def test_compare_given_btc_perp_returns_all_policies_on_the_same_test_window(
    report: EvaluationReport, btc_replay: MarketReplay
) -> None:
    test = split_bounds(len(btc_replay)).test

    assert report.window == test
    np.testing.assert_array_equal(report.timestamps_ns, btc_replay.timestamps_ns[test.start : test.stop])
    assert {len(r.equity) for r in report.results} == {len(test)}
    assert {len(r.fold_metrics) for r in report.results} == {PROTOCOL_V1.n_folds}


def test_compare_given_flat_policy_returns_zero_return_and_zero_trades(report: EvaluationReport) -> None:
    flat = report.result("flat")

    assert (flat.metrics.total_return, flat.metrics.trade_count, flat.total_cost_bps) == (0.0, 0, 0.0)


def test_compare_given_folds_returns_fold_returns_that_chain_to_the_total(report: EvaluationReport) -> None:
    for result in report.results:
        chained = math.prod(1.0 + m.total_return for m in result.fold_metrics) - 1.0
        assert chained == pytest.approx(result.metrics.total_return, abs=1e-12), result.name


def test_compare_given_arm_choosers_returns_shares_over_active_arms(report: EvaluationReport) -> None:
    random_arm = report.result("random_arm[seed=0]")

    assert sum(random_arm.arm_shares.values()) == pytest.approx(1.0)
    assert random_arm.arm_shares["cross_venue_arbitrage"] == 0.0  # inactive with one venue: never drawn
    assert report.result("flat").arm_shares == {}


def test_compare_given_report_returns_immutable_results(report: EvaluationReport) -> None:
    result = report.result("buy_and_hold")

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.name = "better"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        result.equity[-1] = 2.0
    with pytest.raises(TypeError):
        result.arm_shares["momentum"] = 1.0  # type: ignore[index]


def test_compare_given_trained_bandit_returns_it_unchanged(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    before = trained.state_dict()

    compare(btc_replay, single_symbol_arms, bandit=trained, protocol=SMALL)

    after = trained.state_dict()
    assert after["theta"] == before["theta"] and after["counts"] == before["counts"]


def test_compare_given_same_inputs_twice_returns_identical_curves(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    first = compare(btc_replay, single_symbol_arms, bandit=trained, protocol=SMALL)
    second = compare(btc_replay, single_symbol_arms, bandit=trained, protocol=SMALL)

    for a, b in zip(first.results, second.results, strict=True):
        np.testing.assert_array_equal(a.equity, b.equity)


def test_compare_given_actor_returns_targets_sized_by_its_action(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    def half_size_actor(observation: np.ndarray) -> np.ndarray:
        assert observation.shape == (30,) and np.isfinite(observation).all()
        return np.array([-0.5, 1.0, 1.0], dtype=np.float32)

    sized = compare(btc_replay, single_symbol_arms, bandit=trained, actor=half_size_actor, protocol=SMALL)

    positions = sized.result("composed[seed=7]").positions
    assert np.abs(positions).max() <= 0.5 and np.abs(positions).max() > 0.0


def test_compare_given_non_finite_actor_returns_error(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    with pytest.raises(ValueError, match="actor"):
        compare(btc_replay, single_symbol_arms, bandit=trained, actor=lambda obs: [math.nan, 1.0, 1.0], protocol=SMALL)


def test_compare_given_frozen_bandit_and_regime_codes_returns_finite_composed_metrics(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    regime = np.full(len(btc_replay), 2, dtype=np.int64)  # "sideways" everywhere, as a detector might say

    frozen = compare(
        btc_replay,
        single_symbol_arms,
        bandit=trained,
        protocol=SMALL,
        regime=regime,
        composed=ComposedConfig(learn_online=False),
    )

    assert math.isfinite(frozen.result("composed[seed=7]").metrics.sharpe)


def test_fit_bandit_given_window_reaching_the_test_part_returns_error(
    btc_replay: MarketReplay, single_symbol_arms: tuple[Strategy, ...]
) -> None:
    test = split_bounds(len(btc_replay)).test

    with pytest.raises(ValueError, match="never train on it"):
        fit_bandit(btc_replay, single_symbol_arms, _bandit(single_symbol_arms), window=range(100, test.start + 1))


def test_fit_bandit_given_train_part_returns_trained_copy(
    single_symbol_arms: tuple[Strategy, ...], trained: LinUCB
) -> None:
    assert sum(trained.counts) > 0
    assert sum(_bandit(single_symbol_arms).counts) == 0


def test_report_markdown_given_report_returns_a_row_per_policy(report: EvaluationReport) -> None:
    text = report_markdown(report)

    assert text.startswith("# Out-of-sample evaluation (protocol v1)")
    assert "no selection over seeds, folds or windows" in text
    for name in report.names:
        assert f"| {name} |" in text
    assert "| flat | +0.00% | n/a | n/a | 0.00% | 0.0 | n/a | 0 | 0.0 |" in text


def test_plot_equity_given_report_returns_non_empty_png(report: EvaluationReport, tmp_path: Path) -> None:
    path = plot_equity(report, tmp_path / "plots" / "equity.png")

    assert path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
