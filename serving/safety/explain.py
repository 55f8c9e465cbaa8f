"""Explanations of a decision: SHAP values for the actor's size, exact linear attributions for the bandit.

Two parts, with different costs and guarantees (issue 6, "Explanations"):

* **bandit**, on every call (microseconds). LinUCB scores the chosen arm ``a`` as
  ``theta_a . x + alpha sqrt(x^T A_a^-1 x)`` (``models.bandit.linucb``). The ridge mean is linear in the
  context, so ``theta_a[i] * x[i]`` is the exact attribution of slot ``i`` (a linear model's SHAP value
  against the zero context); the slots sum to the mean up to float rounding. The confidence bonus is not
  additive in ``x`` and is reported as one number beside them, never spread over the slots.
* **actor**, sampled (milliseconds). SHAP values of the actor's first action, ``size`` (in action units,
  before the policy takes ``|size|`` times the arm's signal), against a fixed background sample of training
  observations. ``method="deep"`` is DeepSHAP (Lundberg and Lee, NeurIPS 2017) with DeepLIFT's rescale rule
  (Shrikumar et al., ICML 2017): the attributions sum to ``output - expected_value`` up to float32 rounding.
  ``method="gradient"`` is expected gradients (Erion et al., Nature Machine Intelligence 2021), a Monte Carlo
  estimate whose sum misses by O(1 / sqrt(gradient_samples)). DeepSHAP is the default: on the trained
  30-64-64 PPO actor it measured ~1.8 ms against ~15 ms for 200 expected-gradient samples, and its sum is exact.

Sampling and the budget. ``explain`` is meant to be called once per decision (every decision, trading or
not: the counter counts calls, so a caller that passes only trading decisions samples those). Call ``n``
(from 0) always gets the bandit part; the actor part runs on call 0 and then every ``actor_every`` calls,
which starts at ``sample_every``. Each actor run is timed: one over ``budget_ms`` doubles ``actor_every`` (up
to ``max_actor_every``), one within budget halves it back towards ``sample_every``. A SHAP call cannot be cut
short once started, so the budget bounds how *often* a decision pays for one, not how long that one takes;
the output says every time why the actor part did not run (``actor_skipped``) and what the budget did.

Background: ``background_from_replay`` samples training observations (flat inventory, the replay's regime
block) and ``save_background`` / ``load_background`` keep them as ``.npy`` (never a pickle). Without one the
reference is the all-zero observation: every feature at its training mean, flat, regime unknown; the method
string then says ``baseline=mean``.

Determinism: DeepSHAP is deterministic; expected gradients' draws are seeded with ``seed`` (shap seeds NumPy's
global RNG with it, so the global state is saved and restored around each call). The keys in ``TIMING_KEYS``
vary from run to run, and with a finite ``budget_ms`` so may the calls that get an actor part: to compare
explanations across runs, use ``budget_ms=math.inf`` and drop ``TIMING_KEYS``. Not thread-safe: DeepSHAP
hangs hooks on the network during a call, so each policy owns its explainer.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from models.agents import torch_threads
from models.bandit import LinUCB
from models.env import FeatureScaler, MarketReplay, ObservationBuilder
from models.seeding import make_rng
from serving.safety.actor_network import ActorSource, actor_network

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
BACKGROUND_FILE = "background.npy"
"""Where a background sample lives beside the actor it was drawn for (``<actor dir>/background.npy``)."""
TIMING_KEYS = ("elapsed_ms", "budget")
"""Keys of an explanation that depend on wall time; drop them to compare explanations across runs."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplanationConfig:
    """What is explained, how often, and how much a decision may spend on it."""

    enabled: bool = True
    """False: ``explain`` returns None and nothing is computed."""
    sample_every: int = 1
    """The actor part runs on every ``sample_every``-th call (from call 0); the bandit part on every call."""
    top_k: int = 5
    """Length of ``top_features`` (fewer when the observation has fewer entries)."""
    background_size: int = 32
    """Background rows used (the first ones of the given sample). The attributions sum to ``output -
    expected_value`` at any size; what the size buys is accuracy against the training distribution, and little
    time: on the BTC-PERP bundle (``bench/bench_explain.py``) 16 rows were 33% off a 256-row background's
    attributions (L1, relative) and 32 rows 17%, while 16 rows saved only ~13% of a call, most of which is
    SHAP's per-call hooks, not rows."""
    method: Literal["deep", "gradient"] = "deep"
    """DeepSHAP (exact additivity) or expected gradients (Monte Carlo); see the module docstring."""
    gradient_samples: int = 200
    """Expected-gradient samples per explanation (``method="gradient"`` only)."""
    budget_ms: float = 5.0
    """An actor explanation measured above this halves the actor's sampling rate, one within it doubles it back
    (up to 1 in ``sample_every``); ``inf`` never adapts."""
    max_actor_every: int = 1024
    """The rarest the budget makes the actor part: once in this many calls."""
    seed: int = 0
    """Seeds expected gradients' draws."""
    torch_threads: int = 1
    """Torch intra-op threads during an explanation (restored after). Batches of 32 rows through a small MLP
    gain nothing from more, and lose much when the other cores are busy: DeepSHAP measured 1.8 ms on one
    thread and ~60 ms on two with another process on the second core (2-core machine)."""

    def __post_init__(self) -> None:
        owner = "ExplanationConfig"
        for name in ("sample_every", "top_k", "background_size", "gradient_samples", "torch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{owner}.{name}: must be >= 1, got {getattr(self, name)}")
        if self.method not in ("deep", "gradient"):
            raise ValueError(f"{owner}.method: must be 'deep' or 'gradient', got {self.method!r}")
        if math.isnan(self.budget_ms) or self.budget_ms <= 0.0:
            raise ValueError(f"{owner}.budget_ms: must be > 0 (inf: never adapt), got {self.budget_ms}")
        if self.max_actor_every < self.sample_every:
            raise ValueError(f"{owner}.max_actor_every: must be >= sample_every, got {self.max_actor_every}")
        if self.seed < 0:
            raise ValueError(f"{owner}.seed: must be >= 0, got {self.seed}")


