"""Learning-curve and confusion-matrix PNGs: real images of the expected size, and loud errors on no data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from models.marketdata.simulator import REGIMES
from serving.training.plots import (
    CONFUSION_SIZE,
    CURVE_SIZE,
    DPI,
    curve_file_name,
    plot_confusion,
    plot_curve,
    plot_curves,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path, inches: tuple[float, float]) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 10_000
    pixels = imread(path)
    assert pixels.shape[:2] == (round(inches[1] * DPI), round(inches[0] * DPI))
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_plot_curve_given_hand_made_curve_returns_png_of_the_figure_size(tmp_path: Path) -> None:
    curve = [-3.0, -2.5, -1.0, -1.2, 0.4, 1.1, 0.9, 1.8]

    path = plot_curve("mean_episode_return", curve, tmp_path / "plots" / "curve.png", model="rtopt-ppo")

    assert path == tmp_path / "plots" / "curve.png"
    _assert_png(path, CURVE_SIZE)


def test_plot_curve_given_single_point_returns_png(tmp_path: Path) -> None:
    _assert_png(plot_curve("reward_bps_ewma", [0.5], tmp_path / "one.png", model="rtopt-bandit"), CURVE_SIZE)


@pytest.mark.parametrize("values", [[], (), np.array([], dtype=np.float32)])
def test_plot_curve_given_empty_curve_returns_error_naming_the_curve(tmp_path: Path, values: list[float]) -> None:
    with pytest.raises(ValueError, match=r"curve 'mean_episode_return' of rtopt-ddpg: no values to plot"):
        plot_curve("mean_episode_return", values, tmp_path / "empty.png", model="rtopt-ddpg")

    assert not (tmp_path / "empty.png").exists()


def test_plot_curve_given_only_nan_returns_error_naming_the_curve(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"curve 'loss' of m: no finite value"):
        plot_curve("loss", [float("nan")] * 3, tmp_path / "nan.png", model="m")


def test_plot_curves_given_two_curves_returns_a_png_named_after_each(tmp_path: Path) -> None:
    curves = {"mean_episode_return": [1.0, 2.0, 3.0], "train/loss": [0.9, 0.5]}

    paths = plot_curves(curves, tmp_path, model="rtopt-ppo")

    assert [p.name for p in paths] == ["mean_episode_return.png", "train_loss.png"]
    for path in paths:
        _assert_png(path, CURVE_SIZE)


def test_plot_curves_given_one_empty_curve_returns_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'reward_bps_ewma'"):
        plot_curves({"ok": [1.0], "reward_bps_ewma": []}, tmp_path, model="rtopt-bandit")


def test_plot_curves_given_names_colliding_as_files_returns_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="collide"):
        plot_curves({"a/b": [1.0], "a_b": [2.0]}, tmp_path, model="m")


def test_curve_file_name_given_separators_returns_safe_name() -> None:
    assert curve_file_name("eval/mean return") == "eval_mean_return.png"


def test_plot_confusion_given_regime_counts_returns_png_of_the_figure_size(tmp_path: Path) -> None:
    k = len(REGIMES)
    confusion = (np.eye(k, dtype=np.int64) * 90 + 5).tolist()
    confusion[3] = [0] * k  # a regime with no rows: blank cells, not an error

    path = plot_confusion(confusion, [r.value for r in REGIMES], tmp_path / "confusion.png", title="test seeds")

    _assert_png(path, CONFUSION_SIZE)


def test_plot_confusion_given_wrong_shape_returns_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected a 3 x 3 matrix"):
        plot_confusion([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "bad.png", title="t")
