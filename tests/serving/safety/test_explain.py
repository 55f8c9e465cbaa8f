"""DecisionExplainer: closed forms on linear models, additivity on the trained actor, sampling and the budget.

Tolerances. DeepSHAP's attributions sum to ``output - expected_value`` exactly in real arithmetic; in float32
through a 30-256-256 network the gap is rounding, below 1e-4 on a size in [-1, 1]. Expected gradients is a
Monte Carlo estimate: with 2,000 samples (seeded) its gap measured ~2e-3 on this actor; the bound is 0.01.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from models.agents.export import (
    Activation,
    ExportedActor,
    NumpyActor,
    OutputKind,
    load_torch_actor,
    weights_digest,
)
from models.bandit import ContextualBanditConfig, LinUCB, build_context, context_dim, context_layout
from models.env import OBSERVATION_NAMES, MarketReplay, ObservationBuilder
from models.marketdata.samples import SAMPLES
from models.marketdata.simulator import REGIMES
from models.seeding import make_rng
from serving.decision.bundle import ModelBundle, load_bundle_dir
from serving.safety.actor_network import ActorSource, size_network
from serving.safety.explain import (
    DecisionExplainer,
    ExplanationConfig,
    background_from_replay,
    load_background,
    save_background,
    top_features,
)

N_OBS = len(OBSERVATION_NAMES)
ARMS = ("a", "b")
EXACT = ExplanationConfig(budget_ms=math.inf)


@pytest.fixture(scope="module")
def bundle(decision_bundle_dir: Path) -> ModelBundle:
    return load_bundle_dir(decision_bundle_dir)


@pytest.fixture(scope="module")
def replays() -> tuple[MarketReplay, MarketReplay]:
    """The BTC-PERP week split as the bundle was trained: the first 60% and the held-out rest."""
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    frame = sample.load().frame
    cut = int(len(frame) * 0.6)
    return MarketReplay.from_bars(frame.iloc[:cut], sample.kind), MarketReplay.from_bars(frame.iloc[cut:], sample.kind)


@pytest.fixture(scope="module")
def background(bundle: ModelBundle, replays: tuple[MarketReplay, MarketReplay]) -> np.ndarray:
    return background_from_replay(replays[0], bundle.scaler, 32, seed=0)


@pytest.fixture(scope="module")
def observations(bundle: ModelBundle, replays: tuple[MarketReplay, MarketReplay]) -> np.ndarray:
    """Held-out observations as the live policy builds them: a position on, a regime known."""
    rows = background_from_replay(replays[1], bundle.scaler, 8, seed=1)
    builder = ObservationBuilder(bundle.scaler, clip=10.0)
    rows[:, builder.position_index] = np.linspace(-0.8, 0.8, len(rows))
    rows[:, builder.unrealized_index] = np.linspace(0.3, -0.3, len(rows))
    rows[:, builder.regime_start + 2] = 1.0
    return rows


@pytest.fixture(scope="module")
def context(bundle: ModelBundle, replays: tuple[MarketReplay, MarketReplay]) -> np.ndarray:
    held_out = replays[1]
    features = dict(zip(held_out.feature_names, held_out.features[held_out.first_valid + 10].tolist(), strict=True))
    pnl = np.linspace(-3.0, 3.0, len(bundle.bandit.arms))
    return build_context(features, REGIMES[0], pnl)


def real_explainer(
    bundle: ModelBundle, actor: ActorSource, background: np.ndarray, config: ExplanationConfig = EXACT
) -> DecisionExplainer:
    names = context_layout(bundle.bandit.arms)
    return DecisionExplainer(actor, bundle.bandit, OBSERVATION_NAMES, names, background, config)


def toy_bandit() -> LinUCB:
    return LinUCB(ARMS, ContextualBanditConfig(dim=context_dim(len(ARMS)), max_concurrent_strategies=1))


def linear_model(rng: np.random.Generator) -> nn.Linear:
    model = nn.utils.skip_init(nn.Linear, N_OBS, 3)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(rng.normal(size=(3, N_OBS)), dtype=torch.float32))
        model.bias.copy_(torch.as_tensor(rng.normal(size=3), dtype=torch.float32))
    return model


def test_deep_attributions_given_linear_model_equal_closed_form() -> None:
    rng = make_rng(0)
    model, background = linear_model(rng), rng.normal(size=(32, N_OBS)).astype(np.float32)
    x = rng.normal(size=N_OBS).astype(np.float32)
    explainer = DecisionExplainer(model, toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), background, EXACT)
    explanation = explainer.explain(x, np.ones(context_dim(len(ARMS))), 0)
    assert explanation is not None and explanation["actor"] is not None
    w = model.weight.detach().numpy()[0].astype(np.float64)
    closed_form = w * (x - background.astype(np.float64).mean(axis=0))
    got = np.array([explanation["actor"]["attributions"][name] for name in OBSERVATION_NAMES])
    np.testing.assert_allclose(got, closed_form, atol=1e-5)
    assert "background=32" in explanation["method"]


def test_explainer_given_a_torch_module_explains_a_frozen_copy_and_leaves_the_module_trainable() -> None:
    rng = make_rng(2)
    model, background = linear_model(rng), rng.normal(size=(8, N_OBS)).astype(np.float32)
    explainer = DecisionExplainer(model, toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), background, EXACT)

    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in explainer.actor.network.parameters())
    x = rng.normal(size=N_OBS).astype(np.float32)
    output, _ = explainer.actor(x)
    assert output == float(model(torch.as_tensor(x).reshape(1, -1))[0, 0])


def test_gradient_attributions_given_linear_model_and_mean_baseline_equal_closed_form() -> None:
    rng = make_rng(1)
    model, x = linear_model(rng), rng.normal(size=N_OBS).astype(np.float32)
    config = ExplanationConfig(method="gradient", budget_ms=math.inf)
    explainer = DecisionExplainer(model, toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), None, config)
    explanation = explainer.explain(x, np.ones(context_dim(len(ARMS))), 1)
    assert explanation is not None and explanation["actor"] is not None
    closed_form = model.weight.detach().numpy()[0].astype(np.float64) * x  # the baseline is the zero row
    got = np.array(list(explanation["actor"]["attributions"].values()))
    np.testing.assert_allclose(got, closed_form, atol=1e-5)
    assert "baseline=mean" in explanation["method"]
    assert explanation["actor"]["expected_value"] == pytest.approx(float(model.bias.detach()[0]), abs=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("output", ["tanh_rescale", "clip"])
def test_size_network_given_exported_layers_matches_numpy_actor(activation: Activation, output: OutputKind) -> None:
    rng = make_rng(2)
    sizes = (N_OBS, 16, 16, 3)
    layers = [
        (rng.normal(size=(o, i)).astype(np.float32), rng.normal(size=o).astype(np.float32))
        for i, o in itertools.pairwise(sizes)
    ]
    spec = ExportedActor(
        algorithm="test",
        layer_sizes=sizes,
        activation=activation,
        output=output,
        action_low=(-1.0, 0.0, 0.0),
        action_high=(1.0, 1.0, 1.0),
        weights_sha256=weights_digest(layers),
    )
    x = rng.normal(size=(64, N_OBS)).astype(np.float32)
    with torch.no_grad():
        size = size_network(spec, layers)(torch.as_tensor(x)).numpy()[:, 0]
    np.testing.assert_allclose(size, NumpyActor(spec, layers)(x)[:, 0], atol=1e-5)


def test_deep_attributions_given_trained_actor_sum_to_output_minus_expected(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    explainer = real_explainer(bundle, decision_bundle_dir / "actor", background)
    assert explainer.actor.expected_value == pytest.approx(float(bundle.actor(background)[:, 0].mean()), abs=1e-5)
    for obs in observations:
        explanation = explainer.explain(obs, context, 0)
        assert explanation is not None and explanation["actor"] is not None
        actor = explanation["actor"]
        assert actor["output"] == pytest.approx(float(bundle.actor(obs)[0]), abs=1e-5)
        assert math.fsum(actor["attributions"].values()) == pytest.approx(
            actor["output"] - actor["expected_value"], abs=1e-4
        )
        assert abs(actor["additivity_gap"]) < 1e-4
        assert json.loads(json.dumps(explanation, allow_nan=False)) == explanation  # the audit record's form


def test_gradient_attributions_given_trained_actor_sum_to_output_minus_expected(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    explainer = real_explainer(
        bundle,
        decision_bundle_dir / "actor",
        background,
        ExplanationConfig(method="gradient", gradient_samples=2_000, budget_ms=math.inf),
    )
    gaps = []
    for obs in observations[:3]:
        explanation = explainer.explain(obs, context, 0)
        assert explanation is not None and explanation["actor"] is not None
        gaps.append(explanation["actor"]["additivity_gap"])
    print(f"expected gradients (2,000 samples): additivity gaps {np.round(gaps, 4).tolist()}")
    assert max(abs(g) for g in gaps) < 0.01


def test_explainer_given_torch_module_matches_exported_folder(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    from_folder = real_explainer(bundle, decision_bundle_dir / "actor", background)
    from_module = real_explainer(bundle, load_torch_actor(decision_bundle_dir / "actor"), background)
    a, b = (e.explain(observations[0], context, 1) for e in (from_folder, from_module))
    assert a is not None and b is not None
    assert a["actor"]["attributions"] == pytest.approx(b["actor"]["attributions"], abs=1e-6)


def test_bandit_attributions_given_trained_bandit_sum_to_theta_dot_x(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    explainer = real_explainer(bundle, decision_bundle_dir / "actor", background)
    for arm, name in enumerate(bundle.bandit.arms):
        explanation = explainer.explain(observations[0], context, arm)
        assert explanation is not None
        part, theta = explanation["bandit"], bundle.bandit.theta[arm]
        assert part["arm"] == name
        assert list(part["attributions"]) == list(context_layout(bundle.bandit.arms))
        assert list(part["attributions"].values()) == (theta * context).tolist()
        assert math.fsum(part["attributions"].values()) == pytest.approx(float(theta @ context), rel=1e-12, abs=1e-12)
        assert part["mean"] == pytest.approx(float(theta @ context), rel=1e-12, abs=1e-12)
        assert part["score"] == pytest.approx(bundle.bandit.scores(context)[arm], rel=1e-9)
        assert part["score"] == pytest.approx(part["mean"] + part["bonus"], rel=1e-12)
    assert any(abs(v) > 0.0 for v in part["attributions"].values()), "a trained bandit has a non-zero theta"


def test_top_features_given_trained_actor_are_the_largest_attributions_with_signs(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    explainer = real_explainer(
        bundle, decision_bundle_dir / "actor", background, ExplanationConfig(top_k=4, budget_ms=math.inf)
    )
    explanation = explainer.explain(observations[3], context, 0)
    assert explanation is not None
    top, attributions = explanation["top_features"], explanation["actor"]["attributions"]
    assert len(top) == 4
    magnitudes = [abs(f["attribution"]) for f in top]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert magnitudes[-1] >= max(abs(a) for n, a in attributions.items() if n not in {f["feature"] for f in top})
    for feature in top:
        assert feature["attribution"] == attributions[feature["feature"]]
        assert feature["sign"] == ("+" if feature["attribution"] > 0 else "-")
        assert feature["value"] == pytest.approx(float(observations[3][OBSERVATION_NAMES.index(feature["feature"])]))


def test_top_features_given_hand_made_attributions_orders_by_magnitude_and_marks_zero() -> None:
    top = top_features(("a", "b", "c", "d"), [1.0, 2.0, 3.0, 4.0], [0.5, -2.0, 0.0, 0.5], k=4)
    assert [(f["feature"], f["sign"]) for f in top] == [("b", "-"), ("a", "+"), ("d", "+"), ("c", "0")]
    assert [f["value"] for f in top] == [2.0, 1.0, 4.0, 3.0]


def test_explain_given_sample_every_3_explains_the_actor_on_every_third_call() -> None:
    rng = make_rng(3)
    config = ExplanationConfig(sample_every=3, budget_ms=math.inf)
    explainer = DecisionExplainer(
        linear_model(rng), toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), None, config
    )
    explanations = [explainer.explain(np.ones(N_OBS), np.ones(context_dim(2)), 0) for _ in range(9)]
    assert all(e is not None for e in explanations)
    explained = [e["call"] for e in explanations if e is not None and e["actor"] is not None]
    assert explained == [0, 3, 6]
    skipped = [e for e in explanations if e is not None and e["actor"] is None]
    assert all(e["top_features"] == [] and e["actor_skipped"].startswith("not sampled") for e in skipped)
    assert all(e is not None and "attributions" in e["bandit"] for e in explanations)


def test_explain_given_actor_over_budget_halves_its_rate_down_to_the_cap() -> None:
    rng = make_rng(4)
    config = ExplanationConfig(budget_ms=1e-9, max_actor_every=4)
    explainer = DecisionExplainer(
        linear_model(rng), toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), None, config
    )
    explanations = [explainer.explain(np.ones(N_OBS), np.ones(context_dim(2)), 0) for _ in range(16)]
    explained = [e for e in explanations if e is not None and e["actor"] is not None]
    assert [e["call"] for e in explained] == [0, 2, 6, 10, 14]
    assert all(e["budget"]["over_budget"] for e in explained)
    second = explanations[1]
    assert second is not None and "slowed from 1 in 1" in second["actor_skipped"]


def test_explain_given_disabled_returns_none() -> None:
    config = ExplanationConfig(enabled=False)
    explainer = DecisionExplainer(
        linear_model(make_rng(5)), toy_bandit(), OBSERVATION_NAMES, context_layout(ARMS), None, config
    )
    assert explainer.explain(np.ones(N_OBS), np.ones(context_dim(2)), 0) is None


def test_background_from_replay_given_seed_is_deterministic_flat_and_defined(
    bundle: ModelBundle, replays: tuple[MarketReplay, MarketReplay]
) -> None:
    first = background_from_replay(replays[0], bundle.scaler, 16, seed=7)
    again = background_from_replay(replays[0], bundle.scaler, 16, seed=7)
    assert first.shape == (16, N_OBS) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, background_from_replay(replays[0], bundle.scaler, 16, seed=8))
    assert (first[:, OBSERVATION_NAMES.index("position")] == 0.0).all()
    with pytest.raises(ValueError, match="n: must lie in"):
        background_from_replay(replays[0], bundle.scaler, len(replays[0]) + 1, seed=0)


def test_background_given_npy_round_trips_and_pickled_file_is_refused(tmp_path: Path) -> None:
    rows = make_rng(6).normal(size=(4, N_OBS)).astype(np.float32)
    np.testing.assert_array_equal(load_background(save_background(tmp_path / "background.npy", rows)), rows)
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_background(tmp_path / "pickled.npy")


def test_explain_latency_is_measured_and_reported(
    bundle: ModelBundle,
    decision_bundle_dir: Path,
    background: np.ndarray,
    observations: np.ndarray,
    context: np.ndarray,
) -> None:
    explainer = real_explainer(
        bundle, decision_bundle_dir / "actor", background, ExplanationConfig(sample_every=2, budget_ms=math.inf)
    )
    explanations = [explainer.explain(observations[i % len(observations)], context, 0) for i in range(60)]
    actor = [e["budget"]["actor_ms"] for e in explanations if e is not None and e["actor"] is not None]
    bandit_only = [e["elapsed_ms"] for e in explanations if e is not None and e["actor"] is None]
    assert len(actor) == len(bandit_only) == 30
    assert all(e is not None and e["elapsed_ms"] >= (e["budget"]["actor_ms"] or 0.0) for e in explanations)
    print(
        f"\nexplain latency: actor DeepSHAP (background 32) p50 {np.percentile(actor, 50):.2f} ms,"
        f" p99 {np.percentile(actor, 99):.2f} ms; bandit-only call p50 {np.percentile(bandit_only, 50) * 1e3:.1f} us,"
        f" p99 {np.percentile(bandit_only, 99) * 1e3:.1f} us"
    )
