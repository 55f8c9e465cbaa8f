"""The shadow comparison the promotion gate judges: paired per-decision PnL and the bandit's logs, from Serve.

Each shard's engine keeps, per shadow, the champion's and the shadow's net PnL (bps) of every event both
decided on (``champion_bps[t]``, ``challenger_bps[t]``), and for every champion decision whose outcome trained
the champion's bandit, the off-policy log: the arm it chose, that arm's propensity, the reward (net bps),
the challenger bandit's probability of every arm in its own context at the same event, and the champion
bandit's ridge estimate of every arm's reward (the reward model of the doubly robust estimate, fitted on the
logs up to that decision only). ``GET /v1/shadow/{name}/paired`` merges the shards with ``merge_paired``;
``ShadowComparison.from_json`` reads the answer and ``decide`` runs ``models.evaluation.gate_decision``.

The challenger's propensities are its own bandit's in its own state (its regime tracker and per-arm PnL
shadow its simulated fills), which is what it would choose if it were deployed at that point.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from models.evaluation.gate import GateConfig, GateDecision, gate_decision
from models.evaluation.off_policy import OffPolicyEvidence, off_policy_evidence
from serving.decision.registry import BANDIT_MODEL, REGIME_MODEL, Agent, ResolvedVersions

LOGGED_COLUMNS = ("chosen_arm", "propensity", "reward_bps", "target_propensities", "reward_model_bps")
"""The off-policy log's columns, one entry per logged champion decision (the last two: one value per arm)."""


def versions_from_names(names: Mapping[str, str]) -> ResolvedVersions:
    """``{"regime": "rtopt-regime/3", "bandit": "rtopt-bandit/2", "actor": "rtopt-ppo/1"}`` -> ResolvedVersions."""
    try:
        parts = {role: str(names[role]).rsplit("/", 1) for role in ("regime", "bandit", "actor")}
    except KeyError as missing:
        raise ValueError(f"versions: {missing} missing from {dict(names)}") from None
    agent = parts["actor"][0].removeprefix("rtopt-")
    expected = {"regime": REGIME_MODEL, "bandit": BANDIT_MODEL, "actor": f"rtopt-{agent}"}
    if agent not in ("ppo", "ddpg") or any(len(p) != 2 or p[0] != expected[r] for r, p in parts.items()):
        raise ValueError(f"versions: expected registered names like {expected}, got {dict(names)}")
    return ResolvedVersions(parts["regime"][1], parts["bandit"][1], parts["actor"][1], cast(Agent, agent))


def version_key(versions: ResolvedVersions) -> str:
    """A short stable key of a bundle's versions, for run keys and sensor cursors: ``regime3-bandit2-ppo1``."""
    return f"regime{versions.regime}-bandit{versions.bandit}-{versions.agent}{versions.actor}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggedBandit:
    """The champion bandit's logged decisions with the challenger's propensities (columns of ``LOGGED_COLUMNS``)."""

    arms: tuple[str, ...] = ()
    chosen_arm: tuple[int, ...] = ()
    propensity: tuple[float, ...] = ()
    reward_bps: tuple[float, ...] = ()
    target_propensities: tuple[tuple[float, ...], ...] = ()
    reward_model_bps: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self) -> None:
        lengths = {column: len(getattr(self, column)) for column in LOGGED_COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"logged: every column needs one entry per logged decision, got lengths {lengths}")
        for column in ("target_propensities", "reward_model_bps"):
            if any(len(row) != len(self.arms) for row in getattr(self, column)):
                raise ValueError(f"logged.{column}: every row needs one value per arm ({len(self.arms)})")

    def __len__(self) -> int:
        return len(self.chosen_arm)

    @classmethod
    def from_json(cls, body: Mapping[str, Any] | None) -> LoggedBandit:
        if not body:
            return cls()
        try:
            return cls(
                arms=tuple(str(a) for a in body["arms"]),
                chosen_arm=tuple(int(a) for a in body["chosen_arm"]),
                propensity=tuple(float(p) for p in body["propensity"]),
                reward_bps=tuple(float(r) for r in body["reward_bps"]),
                target_propensities=tuple(tuple(float(p) for p in row) for row in body["target_propensities"]),
                reward_model_bps=tuple(tuple(float(q) for q in row) for row in body["reward_model_bps"]),
            )
        except KeyError as missing:
            raise ValueError(f"logged: column {missing} missing") from None

    def evidence(self) -> OffPolicyEvidence:
        """IPS and DR values of the challenger's bandit against the champion's mean logged reward."""
        return off_policy_evidence(
            self.reward_bps, self.propensity, self.target_propensities, self.reward_model_bps, self.chosen_arm
        )


