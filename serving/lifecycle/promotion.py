"""Promotion, rollback and archiving of registered bundles: MLflow aliases, the audit trail, the Serve hot-swap.

A promotion is one operation that either completes or leaves the champion in place (issue 7):

1. the challenger's three models are fetched and loaded (``load_bundle``); a corrupted or missing artifact
   refuses the promotion with the model it names, and nothing has moved;
2. the aliases of the three models are remembered, then moved: ``previous`` onto the current champion,
   ``champion`` onto the challenger, and ``challenger`` deleted where it pointed at the promoted version;
3. an audit record ``model_promotion`` (old and new versions, the reason, who, the gate's statistics);
4. the Serve app reloads (``POST /v1/admin/reload``) and every shard must report itself ready with the new
   champion's names.

A failure after step 2 (the audit write, the reload, a shard that could not load the bundle) puts every
alias back as it was, reloads Serve again so a shard that did swap swaps back, writes ``model_promotion_reverted``
with the cause, and returns ``status="reverted"``. ``rollback`` is the same transaction towards the versions
``previous`` names. ``archive`` removes the challenger alias, tags the versions ``archived_reason`` and writes
``challenger_archived``; the shards stop the shadow on their next registry poll.

MLflow cannot move the aliases of three registered models at once: between the first and the last alias move
(milliseconds) a Serve registry poll could read a mixed triple and load it. The ``champion`` moves are done
back to back to keep that window short, and the reload of step 4 brings every shard to the full triple.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.decision.audit import AuditTrail, AuditWriteError
from serving.decision.registry import Agent, ModelUnavailableError, ResolvedVersions, load_bundle, resolve
from serving.lifecycle.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    AliasState,
    alias_version,
    model_versions,
    restore,
    snapshot,
)

log = logging.getLogger(__name__)

RECORD_KIND: dict[str, str] = {
    "promote": "model_promotion",
    "rollback": "model_rollback",
    "archive": "challenger_archived",
}
REFUSED_KIND: dict[str, str] = {
    "promote": "model_promotion_refused",
    "rollback": "model_rollback_refused",
    "archive": "challenger_archive_refused",
}
ARCHIVED_TAG = "archived_reason"
Reload = Callable[[], list[dict[str, Any]]]
"""Reloads the Serve app and returns each shard's health (``serving.lifecycle.serve_http.serve_reload``)."""
Action = Literal["promote", "rollback", "archive"]
Status = Literal["done", "refused", "reverted"]


class LifecycleError(RuntimeError):
    """A step of a promotion or rollback failed; the transaction is undone with this as the cause."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PromotionResult:
    """What a promotion, rollback or archive did; immutable, printed by the CLI and kept by Dagster."""

    action: Action
    status: Status
    reason: str
    """The operator's (or the gate's) reason for the action."""
    by: str
    previous: Mapping[str, str] | None
    """Champion names before the action."""
    champion: Mapping[str, str] | None
    """Champion names after it: the new ones when done, the old ones when refused or reverted."""
    challenger: Mapping[str, str] | None = None
    """The challenger promoted or archived (None for a rollback)."""
    cause: str = ""
    """Why it was refused or reverted; empty when done."""
    shards: tuple[Mapping[str, Any], ...] = ()
    """The shards' health after the Serve reload (empty without a Serve app to reload)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What else went wrong while undoing a failure (a second reload, the revert's audit record)."""

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["previous"] = None if self.previous is None else dict(self.previous)
        out["champion"] = None if self.champion is None else dict(self.champion)
        out["challenger"] = None if self.challenger is None else dict(self.challenger)
        out["shards"] = [dict(s) for s in self.shards]
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    """One alias transaction: from ``old`` to ``new`` champion by ``moves``, audited as ``kind``."""

    action: Action
    kind: str
    """The audit record's kind; a revert writes ``<kind>_reverted``."""
    old: ResolvedVersions
    new: ResolvedVersions
    moves: Callable[[MlflowClient], None]
    payload: Mapping[str, Any]


def shard_problems(shards: list[dict[str, Any]], role: str, names: Mapping[str, str] | None) -> list[str]:
    """Why the shards' health does not show ``role`` running ``names`` (None: not running anything); [] when it does."""
    if not shards:
        return ["no shard answered the reload"]
    problems = []
    for shard in shards:
        unhealthy = shard.get("unhealthy") or {}
        got = (shard.get("models") or {}).get(role)
        if not shard.get("ready"):
            problems.append(f"shard {shard.get('shard')}: not ready ({unhealthy or 'no error reported'})")
        elif (None if got is None else dict(got)) != (None if names is None else dict(names)):
            why = unhealthy.get(role, "no load error reported")
            problems.append(f"shard {shard.get('shard')}: {role} is {got}, expected {names} ({why})")
    return problems


