"""MLflow "models from code": the pyfunc every rtopt model version is registered with.

MLflow stores this file, not a pickled object; ``load_context`` rebuilds the model from weight
files (safetensors for actors, JSON for the bandit and the regime detector).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext


class RtoptModel(PythonModel):
    """Dispatches on ``model_config["kind"]``: "actor", "bandit" or "regime"."""

    def load_context(self, context: PythonModelContext) -> None:
        self.kind = str(context.model_config["kind"])
        if self.kind == "actor":
            from models.agents import load_actor

            self.actor = load_actor(Path(context.artifacts["actor"]))
        elif self.kind == "bandit":
            from serving.registry.bandit_artifact import load_bandit

            self.bandit = load_bandit(Path(context.artifacts["bandit"]))
        elif self.kind == "regime":
            from models.regime import RegimeDetector

            self.detector = RegimeDetector.load(Path(context.artifacts["regime"]))
        else:
            raise ValueError(f"model_config.kind: unknown {self.kind!r}")

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        rows = model_input.to_numpy(dtype=np.float64)
        if self.kind == "actor":
            actions = np.stack([np.asarray(self.actor(row.astype(np.float32))) for row in rows])
            return pd.DataFrame(actions, columns=["position", "entry_factor", "exit_factor"])
        if self.kind == "bandit":
            arms = [self.bandit.arms[int(np.argmax(self.bandit.scores(row)))] for row in rows]
            return pd.DataFrame({"arm": arms})
        labels = [str(self.detector.predict(row).regime) for row in rows]
        return pd.DataFrame({"regime": labels})


mlflow.models.set_model(RtoptModel())