def _names(value: Any, field: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: expected an object of model names or null, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class ShadowComparison:
    """What one shadow did next to the champion, as ``GET /v1/shadow/{name}/paired`` answers it."""

    name: str
    versions: Mapping[str, str] | None
    """The shadow's model names; None when no shard shadows it or the shards disagree on what they shadow."""
    champion_versions: Mapping[str, str] | None
    champion_bps: tuple[float, ...]
    challenger_bps: tuple[float, ...]
    logged: LoggedBandit = dataclasses.field(default_factory=LoggedBandit)
    detail: str = ""
    """Why ``versions`` is None, when the app says."""

    def __post_init__(self) -> None:
        if len(self.champion_bps) != len(self.challenger_bps):
            n, m = len(self.champion_bps), len(self.challenger_bps)
            raise ValueError(f"challenger_bps: must pair with champion_bps ({n} decisions), got {m}")

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ShadowComparison:
        return cls(
            name=str(body.get("name", "challenger")),
            versions=_names(body.get("versions"), "versions"),
            champion_versions=_names(body.get("champion_versions"), "champion_versions"),
            champion_bps=tuple(float(x) for x in body.get("champion_bps", ())),
            challenger_bps=tuple(float(x) for x in body.get("challenger_bps", ())),
            logged=LoggedBandit.from_json(body.get("logged")),
            detail=str(body.get("detail", "")),
        )

    @property
    def n(self) -> int:
        """Paired shadow decisions."""
        return len(self.champion_bps)

    @property
    def challenger(self) -> ResolvedVersions:
        if self.versions is None:
            raise ValueError(f"shadow {self.name!r}: no versions ({self.detail or 'nothing shadowed'})")
        return versions_from_names(self.versions)

    def same_bandit(self) -> bool:
        """True when the shadow runs the champion's registered bandit: off-policy evaluation has nothing to judge."""
        if self.versions is None or self.champion_versions is None:
            return False
        return self.versions.get("bandit") == self.champion_versions.get("bandit")

    def decide(self, config: GateConfig) -> GateDecision:
        """The gate's verdict; with the champion's bandit in the challenger the OPE condition is waived.

        A challenger that differs only in its actor or regime detector shares the champion's bandit, so its
        IPS and DR values equal the champion's by construction and could never beat it: requiring them would
        archive every such challenger. The waiver shows in the verdict's config (``require_ope_agreement``).
        """
        if self.same_bandit():
            return gate_decision(
                self.champion_bps, self.challenger_bps, None, dataclasses.replace(config, require_ope_agreement=False)
            )
        ope = self.logged.evidence() if len(self.logged) >= 2 else None
        return gate_decision(self.champion_bps, self.challenger_bps, ope, config)


def _agreed(parts: Sequence[Mapping[str, Any]], field: str) -> tuple[dict[str, str] | None, str]:
    seen = {json.dumps(p.get(field), sort_keys=True) for p in parts}
    if len(seen) != 1:
        return None, f"the shards disagree on {field}: {sorted(seen)}"
    value = _names(parts[0].get(field), field)
    return value, "" if value is not None else f"no shard reports {field}"


def merge_paired(name: str, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ingress's answer from each shard's ``{"shard", "versions", "champion_versions", ... }`` (see the module).

    Series are concatenated shard by shard (each in its own decision order: shards own disjoint symbols, so a
    block of the bootstrap never straddles two unrelated sequences for long). ``versions`` is null, with a
    ``detail``, unless every shard shadows the same versions against the same champion.
    """
    if not parts:
        return {"name": name, "versions": None, "champion_versions": None, "detail": "no shards", "shards": []}
    versions, why = _agreed(parts, "versions")
    champion, why_champion = _agreed(parts, "champion_versions")
    arms = {tuple(p.get("logged", {}).get("arms", ())) for p in parts} - {()}
    if len(arms) > 1:
        raise ValueError(f"logged.arms: the shards' bandits have different arms {sorted(arms)}")
    logged: dict[str, Any] = {"arms": list(next(iter(arms), ()))}
    for column in LOGGED_COLUMNS:
        logged[column] = [x for p in parts for x in p.get("logged", {}).get(column, [])]
    return {
        "name": name,
        "versions": versions if champion is not None else None,
        "champion_versions": champion,
        "detail": why or why_champion,
        "champion_bps": [x for p in parts for x in p.get("champion_bps", [])],
        "challenger_bps": [x for p in parts for x in p.get("challenger_bps", [])],
        "logged": logged,
        "shards": [
            {k: p.get(k) for k in ("shard", "versions", "champion_versions")}
            | {"decisions": len(p.get("champion_bps", []))}
            for p in parts
        ],
    }