def background_from_replay(
    replay: MarketReplay, scaler: FeatureScaler, n: int, seed: int, *, clip: float = 10.0
) -> Float32Array:
    """``n`` observations drawn without replacement from the replay's rows with all features defined.

    The inventory entries are 0 (flat): the reference is "what the actor does flat, in a typical training
    market", so the position's attribution reads as the effect of holding it. ``clip`` must be the
    ``observation_clip`` the actor was trained with (``TradingEnvConfig``, ``PolicyConfig``).
    """
    builder = ObservationBuilder(scaler, clip=clip, feature_names=replay.feature_names)
    block = builder.static_block(replay)[replay.first_valid :]
    if not 1 <= n <= len(block):
        raise ValueError(f"n: must lie in [1, {len(block)}] (rows with all features defined), got {n}")
    rows = np.sort(make_rng(seed).choice(len(block), size=n, replace=False))
    return np.ascontiguousarray(block[rows])


def save_background(path: Path, background: npt.ArrayLike) -> Path:
    """Write a background sample as ``.npy`` (no pickle)."""
    np.save(path, _checked_background(background), allow_pickle=False)
    return path


def load_background(path: Path) -> Float32Array:
    """Read a background sample written by ``save_background``; never unpickles."""
    return _checked_background(np.load(path, allow_pickle=False))


def _checked_background(background: npt.ArrayLike) -> Float32Array:
    rows = np.asarray(background)
    if rows.ndim != 2 or rows.shape[0] < 1 or not np.issubdtype(rows.dtype, np.number):
        raise ValueError(f"background: expected a numeric (rows, features) array, got {rows.shape} {rows.dtype}")
    out = rows.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError("background: must be finite")
    return out


