"""Train a whole bundle on one history, for backtests with ``--train-fraction`` and for the Python API.

The registry path (Dagster assets, ``serving.decision.registry``) is the normal way models reach the
engine; this one trains the same three models with the same code (``serving.training``) on the part of
a file before the backtest window, so a backtest never scores a model on data it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.agents import TrainingProgress
from models.env import MarketReplay
from models.features import compute_features, events_frame
from models.marketdata.schema import DataKind
from models.marketdata.simulator import REGIMES
from models.regime import TRAIN_SEEDS, RegimeConfig, detect, fit_regime_detector, simulated_frames
from serving.decision.bundle import VERSIONS_FILE, ModelBundle, load_bundle_dir, save_bundle_parts
from serving.training.agents import AgentTrainingConfig, Algorithm, train_agent
from serving.training.bandit import BanditTrainingConfig, train_bandit


@dataclass(frozen=True, kw_only=True, slots=True)
class BundleTrainingConfig:
    agent: Algorithm = "ppo"
    agent_steps: int = 4_000
    regime_bars: int = 2_000
    """Bars per simulated seed the regime detector is fitted on."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.agent not in ("ppo", "ddpg"):
            raise ValueError(f"agent: must be 'ppo' or 'ddpg', got {self.agent!r}")
        if self.agent_steps < 1 or self.regime_bars < 200:
            raise ValueError(
                f"agent_steps, regime_bars: need >= 1 and >= 200, got {self.agent_steps}, {self.regime_bars}"
            )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def train_bundle(
    bars: pd.DataFrame,
    kind: DataKind,
    folder: Path,
    config: BundleTrainingConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelBundle:
    """Fit the regime detector (simulated markets), the bandit and the actor on ``bars``; save and load them."""
    config = config or BundleTrainingConfig()
    say = progress or (lambda _: None)
    say(f"regime detector: fitting on {len(TRAIN_SEEDS)} simulated markets of {config.regime_bars} bars")
    detector = fit_regime_detector(simulated_frames(TRAIN_SEEDS, config.regime_bars), RegimeConfig(use_quotes=False))
    codes = detect(detector, bars, kind.value).argmax(axis=1)
    regimes = [REGIMES[i].value for i in codes]
    events = events_frame(bars, kind)
    say(f"bandit: replaying {len(events)} rows through the strategy arms")
    close, bandit_config = events["close"].to_numpy(), BanditTrainingConfig(seed=config.seed)
    bandit, _, _ = train_bandit(compute_features(events), close, regimes, bandit_config, len(events))

    def report(p: TrainingProgress) -> None:
        say(f"{p.algorithm}: {p.steps}/{p.total_steps} steps, mean return {p.mean_return:.2f}")

    # The actor learns with the regime block it is served (the engine's tracker runs this detector).
    replay = MarketReplay.from_bars(bars, kind, regime=codes)
    agent_config = AgentTrainingConfig(total_steps=config.agent_steps, seed=config.seed)
    trained = train_agent(config.agent, replay, folder / "training", agent_config, progress=report)
    target = folder / "bundle"
    save_bundle_parts(target, detector=detector, bandit=bandit, actor_dir=trained.actor_dir, versions={})
    versions = {
        "regime": f"local:{_digest(target / 'regime.json')}",
        "bandit": f"local:{_digest(target / 'bandit.json')}",
        "actor": f"local-{config.agent}:{_digest(target / 'actor' / 'actor.safetensors')}",
    }
    (target / VERSIONS_FILE).write_text(json.dumps(versions, indent=2))
    return load_bundle_dir(target)
