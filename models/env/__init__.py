"""Trading environment for the RL agents: market replay, observation builder, action interpreter, reward.

``TradingEnv(MarketReplay.from_bars(frame), TradingEnvConfig())`` is a gymnasium env whose observation is the
live path's feature vector (offline twin, ``models.features.compute_features``) + inventory + regime
(layout in ``models.env.observation``), whose action is the seed's ``[size, entry_factor, exit_factor]``
(mapping in ``models.env.execution``) and whose reward is PnL - risk - costs - time decay
(``models.env.reward``).
"""

from models.env.config import ExecutionConfig, RewardConfig, TradingEnvConfig
from models.env.execution import ActionInterpreter, ExecutionModel, LegFill, Orders
from models.env.observation import (
    INVENTORY_NAMES,
    OBSERVATION_DIM,
    OBSERVATION_NAMES,
    REGIME_NAMES,
    FeatureScaler,
    ObservationBuilder,
    observation_names,
)
from models.env.replay import N_REGIMES, MarketReplay, regime_codes, regime_one_hot
from models.env.reward import RewardModel, RewardParts
from models.env.trading_env import (
    ACTION_HIGH,
    ACTION_LOW,
    ACTION_NAMES,
    TradingEnv,
    btc_perp_replay,
    env_steps_per_s,
)

__all__ = [
    "ACTION_HIGH",
    "ACTION_LOW",
    "ACTION_NAMES",
    "INVENTORY_NAMES",
    "N_REGIMES",
    "OBSERVATION_DIM",
    "OBSERVATION_NAMES",
    "REGIME_NAMES",
    "ActionInterpreter",
    "ExecutionConfig",
    "ExecutionModel",
    "FeatureScaler",
    "LegFill",
    "MarketReplay",
    "ObservationBuilder",
    "Orders",
    "RewardConfig",
    "RewardModel",
    "RewardParts",
    "TradingEnv",
    "TradingEnvConfig",
    "btc_perp_replay",
    "env_steps_per_s",
    "observation_names",
    "regime_codes",
    "regime_one_hot",
]
