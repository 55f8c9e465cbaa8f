"""The exported actor (safetensors + ONNX) acts exactly as the trained policy, and loads without pickle."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from stable_baselines3 import PPO
from stable_baselines3.td3.td3 import TD3

from models.agents import (
    DDPGConfig,
    ExportedActor,
    NumpyActor,
    PPOConfig,
    TrainingProgress,
    export_actor,
    load_actor,
    load_torch_actor,
    read_actor,
    train_ddpg,
    train_ppo,
)
from models.agents._kernels import observe_and_act
from models.agents.export import weights_digest
from models.env import TradingEnv, TradingEnvConfig, btc_perp_replay
from models.env.observation import FeatureScaler, ObservationBuilder
from models.seeding import make_rng


def _quiet(progress: TrainingProgress) -> None:
    del progress


@pytest.fixture(scope="module")
def env() -> TradingEnv:
    return TradingEnv(btc_perp_replay(), TradingEnvConfig(episode_length=200))


@pytest.fixture(scope="module")
def ddpg(env: TradingEnv) -> TD3:
    return train_ddpg(env, DDPGConfig(hidden_dim=64, batch_size=32, learning_starts=100, seed=1), 300, _quiet)


@pytest.fixture(scope="module")
def ppo(env: TradingEnv) -> PPO:
    return train_ppo(env, PPOConfig(n_steps=128, batch_size=32, n_epochs=2, seed=1), 256, _quiet)


def _observations(env: TradingEnv, n: int = 64) -> np.ndarray:
    low, high = env.observations.bounds()
    return make_rng(3).uniform(low, high, size=(n, len(low))).astype(np.float32)


@pytest.mark.parametrize("backend", ["numpy", "torch", "onnx"])
@pytest.mark.parametrize("algorithm", ["ddpg", "ppo"])
def test_load_actor_given_exported_policy_returns_the_deterministic_action(
    request: pytest.FixtureRequest, env: TradingEnv, tmp_path: Path, algorithm: str, backend: str
) -> None:
    model = request.getfixturevalue(algorithm)
    obs = _observations(env)
    export_actor(model, tmp_path)

    actor = load_actor(tmp_path, backend)  # type: ignore[arg-type]

    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(actor(obs), expected, rtol=0.0, atol=1e-5)
    np.testing.assert_allclose(actor(obs[0]), expected[0], rtol=0.0, atol=1e-5)


def test_export_actor_given_ddpg_returns_metadata_of_the_network(ddpg: TD3, tmp_path: Path) -> None:
    spec = export_actor(ddpg, tmp_path)

    assert spec.algorithm == "ddpg"
    assert spec.layer_sizes == (30, 64, 64, 3)
    assert (spec.activation, spec.output) == ("relu", "tanh_rescale")
    assert (spec.action_low, spec.action_high) == ((-1.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert read_actor(tmp_path)[0] == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["actor.onnx", "actor.safetensors"]


def test_load_torch_actor_given_export_returns_plain_mlp_module(ppo: PPO, tmp_path: Path) -> None:
    export_actor(ppo, tmp_path)

    module = load_torch_actor(tmp_path)

    assert [type(m).__name__ for m in module.modules()] == [
        "ActorMLP",
        "ModuleList",
        "Linear",
        "Linear",
        "Linear",
        "Tanh",
    ]


def test_read_actor_given_tampered_weights_returns_error(ddpg: TD3, tmp_path: Path) -> None:
    export_actor(ddpg, tmp_path)
    weights = tmp_path / "actor.safetensors"
    tensors = safetensors.numpy.load_file(str(weights))
    tensors["layers.0.bias"] = tensors["layers.0.bias"] + 1.0
    metadata = {"rtopt_actor": read_actor(tmp_path)[0].to_json()}
    safetensors.numpy.save_file(tensors, str(weights), metadata=metadata)

    with pytest.raises(ValueError, match="SHA-256"):
        load_actor(tmp_path)


def test_read_actor_given_safetensors_without_metadata_returns_error(tmp_path: Path) -> None:
    safetensors.numpy.save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "actor.safetensors"))

    with pytest.raises(ValueError, match="not an exported actor"):
        load_actor(tmp_path, "onnx")


def test_exported_actor_given_json_round_trip_returns_equal_metadata(ddpg: TD3, tmp_path: Path) -> None:
    spec = export_actor(ddpg, tmp_path)

    assert ExportedActor.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("algorithm", ["ddpg", "ppo"])
def test_numpy_actor_given_one_row_returns_the_batch_path_action(
    request: pytest.FixtureRequest, env: TradingEnv, tmp_path: Path, algorithm: str
) -> None:
    export_actor(request.getfixturevalue(algorithm), tmp_path)
    actor = load_actor(tmp_path)
    obs = _observations(env, 16)

    rows = np.stack([actor(row) for row in obs])

    np.testing.assert_allclose(rows, actor(obs), rtol=0.0, atol=1e-6)
    np.testing.assert_allclose(actor(obs[0].astype(np.float64)), rows[0], rtol=0.0, atol=1e-6)
    strided = np.repeat(obs[0], 2)[::2]
    np.testing.assert_allclose(actor(strided), rows[0], rtol=0.0, atol=1e-6)


def test_observe_and_act_given_live_features_returns_build_then_actor_bit_for_bit(
    ddpg: TD3, env: TradingEnv, tmp_path: Path
) -> None:
    export_actor(ddpg, tmp_path)
    actor = load_actor(tmp_path)
    builder = ObservationBuilder(FeatureScaler(center=(0.5,) * 21, scale=(2.0,) * 21), clip=10.0)
    rng = make_rng(3)
    assert isinstance(actor, NumpyActor)
    fused = actor.row_args(builder.dim)
    assert fused is not None and actor.row_args(builder.dim + 1) is None
    center, scale, clip = builder.kernel_args()
    for regime, position, close in ((-1, 0.5, 101.0), (0, -0.25, 180.0), (6, 0.0, 99.0), (3, 1.0, np.nan)):
        features = np.where(rng.random(21) < 0.1, np.nan, rng.normal(scale=30.0, size=21))

        obs = np.full(builder.dim, np.nan, dtype=np.float32)
        action = observe_and_act(obs, features, center, scale, clip, position, 100.0, close, regime, *fused)

        expected = builder.build(features, position=position, entry_price=100.0, close=close, regime=regime)
        np.testing.assert_array_equal(obs, expected)
        np.testing.assert_array_equal(action, actor(expected))


def test_numpy_actor_given_row_returns_a_fresh_array_each_call(ddpg: TD3, env: TradingEnv, tmp_path: Path) -> None:
    export_actor(ddpg, tmp_path)
    actor = load_actor(tmp_path)
    obs = _observations(env, 2)
    first = actor(obs[0])
    kept = first.copy()

    first[:] = 99.0
    second = actor(obs[1])

    assert second is not first
    np.testing.assert_array_equal(actor(obs[0]), kept)


def test_numpy_actor_given_nan_observation_returns_nan_action(ddpg: TD3, env: TradingEnv, tmp_path: Path) -> None:
    export_actor(ddpg, tmp_path)
    obs = _observations(env, 1)[0]
    obs[0] = np.nan

    action = load_actor(tmp_path)(obs)

    assert np.isnan(action).all()


def test_numpy_actor_given_wrong_length_row_returns_error(ddpg: TD3, tmp_path: Path) -> None:
    export_actor(ddpg, tmp_path)
    actor = load_actor(tmp_path)

    with pytest.raises(ValueError, match=r"obs: expected shape \(30,\)"):
        actor(np.zeros(29, np.float32))


def test_numpy_actor_given_row_returns_bitwise_the_float32_sums_in_input_order() -> None:
    """The packed row kernel sums each output as ``b, x0 w0, x1 w1, ...`` in float32, as a per-input numpy
    axpy does (ReLU and clip: numpy's tanh is not the kernel's libm tanhf, so a tanh net is not bit-comparable)."""
    rng = make_rng(5)
    sizes = (7, 16, 9, 3)
    layers = [
        (rng.normal(size=(o, i)).astype(np.float32), rng.normal(size=o).astype(np.float32))
        for i, o in itertools.pairwise(sizes)
    ]
    low, high = np.array([-1.0, 0.0, 0.0], np.float32), np.array([1.0, 1.0, 1.0], np.float32)
    spec = ExportedActor(
        algorithm="ppo",
        layer_sizes=sizes,
        activation="relu",
        output="clip",
        action_low=tuple(low.tolist()),
        action_high=tuple(high.tolist()),
        weights_sha256=weights_digest(layers),
    )
    actor = NumpyActor(spec, layers)

    for x in rng.normal(size=(100, sizes[0])).astype(np.float32):
        h = x
        for k, (w, b) in enumerate(layers):
            h = np.maximum(h, np.float32(0.0)) if k else h
            out = b.copy()
            for i in range(len(h)):
                out += h[i] * w[:, i]
            h = out
        assert actor(x).tobytes() == np.clip(h, low, high).tobytes()