def _refusal(
    action: Action,
    champion: ResolvedVersions | None,
    challenger: ResolvedVersions | None,
    cause: str,
    *,
    reason: str,
    by: str,
    audit: AuditTrail | None,
) -> PromotionResult:
    """Nothing moved: the refusal is audited (a refused promotion is an event too) and returned with its cause."""
    names = None if champion is None else champion.names()
    other = None if challenger is None else challenger.names()
    if audit is not None:
        record = {"champion": names, "challenger": other, "cause": cause, "reason": reason, "by": by}
        audit.append(REFUSED_KIND[action], record)
    log.warning("%s refused: %s", action, cause)
    return PromotionResult(
        action=action,
        status="refused",
        reason=reason,
        by=by,
        previous=names,
        champion=names,
        challenger=other,
        cause=cause,
    )


def _unloadable(versions: ResolvedVersions, cache: Path) -> str | None:
    """Why the bundle cannot be served (the model at fault named), or None when it loads."""
    try:
        load_bundle(versions, cache)
    except ModelUnavailableError as error:
        return f"{versions.names()} does not load: {error}"
    return None


def _verify(reload: Reload | None, expected: ResolvedVersions) -> tuple[dict[str, Any], ...]:
    if reload is None:
        return ()
    shards = reload()
    problems = shard_problems(shards, CHAMPION, expected.names())
    if problems:
        raise LifecycleError("serve did not swap: " + "; ".join(problems))
    return tuple(shards)


def _transact(
    plan: _Plan, *, client: MlflowClient, audit: AuditTrail | None, reload: Reload | None, reason: str, by: str
) -> PromotionResult:
    """Move the aliases, audit, reload and verify Serve; on any failure put everything back (see the module)."""
    before = snapshot(client, list(model_versions(plan.new)))
    try:
        plan.moves(client)
        if audit is not None:
            audit.append(plan.kind, plan.payload)
        shards = _verify(reload, plan.new)
    except Exception as error:  # whatever failed after the first move, the champion must go back: the cause is returned
        cause = f"{type(error).__name__}: {error}"
        return _revert(plan, before, client=client, audit=audit, reload=reload, cause=cause, reason=reason, by=by)
    except BaseException:
        restore(client, before)  # an interrupt (Ctrl-C) must not leave a half-moved champion behind
        raise
    log.info("%s done: %s -> %s (%s, by %s)", plan.action, plan.old.names(), plan.new.names(), reason, by)
    return PromotionResult(
        action=plan.action,
        status="done",
        reason=reason,
        by=by,
        previous=plan.old.names(),
        champion=plan.new.names(),
        challenger=plan.payload.get("challenger"),
        shards=shards,
    )


def _revert(
    plan: _Plan,
    before: AliasState,
    *,
    client: MlflowClient,
    audit: AuditTrail | None,
    reload: Reload | None,
    cause: str,
    reason: str,
    by: str,
) -> PromotionResult:
    """Aliases back, Serve back, the revert audited; what fails on the way back is kept in ``notes``."""
    log.error("%s failed, putting the champion back: %s", plan.action, cause)
    try:
        restore(client, before)
    except MlflowException as error:
        raise LifecycleError(f"{cause}; the aliases could not be put back ({error}): set them to {before}") from error
    shards, notes = _reload_back(reload, plan.old)
    if audit is not None:
        record = {**plan.payload, "cause": cause, "notes": notes}
        try:
            audit.append(f"{plan.kind}_reverted", record)
        except AuditWriteError as error:
            notes.append(f"the revert is not audited ({error})")
    return PromotionResult(
        action=plan.action,
        status="reverted",
        reason=reason,
        by=by,
        previous=plan.old.names(),
        champion=plan.old.names(),
        challenger=plan.payload.get("challenger"),
        cause=cause,
        shards=shards,
        notes=tuple(notes),
    )


def _reload_back(reload: Reload | None, old: ResolvedVersions) -> tuple[tuple[dict[str, Any], ...], list[str]]:
    """Serve reloaded onto the restored champion: the shards' health, and what is still wrong."""
    if reload is None:
        return (), []
    try:
        shards = tuple(reload())
    except Exception as error:  # the registry is back; the shards follow on their next poll: say so
        return (), [f"reload after the revert failed ({type(error).__name__}: {error})"]
    return shards, [f"after the revert: {p}" for p in shard_problems(list(shards), CHAMPION, old.names())]


def _promotion_moves(old: ResolvedVersions, new: ResolvedVersions) -> Callable[[MlflowClient], None]:
    def moves(client: MlflowClient) -> None:
        for name, version in model_versions(old).items():
            client.set_registered_model_alias(name, PREVIOUS, version)
        # back to back: the window in which a registry poll sees a mixed champion stays short
        for name, version in model_versions(new).items():
            client.set_registered_model_alias(name, CHAMPION, version)
        for name, version in model_versions(new).items():
            if alias_version(client, name, CHALLENGER) == version:
                client.delete_registered_model_alias(name, CHALLENGER)

    return moves


