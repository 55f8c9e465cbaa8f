"""The flow controls' own bookkeeping: the rate throttle's window counts and the drift window's anchor."""

from __future__ import annotations

from serving.safety.throttle import OrderRateThrottle, PriceWindow, WindowCount


def test_windows_given_more_windows_than_kept_returns_the_last_ones_with_the_open_one_last() -> None:
    throttle = OrderRateThrottle(limit=1, window_ns=10, kept_windows=2)
    for now in (0, 1, 12, 25, 26, 27):
        throttle.admit(now)

    assert throttle.windows() == [WindowCount(10, 10, 1, 1, 0), WindowCount(20, 10, 3, 1, 2)]


def test_windows_given_a_new_window_width_starts_a_new_count() -> None:
    throttle = OrderRateThrottle(limit=None, window_ns=10)
    throttle.admit(5)
    throttle.window_ns = 20
    throttle.admit(6)

    assert throttle.windows() == [WindowCount(0, 10, 1, 1, 0), WindowCount(0, 20, 1, 1, 0)]


def test_windows_given_no_order_yet_returns_none() -> None:
    assert OrderRateThrottle(limit=3, window_ns=10).windows() == []


def test_anchor_given_mids_over_time_returns_the_oldest_within_the_window_per_symbol() -> None:
    window = PriceWindow(window_ns=10)

    seen = [window.anchor("BTC", 0, 100.0), window.anchor("ETH", 5, 7.0), window.anchor("BTC", 9, 101.0)]
    seen.append(window.anchor("BTC", 10, 102.0))  # t=0 is now outside (t - 10, t]

    assert seen == [100.0, 7.0, 100.0, 101.0]