class ActorShap:
    """SHAP values of a one-output network for one observation at a time, against a fixed background."""

    def __init__(self, network: nn.Module, background: Float32Array, config: ExplanationConfig) -> None:
        # A private copy without parameter gradients: SHAP differentiates with respect to the input only, so
        # autograd need not record the weights (~10% of a call), and the caller's module is left as it was.
        self.network = copy.deepcopy(network).eval().requires_grad_(False)
        self.config = config
        self._background = torch.as_tensor(background)
        with torch.no_grad(), torch_threads(config.torch_threads):
            out = self.network(self._background)
        if out.ndim != 2 or out.shape[1] != 1:
            raise ValueError(f"network: expected one output column, got shape {tuple(out.shape)}")
        self.expected_value = float(out.mean())
        """Mean output over the background: what the attributions are measured from."""
        import shap  # 1.5 s of imports (matplotlib among them): paid only when explanations are built

        self._explainer: Any = (
            shap.DeepExplainer(self.network, self._background)
            if config.method == "deep"
            else shap.GradientExplainer(self.network, self._background)
        )

    def __call__(self, observation: npt.ArrayLike) -> tuple[float, FloatArray]:
        """The network's output for ``observation`` and each entry's attribution."""
        x = torch.as_tensor(np.asarray(observation, dtype=np.float32)).reshape(1, -1)
        with torch_threads(self.config.torch_threads):
            with torch.no_grad():
                output = float(self.network(x)[0, 0])
            values = self._shap_values(x)
        return output, np.asarray(values, dtype=np.float64).reshape(-1)

    def _shap_values(self, x: torch.Tensor) -> Any:
        if self.config.method == "deep":
            return self._explainer.shap_values(x, check_additivity=False)
        state = np.random.get_state()  # shap seeds NumPy's global RNG with rseed
        try:
            return self._explainer.shap_values(x, nsamples=self.config.gradient_samples, rseed=self.config.seed)
        finally:
            np.random.set_state(state)


def bandit_attributions(bandit: LinUCB, context: npt.ArrayLike, arm: int, names: Sequence[str]) -> dict[str, Any]:
    """The chosen arm's score split exactly: ``theta_a[i] * x[i]`` per slot (sums to ``mean``), plus the bonus."""
    x = np.asarray(context, dtype=np.float64)
    theta = bandit.theta[arm]
    mean, width = bandit.estimate(arm, x)
    bonus = bandit.config.alpha * width
    return {
        "arm": bandit.arms[arm],
        "score": mean + bonus,
        "mean": mean,
        "bonus": bonus,
        "attributions": dict(zip(names, (theta * x + 0.0).tolist(), strict=True)),  # + 0.0: no -0.0
    }


