"""Pairs and cross-venue arbitrage on hand-made series; expected values worked out here."""

from __future__ import annotations

import math

import pytest

from models.strategies import CrossVenueArbitrage, CrossVenueArbitrageConfig, Pairs, PairsConfig
from tests.models.strategies.series import rows, run, targets

NAN = math.nan


def test_pairs_given_thirteen_rows_returns_entries_exits_and_stops_with_rearming() -> None:
    z = [NAN, 1.0, 2.5, 2.5, 1.0, 0.3, -2.2, -4.5, -3.0, -1.5, -2.5, -1.0, -0.5]
    corr = [0.8, 0.8, 0.3, 0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.9]
    pairs = Pairs()

    signals = run(pairs, rows(("pair_spread_z_60", "pair_corr_60"), z, corr))

    # entry 2, exit 0.5, stop 4, min corr 0.5: a rich spread is blocked by low correlation (row 3), then
    # shorted (4), held (5), closed (6); a cheap one bought (7) and stopped out when it diverges (8); the stop
    # holds while |z| >= 2 (9), re-arms (10), and a new entry (11) is closed when correlation breaks (12).
    assert targets(signals) == [None, 0.0, 0.0, -1.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert "no entry" in signals[2].reason
    assert "spread diverged" in signals[7].reason
    assert "correlation broke down" in signals[11].reason
    assert pairs.state_dict() == {"side": 0, "stopped": False}


def test_pairs_given_stopped_state_loaded_returns_no_entry_until_rearmed() -> None:
    pairs = Pairs(PairsConfig(position=0.5))
    pairs.load_state_dict({"side": 0, "stopped": True})

    first = pairs.on_features({"pair_spread_z_60": -2.5, "pair_corr_60": 0.9})
    pairs.on_features({"pair_spread_z_60": 0.0, "pair_corr_60": 0.9})
    second = pairs.on_features({"pair_spread_z_60": -2.5, "pair_corr_60": 0.9})

    assert (first.target_position, second.target_position) == (0.0, 0.5)


def _quotes(a: tuple[float, float], b: tuple[float, float]) -> dict[str, float]:
    return {"venue_a_bid": a[0], "venue_a_ask": a[1], "venue_b_bid": b[0], "venue_b_ask": b[1]}


def test_cross_venue_given_gaps_returns_confirmed_trades_net_of_costs() -> None:
    arb = CrossVenueArbitrage()  # fees 5 + 5 bps, slippage 1 bp per leg: 12 bps of costs
    series = [
        {"venue_a_bid": 100.0, "venue_a_ask": 100.01},
        _quotes((100.0, 100.01), (100.10, 100.11)),
        _quotes((100.0, 100.01), (100.20, 100.21)),
        _quotes((100.0, 100.01), (100.20, 100.21)),
        _quotes((100.30, 100.31), (100.0, 100.01)),
        _quotes((100.30, 100.31), (100.0, 100.01)),
        {**_quotes((100.30, 100.31), (100.0, 100.01)), "venue_b_bid": NAN},
    ]

    signals = run(arb, series)

    small_gap = (100.10 - 100.01) / ((100.0 + 100.01 + 100.10 + 100.11) / 4) * 1e4 - 12  # about -3.0
    b_rich = (100.20 - 100.01) / ((100.0 + 100.01 + 100.20 + 100.21) / 4) * 1e4 - 12  # about +6.98
    a_rich = (100.30 - 100.01) / ((100.30 + 100.31 + 100.0 + 100.01) / 4) * 1e4 - 12  # about +16.96
    assert small_gap < 2.0
    # the edge must persist 2 events; +1 buys on venue_a, -1 on venue_b; full size at 10 bps of edge
    assert targets(signals) == pytest.approx([None, 0.0, 0.0, b_rich / 10, 0.0, -1.0, None])
    assert b_rich / 10 == pytest.approx(0.698, abs=1e-3)
    assert a_rich > 10
    assert "missing ['venue_b_bid', 'venue_b_ask']" in signals[0].reason
    assert "missing ['venue_b_bid']" in signals[6].reason
    assert arb.state_dict() == {"pending": 0, "streak": 0}


def test_cross_venue_given_one_venue_only_returns_inactive_forever() -> None:
    arb = CrossVenueArbitrage(CrossVenueArbitrageConfig(venues=("coinbase", "kraken")))

    signals = run(arb, [{"coinbase_bid": 100.0 + i, "coinbase_ask": 100.1 + i} for i in range(5)])

    assert not any(s.active for s in signals)
    assert all("needs quotes from both venues" in s.reason for s in signals)


def test_cross_venue_given_crossed_book_returns_inactive() -> None:
    signal = CrossVenueArbitrage().on_features(_quotes((100.2, 100.1), (100.0, 100.01)))

    assert not signal.active
    assert "invalid venue quotes" in signal.reason


@pytest.mark.parametrize(
    ("config_type", "field", "value"),
    [
        (PairsConfig, "stop_z", 1.5),
        (PairsConfig, "min_corr", 1.5),
        (PairsConfig, "exit_z", 2.0),
        (CrossVenueArbitrageConfig, "venues", ("a", "a")),
        (CrossVenueArbitrageConfig, "fees_bps", (-1.0, 1.0)),
        (CrossVenueArbitrageConfig, "full_edge_bps", 1.0),
        (CrossVenueArbitrageConfig, "confirm_events", 0),
    ],
)
def test_config_given_invalid_field_returns_error_naming_it(config_type: type, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        config_type(**{field: value})
