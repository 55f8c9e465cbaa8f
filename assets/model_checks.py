"""Asset checks on the trained models: the held-out evaluation against the baselines, flagged when worse.

``model_evaluation`` runs the composed policy (champion bandit choosing arms, champion actor sizing) beside
flat, buy-and-hold and the random arm choice on the protocol's test window. Each check compares the composed
policy's mean over the protocol seeds with one baseline on one metric (net of costs) and fails, with WARN
severity and both numbers in its metadata, when the models do worse: a bad model is flagged in the asset
graph, not hidden, and not blocked either (the shadow gate decides what trades).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, Failure

COMPOSED = "composed"
RANDOM_ARM = "random_arm"
METRIC = "total_return"


@dataclass(frozen=True, slots=True)
class BaselineCheck:
    """One check: the composed policy's ``metric`` against the baseline whose names start with ``prefix``."""

    name: str
    prefix: str
    description: str


BASELINE_CHECKS: tuple[BaselineCheck, ...] = (
    BaselineCheck("beats_flat", "flat", "Composed policy's test-window total return (net of costs) above flat's."),
    BaselineCheck(
        "beats_buy_and_hold", "buy_and_hold", "Composed policy's test-window total return above buy-and-hold."
    ),
    BaselineCheck("beats_random_arm", RANDOM_ARM, "Composed policy's total return above the random arm choice's mean."),
)


def baseline_check_specs(asset: str) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(c.name, asset=asset, description=c.description) for c in BASELINE_CHECKS]


def seed_mean(table: Mapping[str, Mapping[str, float]], prefix: str, metric: str = METRIC) -> tuple[float, int]:
    """Mean of ``metric`` over the policies named ``prefix`` or ``prefix[seed=...]``, and how many there were.

    Raises ``Failure`` naming the policy when none is in ``table`` or a value is not finite: a check
    without its numbers must not pass (or fail) quietly.
    """
    values = [row.get(metric) for name, row in table.items() if name == prefix or name.startswith(f"{prefix}[")]
    if not values:
        raise Failure(f"evaluation table: no policy {prefix!r} (policies: {sorted(table)})")
    bad = [v for v in values if v is None or not math.isfinite(v)]
    if bad:
        raise Failure(f"evaluation table: {prefix!r}.{metric} is not a finite number ({bad})")
    return sum(float(v) for v in values if v is not None) / len(values), len(values)


def baseline_results(table: Mapping[str, Mapping[str, float]], metric: str = METRIC) -> list[AssetCheckResult]:
    """One WARN check per baseline: passed when the composed policy's seed mean is above the baseline's."""
    model, seeds = seed_mean(table, COMPOSED, metric)
    results = []
    for check in BASELINE_CHECKS:
        baseline, baseline_seeds = seed_mean(table, check.prefix, metric)
        results.append(
            AssetCheckResult(
                check_name=check.name,
                passed=model > baseline,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "metric": metric,
                    "composed": model,
                    "composed_seeds": seeds,
                    check.prefix: baseline,
                    "baseline_seeds": baseline_seeds,
                    "margin": model - baseline,
                },
            )
        )
    return results
