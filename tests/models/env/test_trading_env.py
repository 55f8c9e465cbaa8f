"""The trading env on real and simulated data: no lookahead, seeded windows, live parity, config checks."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from models.env import (
    OBSERVATION_DIM,
    ExecutionConfig,
    FeatureScaler,
    MarketReplay,
    RewardConfig,
    TradingEnv,
    TradingEnvConfig,
    btc_perp_replay,
    env_steps_per_s,
)
from models.features import FEATURE_NAMES, FeatureEngine, compute_features, events_frame, timestamp_ns
from models.features.batch import EVENT_COLUMNS, event_arrays
from models.marketdata.samples import SAMPLES
from models.marketdata.simulator import SimulatorConfig, simulate
from models.seeding import make_rng


@pytest.fixture(scope="module")
def btc_replay() -> MarketReplay:
    return btc_perp_replay()


def test_step_given_changed_future_rows_returns_same_observation_and_reward_before_the_change() -> None:
    frame = simulate(SimulatorConfig(seed=3, n_bars=420))
    cut = 260
    changed = frame.copy()
    for column in ("open", "high", "low", "close", "bid", "ask"):
        changed.loc[cut:, column] *= 1.07
    changed.loc[cut:, "volume"] *= 3.0
    changed.loc[cut:, "regime"] = "high_volatility"
    base, future_changed = MarketReplay.from_simulation(frame), MarketReplay.from_simulation(changed)
    scaler = FeatureScaler.fit(base.features[base.first_valid : cut])
    config = TradingEnvConfig(episode_length=250)
    envs = [TradingEnv(replay, config, scaler=scaler) for replay in (base, future_changed)]
    observations = [env.reset(options={"start": 100})[0] for env in envs]
    actions = make_rng(7).uniform([-1.0, 0.0, 0.0], [1.0, 1.0, 1.0], size=(250, 3)).astype(np.float32)
    differs_after_cut = False

    for action in actions:
        (obs_a, reward_a, *_, info), (obs_b, reward_b, *_) = (env.step(action) for env in envs)
        if info["row"] < cut:
            np.testing.assert_array_equal(obs_a, obs_b)
            assert reward_a == reward_b
        else:
            differs_after_cut |= bool(reward_a != reward_b or (obs_a != obs_b).any())

    np.testing.assert_array_equal(observations[0], observations[1])
    assert differs_after_cut


def test_replay_given_btc_bars_returns_the_offline_features_unchanged(btc_replay: MarketReplay) -> None:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    offline = compute_features(events_frame(sample.load().frame, sample.kind))

    np.testing.assert_array_equal(btc_replay.features, offline[list(FEATURE_NAMES)].to_numpy())
    assert btc_replay.first_valid == 60
    assert not btc_replay.regime.any()


def test_observation_given_live_engine_vector_returns_the_env_observation(btc_replay: MarketReplay) -> None:
    sample = next(s for s in SAMPLES if s.symbol == "BTC-PERP")
    events = events_frame(sample.load().frame, sample.kind).iloc[:500]
    engine, ev = FeatureEngine(), event_arrays(events)
    live = engine.update_many(timestamp_ns(events["timestamp"]), *(ev[c] for c in EVENT_COLUMNS))
    env = TradingEnv(btc_replay, TradingEnvConfig(episode_length=100))
    env_obs, _ = env.reset(options={"start": 400})

    built = env.observations.build(live[400], position=0.0, entry_price=0.0, close=float(ev["close"][400]))

    np.testing.assert_allclose(built, env_obs, rtol=1e-5, atol=1e-6)
    assert built.shape == (OBSERVATION_DIM,)


def test_observation_given_simulated_regime_returns_its_one_hot() -> None:
    frame = simulate(SimulatorConfig(seed=1, n_bars=300))
    env = TradingEnv(MarketReplay.from_simulation(frame), TradingEnvConfig(episode_length=100))

    obs, _ = env.reset(options={"start": 150})

    regime_block = obs[len(FEATURE_NAMES) + 2 :]
    assert regime_block.sum() == 1.0
    assert env.observations.names[len(FEATURE_NAMES) + 2 + int(regime_block.argmax())].endswith(frame["regime"][150])


def test_reset_given_same_seed_returns_same_window_inside_the_training_period(btc_replay: MarketReplay) -> None:
    train = btc_replay.slice(0, 7_000)
    env = TradingEnv(train, TradingEnvConfig(episode_length=500))

    starts = [env.reset(seed=s)[1]["row"] for s in (11, 11, 12)]
    free = [env.reset()[1]["row"] for _ in range(200)]

    assert starts[0] == starts[1] != starts[2]
    assert min(free) >= train.first_valid
    assert max(free) <= len(train) - 1 - 500


def test_episode_given_length_returns_truncation_after_that_many_steps(btc_replay: MarketReplay) -> None:
    env = TradingEnv(btc_replay, TradingEnvConfig(episode_length=50))
    env.reset(seed=0)

    flags = [env.step(env.action_space.sample())[3] for _ in range(50)]

    assert flags == [False] * 49 + [True]


def test_check_env_given_btc_replay_returns_no_error(btc_replay: MarketReplay) -> None:
    check_env(TradingEnv(btc_replay, TradingEnvConfig(episode_length=200)), skip_render_check=True)


def test_env_steps_per_s_given_btc_replay_returns_at_least_20k(btc_replay: MarketReplay) -> None:
    assert env_steps_per_s(20_000, replay=btc_replay) >= 20_000


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ExecutionConfig(fee_bps=-1.0), "fee_bps"),
        (lambda: ExecutionConfig(min_trade=float("nan")), "min_trade"),
        (lambda: RewardConfig(reward_scale=0.0), "reward_scale"),
        (lambda: RewardConfig(time_decay=True), "time_decay"),
        (lambda: TradingEnvConfig(episode_length=0), "episode_length"),
        (lambda: TradingEnvConfig(observation_clip=float("inf")), "observation_clip"),
    ],
)
def test_config_given_bad_value_returns_error_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()  # type: ignore[operator]


def test_config_given_unknown_field_returns_type_error() -> None:
    with pytest.raises(TypeError):
        TradingEnvConfig(episode_lenght=10)  # type: ignore[call-arg]


def test_env_given_episode_longer_than_data_returns_error_naming_episode_length(btc_replay: MarketReplay) -> None:
    with pytest.raises(ValueError, match="episode_length"):
        TradingEnv(btc_replay.slice(0, 100), TradingEnvConfig(episode_length=50))


def test_reset_given_start_past_last_window_returns_error_naming_start(btc_replay: MarketReplay) -> None:
    env = TradingEnv(btc_replay, TradingEnvConfig(episode_length=100))

    with pytest.raises(ValueError, match="start"):
        env.reset(options={"start": len(btc_replay) - 50})
