"""The registry aliases a promotion moves, read and put back as one state (``snapshot`` / ``restore``)."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.decision.registry import BANDIT_MODEL, REGIME_MODEL, ResolvedVersions

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
AliasState = dict[str, dict[str, str | None]]
"""Registered model name -> alias -> version (None: the alias is not set on that model)."""


def model_versions(versions: ResolvedVersions) -> dict[str, str]:
    """Registered model name -> version of the three models of a bundle."""
    return {REGIME_MODEL: versions.regime, BANDIT_MODEL: versions.bandit, f"rtopt-{versions.agent}": versions.actor}


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def snapshot(client: MlflowClient, names: list[str]) -> AliasState:
    """The champion, challenger and previous aliases of ``names``, to put back on failure."""
    return {name: {alias: alias_version(client, name, alias) for alias in ALIASES} for name in names}


def restore(client: MlflowClient, state: AliasState) -> None:
    """Set every alias of ``state`` back (deleting those that were not set); raises when MLflow refuses."""
    for name, aliases in state.items():
        for alias, version in aliases.items():
            if version is not None:
                client.set_registered_model_alias(name, alias, version)
            elif alias_version(client, name, alias) is not None:
                client.delete_registered_model_alias(name, alias)