def top_features(
    names: Sequence[str], values: npt.ArrayLike, attributions: npt.ArrayLike, k: int
) -> list[dict[str, Any]]:
    """The ``k`` entries with the largest ``|attribution|`` (ties: vector order); sign "+", "-" or "0"."""
    phi = np.asarray(attributions, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(-np.abs(phi), kind="stable")[:k]
    return [
        {
            "feature": names[i],
            "value": float(x[i]),
            "attribution": float(phi[i]),
            "sign": "+" if phi[i] > 0.0 else "-" if phi[i] < 0.0 else "0",
        }
        for i in order.tolist()
    ]


BANDIT_METHOD = "exact linear on bandit mean"


def actor_method(config: ExplanationConfig, background_rows: int | None) -> str:
    """How the actor part is computed, e.g. ``shap.DeepExplainer(background=32) on actor.size``."""
    reference = "baseline=mean" if background_rows is None else f"background={background_rows}"
    if config.method == "deep":
        return f"shap.DeepExplainer({reference}) on actor.size"
    return f"shap.GradientExplainer({reference}, nsamples={config.gradient_samples}) on actor.size"


class DecisionExplainer:
    """Per-decision explanations of one policy's actor and bandit (sampling and budget: module docstring)."""

    def __init__(
        self,
        actor: ActorSource,
        bandit: LinUCB,
        observation_names: Sequence[str],
        context_names: Sequence[str],
        background: npt.ArrayLike | None,
        config: ExplanationConfig | None = None,
    ) -> None:
        self.config = config or ExplanationConfig()
        self.bandit = bandit
        self.observation_names = tuple(observation_names)
        self.context_names = tuple(context_names)
        if len(self.context_names) != bandit.config.dim:
            raise ValueError(f"context_names: {len(self.context_names)} names for a {bandit.config.dim}-dim context")
        rows = self._background_rows(background)
        self.actor = ActorShap(actor_network(actor), rows, self.config)
        self.method = actor_method(self.config, None if background is None else len(rows))
        self._call = 0
        self._next_actor = 0
        self._actor_every = self.config.sample_every
        self._last_actor_ms = 0.0
        self.actor(rows[0])  # torch's first backward pass sets up autograd: paid here, not by a decision

    def _background_rows(self, background: npt.ArrayLike | None) -> Float32Array:
        if background is None:
            return np.zeros((1, len(self.observation_names)), dtype=np.float32)
        rows = _checked_background(background)[: self.config.background_size]
        if rows.shape[1] != len(self.observation_names):
            raise ValueError(f"background: {rows.shape[1]} columns for {len(self.observation_names)} observation names")
        return rows

    def explain(
        self, observation: npt.ArrayLike, context: npt.ArrayLike, arm: int, *, bandit: LinUCB | None = None
    ) -> dict[str, Any] | None:
        """The explanation of one decision (JSON-ready), or None when explanations are disabled.

        ``observation`` is what the actor saw (``Proposal.observation``), ``context`` the bandit's context and
        ``arm`` its chosen arm (``Proposal.choice.arm``). ``bandit`` overrides the constructor's (a policy that
        replaces its bandit on a hot-swap passes the live one). ``top_features`` and ``actor`` are empty / None
        on calls without the actor part; ``actor_skipped`` then says why.
        """
        if not self.config.enabled:
            return None
        started = time.perf_counter_ns()
        call, self._call = self._call, self._call + 1
        linear = bandit_attributions(bandit or self.bandit, context, arm, self.context_names)
        part = self._actor_part(observation, call) if call >= self._next_actor else self._skipped(call)
        return {**part, "bandit": linear, "elapsed_ms": (time.perf_counter_ns() - started) / 1e6}

    def _actor_part(self, observation: npt.ArrayLike, call: int) -> dict[str, Any]:
        x = np.asarray(observation, dtype=np.float32)
        if x.shape != (len(self.observation_names),):
            raise ValueError(f"observation: expected shape ({len(self.observation_names)},), got {x.shape}")
        started = time.perf_counter_ns()
        output, phi = self.actor(x)
        actor_ms = (time.perf_counter_ns() - started) / 1e6
        over = self._reschedule(call, actor_ms)
        expected = self.actor.expected_value
        return {
            "method": f"{self.method} + {BANDIT_METHOD}",
            "top_features": top_features(self.observation_names, x, phi, self.config.top_k),
            "actor": {
                "target": "size",
                "output": output,
                "expected_value": expected,
                "attributions": dict(zip(self.observation_names, phi.tolist(), strict=True)),
                "additivity_gap": output - expected - math.fsum(phi.tolist()),
            },
            "actor_skipped": "",
            "call": call,
            "budget": self._budget(actor_ms, over),
        }

    def _skipped(self, call: int) -> dict[str, Any]:
        reason = f"not sampled: the actor is explained on 1 in {self._actor_every} calls, next at {self._next_actor}"
        if self._actor_every > self.config.sample_every:
            reason += (
                f" (slowed from 1 in {self.config.sample_every}: its last explanation took"
                f" {self._last_actor_ms:.2f} ms, budget {self.config.budget_ms} ms)"
            )
        return {
            "method": BANDIT_METHOD,
            "top_features": [],
            "actor": None,
            "actor_skipped": reason,
            "call": call,
            "budget": self._budget(None, False),
        }

    def _reschedule(self, call: int, actor_ms: float) -> bool:
        """Halve the actor's rate after an explanation over budget, double it back after one within."""
        over = actor_ms > self.config.budget_ms
        if over:
            self._actor_every = min(2 * self._actor_every, self.config.max_actor_every)
        else:
            self._actor_every = max(self.config.sample_every, self._actor_every // 2)
        self._next_actor = call + self._actor_every
        self._last_actor_ms = actor_ms
        return over

    def _budget(self, actor_ms: float | None, over: bool) -> dict[str, Any]:
        budget = self.config.budget_ms
        return {
            "budget_ms": budget if math.isfinite(budget) else None,
            "actor_ms": actor_ms,
            "over_budget": over,
            "actor_every": self._actor_every,
        }