def promote(
    challenger: ResolvedVersions,
    *,
    client: MlflowClient,
    audit: AuditTrail | None,
    cache: Path,
    reload: Reload | None,
    reason: str,
    by: str,
    gate: Mapping[str, Any] | None = None,
) -> PromotionResult:
    """Make ``challenger`` the champion, all or nothing (module docstring); ``gate``: the gate's statistics."""
    champion = resolve(CHAMPION, challenger.agent, client)
    refuse = partial(_refusal, reason=reason, by=by, audit=audit)
    if champion is None:
        return refuse("promote", None, challenger, "no champion is registered to replace")
    if champion == challenger:
        return refuse("promote", champion, challenger, f"{challenger.names()} is the champion already")
    unloadable = _unloadable(challenger, cache)
    if unloadable is not None:
        return refuse("promote", champion, challenger, unloadable)
    payload = {
        "previous": champion.names(),
        "champion": challenger.names(),
        "challenger": challenger.names(),
        "reason": reason,
        "by": by,
        "gate": None if gate is None else dict(gate),
    }
    plan = _Plan(
        action="promote",
        kind=RECORD_KIND["promote"],
        old=champion,
        new=challenger,
        moves=_promotion_moves(champion, challenger),
        payload=payload,
    )
    return _transact(plan, client=client, audit=audit, reload=reload, reason=reason, by=by)


def _rollback_moves(target: ResolvedVersions) -> Callable[[MlflowClient], None]:
    def moves(client: MlflowClient) -> None:
        for name, version in model_versions(target).items():
            client.set_registered_model_alias(name, CHAMPION, version)
        for name in model_versions(target):
            if alias_version(client, name, PREVIOUS) is not None:
                client.delete_registered_model_alias(name, PREVIOUS)

    return moves


def rollback(
    *,
    agent: Agent,
    client: MlflowClient,
    audit: AuditTrail | None,
    cache: Path,
    reload: Reload | None,
    reason: str,
    by: str,
) -> PromotionResult:
    """The champion goes back to the versions ``previous`` names, all or nothing, like a promotion.

    The ``previous`` alias is removed once used: a second rollback is refused until the next promotion,
    rather than swapping back and forth between the last two champions.
    """
    champion = resolve(CHAMPION, agent, client)
    target = resolve(PREVIOUS, agent, client)
    refuse = partial(_refusal, reason=reason, by=by, audit=audit)
    if champion is None or target is None:
        cause = "no champion is registered" if champion is None else "no previous champion (alias 'previous' unset)"
        return refuse("rollback", champion, None, cause)
    if target == champion:
        return refuse("rollback", champion, None, f"{target.names()} is the champion already")
    unloadable = _unloadable(target, cache)
    if unloadable is not None:
        return refuse("rollback", champion, None, unloadable)
    payload = {"previous": champion.names(), "champion": target.names(), "reason": reason, "by": by}
    plan = _Plan(
        action="rollback",
        kind=RECORD_KIND["rollback"],
        old=champion,
        new=target,
        moves=_rollback_moves(target),
        payload=payload,
    )
    return _transact(plan, client=client, audit=audit, reload=reload, reason=reason, by=by)


def archive(
    challenger: ResolvedVersions,
    *,
    client: MlflowClient,
    audit: AuditTrail | None,
    reason: str,
    by: str,
    gate: Mapping[str, Any] | None = None,
) -> PromotionResult:
    """Retire ``challenger``: its ``challenger`` aliases deleted, its versions tagged ``archived_reason``, audited.

    Only the models whose ``challenger`` alias still points at these versions are touched: a newer challenger
    registered since the gate judged this one is left alone. The shards stop shadowing on their next poll.
    """
    champion = resolve(CHAMPION, challenger.agent, client)
    refuse = partial(_refusal, reason=reason, by=by, audit=audit)
    held = {n: v for n, v in model_versions(challenger).items() if alias_version(client, n, CHALLENGER) == v}
    if champion is None or not held:
        cause = "no champion is registered" if champion is None else "the challenger alias has moved on from it"
        return refuse("archive", champion, challenger, cause)

    def moves(c: MlflowClient) -> None:
        for name in held:
            c.delete_registered_model_alias(name, CHALLENGER)

    payload: dict[str, Any] = {"challenger": challenger.names(), "archived": held, "reason": reason, "by": by}
    payload["gate"] = None if gate is None else dict(gate)
    plan = _Plan(
        action="archive", kind=RECORD_KIND["archive"], old=champion, new=champion, moves=moves, payload=payload
    )
    result = _transact(plan, client=client, audit=audit, reload=None, reason=reason, by=by)
    if result.ok:
        for name, version in held.items():
            client.set_model_version_tag(name, version, ARCHIVED_TAG, reason)
    return result
