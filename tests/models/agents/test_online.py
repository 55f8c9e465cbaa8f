"""Online DDPG: live transitions train at a bounded rate in a background thread; decisions read a snapshot."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from models.agents import DDPGConfig, OnlineConfig, OnlineDDPG, make_ddpg
from models.seeding import make_rng
from tests.models.agents.toy_env import TargetEnv, optimal_action

SMALL = DDPGConfig(state_dim=2, hidden_dim=16, batch_size=16, learning_starts=0, seed=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _feed(online: OnlineDDPG, n: int, seed: int = 0) -> None:
    rng = make_rng(seed)
    for _ in range(n):
        obs = rng.uniform(-1.0, 1.0, size=2).astype(np.float32)
        action = online.act(obs)
        reward = -float(np.sum((action - optimal_action(obs)) ** 2))
        online.observe(obs, action, reward, obs, True)


def _online(config: OnlineConfig, clock: FakeClock) -> OnlineDDPG:
    return OnlineDDPG(make_ddpg(TargetEnv(), SMALL), config, clock=clock)


def test_train_available_given_rate_limit_returns_at_most_the_tokens_accrued() -> None:
    clock = FakeClock()
    online = _online(OnlineConfig(max_updates_per_s=10.0, max_burst=4, min_transitions=16, batch_size=16), clock)
    _feed(online, 200)

    done = [online.train_available()]
    done.append(online.train_available())
    clock.now += 0.25
    done.append(online.train_available())
    clock.now += 100.0
    done.append(online.train_available())

    assert done == [4, 0, 2, 4]  # the burst, nothing, 0.25 s * 10/s, then capped at the burst again
    assert online.stats().updates == 10


def test_train_available_given_replay_ratio_returns_at_most_ratio_times_transitions() -> None:
    clock = FakeClock()
    config = OnlineConfig(
        max_updates_per_s=1e4, max_burst=1_000, updates_per_transition=0.25, min_transitions=16, batch_size=16
    )
    online = _online(config, clock)
    _feed(online, 40)

    first = online.train_available()
    clock.now += 1.0
    idle = online.train_available()
    _feed(online, 8, seed=1)
    clock.now += 1.0

    assert (first, idle, online.train_available()) == (10, 0, 2)


def test_train_available_given_fewer_than_min_transitions_returns_zero() -> None:
    online = _online(OnlineConfig(min_transitions=100), FakeClock())
    _feed(online, 99)

    assert online.train_available() == 0
    assert online.stats().actor_version == 0


def test_observe_given_lagging_learner_returns_dropped_count() -> None:
    online = _online(OnlineConfig(max_pending=10), FakeClock())

    _feed(online, 25)

    assert online.stats()[:2] == (25, 15)


def test_act_given_published_snapshot_returns_the_models_deterministic_action() -> None:
    online = _online(OnlineConfig(min_transitions=16, batch_size=16), FakeClock())
    _feed(online, 64)
    online.train_available()
    obs = make_rng(4).uniform(-1.0, 1.0, size=(16, 2)).astype(np.float32)

    np.testing.assert_allclose(online.act(obs), online.model.predict(obs, deterministic=True)[0], atol=1e-5)


def test_run_given_background_thread_returns_bounded_updates_and_new_snapshots() -> None:
    config = OnlineConfig(max_updates_per_s=40.0, max_burst=5, min_transitions=32, batch_size=16, poll_interval_s=0.01)
    online = OnlineDDPG(make_ddpg(TargetEnv(), SMALL), config)
    first_actor = online.actor
    stop = threading.Event()
    learner = threading.Thread(target=online.run, args=(stop,), daemon=True)
    started = time.monotonic()
    learner.start()

    for k in range(20):  # the decision loop: act on the current snapshot, report the transition
        _feed(online, 20, seed=k)
        time.sleep(0.02)
    stop.set()
    learner.join(timeout=5.0)
    elapsed = time.monotonic() - started

    stats = online.stats()
    assert not learner.is_alive()
    assert stats.received == 400
    assert 0 < stats.updates <= config.max_burst + config.max_updates_per_s * elapsed
    assert stats.actor_version > 0
    assert online.actor is not first_actor


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_updates_per_s", 0.0), ("max_burst", 0), ("updates_per_transition", -1.0), ("max_pending", 1.5)],
)
def test_online_config_given_bad_value_returns_error_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        OnlineConfig(**{field: value})  # type: ignore[arg-type]
