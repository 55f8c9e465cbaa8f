"""PSI against quantile bins: near zero on the same distribution, past 0.25 on a shift, online equals batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.monitoring import PSI_SHIFT, PSI_STABLE, OnlinePsi, PsiReference
from models.seeding import make_rng

NAMES = ("ret", "vol", "flag")


def _matrix(rows: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Three columns: a normal (shifted by ``shift``), a lognormal, and a 0/1 flag (tied quantiles)."""
    rng = make_rng(seed)
    return np.column_stack(
        [rng.normal(shift, 1.0, rows), rng.lognormal(0.0, 0.5, rows), (rng.random(rows) < 0.3).astype(float)]
    )


def test_fit_given_continuous_feature_returns_deciles_holding_a_tenth_each() -> None:
    reference = PsiReference.fit(_matrix(10_000, 0), NAMES)

    assert reference.n_bins == 10
    assert len(reference.edges[0]) == 9
    np.testing.assert_allclose(reference.expected[0], 0.1, atol=1e-3)
    assert reference.edges[2] == (0.0, 1.0)  # 0/1 flag: the nine deciles collapse to two unique edges
    np.testing.assert_allclose(reference.expected[2][:2], [0.7, 0.3], atol=0.02)
    assert reference.expected[2][2:].sum() == 0.0


def test_psi_given_same_distribution_returns_values_below_stable_threshold() -> None:
    reference = PsiReference.fit(_matrix(10_000, 0), NAMES)

    psi = reference.psi(_matrix(5_000, 1))

    assert all(v < 0.01 for v in psi.values()), psi
    assert max(psi.values()) < PSI_STABLE


def test_psi_given_half_sigma_shift_returns_value_above_shift_threshold_for_that_feature_only() -> None:
    reference = PsiReference.fit(_matrix(10_000, 0), NAMES)

    psi = reference.psi(_matrix(5_000, 1, shift=1.0))

    assert psi["ret"] > PSI_SHIFT
    assert psi["vol"] < PSI_STABLE and psi["flag"] < PSI_STABLE


def test_psi_given_value_outside_reference_range_returns_finite_large_value() -> None:
    reference = PsiReference.fit(_matrix(1_000, 0), NAMES)
    window = _matrix(200, 1)
    window[:, 0] = 50.0

    psi = reference.psi(window)

    assert np.isfinite(psi["ret"]) and psi["ret"] > 5.0


def test_online_psi_given_sliding_window_returns_batch_psi_of_last_window_rows() -> None:
    reference = PsiReference.fit(_matrix(5_000, 0), NAMES)
    stream = np.vstack([_matrix(700, 1), _matrix(800, 2, shift=0.8)])
    stream[::97, 1] = np.nan
    online = OnlinePsi(reference, window=500)

    for row in stream:
        online.update(row)

    assert online.count == 500
    batch = reference.psi(stream[-500:])
    for name in NAMES:
        assert online.psi()[name] == pytest.approx(batch[name], rel=1e-12, abs=1e-12)
    assert online.max_psi() == pytest.approx(max(batch.values()))


def test_online_psi_given_partial_window_returns_batch_psi_of_rows_seen() -> None:
    reference = PsiReference.fit(_matrix(2_000, 0), NAMES)
    stream = _matrix(120, 3)
    online = OnlinePsi(reference, window=500)

    for row in stream:
        online.update(row)

    assert online.count == 120
    assert online.psi() == pytest.approx(reference.psi(stream))


def test_online_psi_given_no_event_raises() -> None:
    online = OnlinePsi(PsiReference.fit(_matrix(100, 0), NAMES), window=10)

    with pytest.raises(RuntimeError, match="no event"):
        online.psi()


def test_save_then_load_given_reference_returns_identical_bins_and_psi(tmp_path: Path) -> None:
    reference = PsiReference.fit(_matrix(3_000, 0), NAMES)
    window = _matrix(400, 4, shift=0.3)

    loaded = PsiReference.load(reference.save(tmp_path / "psi_reference.json"))

    assert loaded.names == reference.names
    assert loaded.edges == reference.edges
    np.testing.assert_array_equal(loaded.expected, reference.expected)
    assert loaded.psi(window) == reference.psi(window)
    assert (tmp_path / "psi_reference.json").read_text().startswith("{")


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones((5, 3)), "fewer than the 10 bins"),
        (np.ones((50, 2)), "matrix"),
        (np.column_stack([np.full(50, np.nan), np.ones((50, 2))]), "no finite value"),
    ],
)
def test_fit_given_unusable_reference_raises(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PsiReference.fit(matrix, NAMES)
