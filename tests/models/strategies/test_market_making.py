"""Avellaneda-Stoikov quotes on hand-made rows, with the formula worked out by hand in each test."""

from __future__ import annotations

import json
import math

import pytest

from models.strategies import MarketMaking, MarketMakingConfig, Quotes

ROW = {"microprice_offset_bps": 1.5, "spread_bps": 3.0, "rvol_15": 0.001}
# Defaults: gamma 0.01 / bp, T - t = 10 events, k = 0.5 / bp. sigma = 0.001 * 1e4 = 10 bps, so
# gamma sigma^2 (T - t) = 0.01 * 100 * 10 = 10 bps of inventory risk, and the total spread is
# 10 + (2 / 0.01) ln(1 + 0.01 / 0.5) = 10 + 200 ln(1.02).
INVENTORY_RISK = 10.0
HALF = (10.0 + 200.0 * math.log(1.02)) / 2.0


def _offsets(quotes: Quotes | None) -> tuple[float | None, float | None]:
    assert quotes is not None
    return quotes.bid_offset_bps, quotes.ask_offset_bps


def test_on_features_given_flat_inventory_returns_quotes_symmetric_around_microprice() -> None:
    signal = MarketMaking().on_features(ROW)

    assert signal.active
    assert signal.target_position == 0.0
    assert _offsets(signal.quotes) == pytest.approx((1.5 - HALF, 1.5 + HALF))
    assert _offsets(signal.quotes)[1] == pytest.approx(1.5 + 6.980262, abs=1e-6)


def test_on_features_given_fills_returns_reservation_shifted_against_inventory() -> None:
    maker = MarketMaking()
    quotes = []
    for fill in (0.0, 0.5, 0.5, -1.5):
        maker.on_fill(fill)
        quotes.append(_offsets(maker.on_features(ROW).quotes))

    # q = 0.5: reservation 1.5 - 0.5 * 10 = -3.5. q = 1 (the limit): the bid is withdrawn, ask at
    # 1.5 - 10 + HALF. q = -0.5: reservation 1.5 + 5 = 6.5.
    assert quotes[1] == pytest.approx((-3.5 - HALF, -3.5 + HALF))
    assert quotes[2][0] is None
    assert quotes[2][1] == pytest.approx(1.5 - INVENTORY_RISK + HALF)
    assert quotes[3] == pytest.approx((6.5 - HALF, 6.5 + HALF))
    assert maker.state_dict() == {"inventory": -0.5}


def test_on_features_given_tiny_volatility_and_steep_fill_decay_returns_floored_half_spread() -> None:
    maker = MarketMaking(MarketMakingConfig(fill_decay=100.0, min_half_spread_bps=0.5))

    signal = maker.on_features({**ROW, "rvol_15": 1e-6})

    # gamma sigma^2 (T - t) = 0.01 * 0.0001 * 10 = 1e-5 and 200 ln(1.0001) ~ 0.02: the half-spread
    # would be ~0.01 bps, so the 0.5 bps floor holds.
    assert _offsets(signal.quotes) == pytest.approx((1.0, 2.0))


def test_on_features_given_no_book_or_warmup_returns_inactive_with_reason() -> None:
    maker = MarketMaking()

    no_book = maker.on_features({**ROW, "spread_bps": 0.0})
    warming = maker.on_features({**ROW, "rvol_15": math.nan})

    assert not no_book.active
    assert "no two-sided book" in no_book.reason
    assert not warming.active
    assert "rvol_15" in warming.reason


def test_quotes_given_mid_returns_limit_prices() -> None:
    quotes = Quotes(bid_offset_bps=-5.0, ask_offset_bps=None)

    assert quotes.prices(200.0) == (pytest.approx(199.9), None)
    with pytest.raises(ValueError, match="bid_offset_bps"):
        Quotes(bid_offset_bps=2.0, ask_offset_bps=1.0)


def test_load_state_dict_given_json_round_trip_returns_same_quotes() -> None:
    maker = MarketMaking()
    maker.on_fill(0.3)
    restored = MarketMaking()

    restored.load_state_dict(json.loads(json.dumps(maker.state_dict())))

    assert restored.on_features(ROW) == maker.on_features(ROW)
    with pytest.raises(ValueError, match="inventory"):
        restored.load_state_dict({"inventory": "a lot"})


@pytest.mark.parametrize("field", ["risk_aversion", "horizon_events", "fill_decay", "min_half_spread_bps"])
def test_config_given_non_positive_field_returns_error_naming_it(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MarketMakingConfig(**{field: 0.0})  # type: ignore[arg-type]
