"""Online DDPG: keep learning from live transitions at a bounded rate, off the decision path.

Two sides share one ``OnlineDDPG``:

- the decision path calls ``act(obs)`` (a numpy forward pass of the latest published actor snapshot: no
  torch, no lock) and ``observe(obs, action, reward, next_obs, done)`` (an append to a bounded staging
  queue; ``collections.deque`` appends are atomic under the GIL);
- the learner, in a background thread or loop (``run(stop_event)``), moves staged transitions into SB3's
  replay buffer, runs as many gradient steps as the budget allows, and publishes a new immutable snapshot by
  swapping one reference.

The budget is the smaller of a token bucket (``max_updates_per_s``, bursts up to ``max_burst``) and the
replay ratio (at most ``updates_per_transition`` gradient steps per live transition received), so a quiet
market cannot make the learner overfit its buffer and a busy one cannot starve the process of CPU. Only the
learner thread touches the replay buffer and the torch networks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from stable_baselines3.common.logger import Logger
from stable_baselines3.td3.td3 import TD3

from models.agents.export import Float32Array, NumpyActor, actor_layers
from models.env.config import check_int, check_number


@dataclass(frozen=True, kw_only=True, slots=True)
class OnlineConfig:
    """Rate limits and sizes of online learning."""

    max_updates_per_s: float = 50.0
    """Gradient steps per second the token bucket refills with."""
    max_burst: int = 50
    """Bucket capacity: the most gradient steps one ``train_available`` call may run."""
    updates_per_transition: float = 1.0
    """At most this many gradient steps per live transition received (the replay ratio)."""
    min_transitions: int = 256
    """Transitions the replay buffer must hold (offline ones count) before the first online update."""
    batch_size: int = 256
    """Minibatch size of each gradient step."""
    max_pending: int = 10_000
    """Staged transitions kept while the learner lags; the oldest are dropped (and counted) beyond it."""
    poll_interval_s: float = 0.05
    """How long ``run`` sleeps when there is nothing to do."""

    def __post_init__(self) -> None:
        check_number(self, "max_updates_per_s", 0.0, 1e6, open_low=True)
        check_int(self, "max_burst", 1)
        check_number(self, "updates_per_transition", 0.0, 1e3, open_low=True)
        check_int(self, "min_transitions", 1)
        check_int(self, "batch_size", 1)
        check_int(self, "max_pending", 1)
        check_number(self, "poll_interval_s", 0.0, 60.0, open_low=True)


class Transition(NamedTuple):
    obs: Float32Array
    action: Float32Array
    reward: float
    next_obs: Float32Array
    done: bool


class OnlineStats(NamedTuple):
    received: int
    """Live transitions passed to ``observe``."""
    dropped: int
    """Staged transitions dropped because the learner lagged by more than ``max_pending``."""
    updates: int
    """Online gradient steps run."""
    actor_version: int
    """Snapshots published (0: the actor the learner started from)."""


class OnlineDDPG:
    """Wraps a DDPG/TD3 model (usually trained offline by ``train_ddpg``) for online learning."""

    def __init__(
        self, model: TD3, config: OnlineConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.model = model
        self.config = config or OnlineConfig()
        self._clock = clock
        self._pending: deque[Transition] = deque(maxlen=self.config.max_pending)
        self._received = self._dropped = self._buffered = self._updates = 0
        self._tokens = float(self.config.max_burst)
        self._refilled_at = clock()
        self._actor = NumpyActor(*actor_layers(model))
        self._version = 0
        # SB3 creates its logger in learn(); a model that never ran learn() still needs one to train().
        if getattr(model, "_logger", None) is None:
            model.set_logger(Logger(folder=None, output_formats=[]))

    @property
    def actor(self) -> NumpyActor:
        """The latest published snapshot; immutable, safe to keep using while a newer one is published."""
        return self._actor

    def act(self, obs: npt.ArrayLike) -> Float32Array:
        """Decision path: the snapshot's deterministic action."""
        return self._actor(obs)

    def observe(
        self, obs: npt.ArrayLike, action: npt.ArrayLike, reward: float, next_obs: npt.ArrayLike, done: bool
    ) -> None:
        """Decision path: stage one live transition (``action`` in env units, as ``act`` returned it)."""
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
        self._pending.append(
            Transition(
                np.array(obs, dtype=np.float32),
                np.array(action, dtype=np.float32),
                float(reward),
                np.array(next_obs, dtype=np.float32),
                bool(done),
            )
        )
        self._received += 1

    def stats(self) -> OnlineStats:
        return OnlineStats(self._received, self._dropped, self._updates, self._version)

    def train_available(self) -> int:
        """Learner: stage -> replay buffer, then the gradient steps the budget allows; returns how many."""
        self._drain()
        steps = self._budget()
        if steps == 0:
            return 0
        self.model.train(gradient_steps=steps, batch_size=self.config.batch_size)
        self._tokens -= steps
        self._updates += steps
        self._actor = NumpyActor(*actor_layers(self.model))
        self._version += 1
        return steps

    def run(self, stop: threading.Event) -> None:
        """Learner loop for a background thread: train while there is budget, else wait; ends on ``stop``."""
        while not stop.is_set():
            if self.train_available() == 0:
                stop.wait(self.config.poll_interval_s)

    def _drain(self) -> None:
        buffer = self.model.replay_buffer
        if buffer is None:
            raise ValueError("model: has no replay buffer; build it with make_ddpg or train_ddpg")
        while self._pending:
            t = self._pending.popleft()
            buffer.add(
                t.obs[None, :],
                t.next_obs[None, :],
                self.model.policy.scale_action(t.action)[None, :],
                np.array([t.reward], dtype=np.float32),
                np.array([t.done]),
                [{}],
            )
            self._buffered += 1

    def _budget(self) -> int:
        now = self._clock()
        refill = (now - self._refilled_at) * self.config.max_updates_per_s
        self._tokens = min(float(self.config.max_burst), self._tokens + refill)
        self._refilled_at = now
        buffer = self.model.replay_buffer
        if buffer is None or buffer.size() < self.config.min_transitions:
            return 0
        by_data = int(self._buffered * self.config.updates_per_transition) - self._updates
        return max(0, min(int(self._tokens), by_data))
