"""Off-policy estimates of a challenger bandit's value from the champion's logged decisions and propensities.

The champion (the logging policy ``mu``) chose arm ``a_i`` in context ``x_i`` with the logged probability
``mu(a_i | x_i)`` and earned ``r_i``. The challenger (the target policy ``pi``) would have chosen ``a_i`` with
probability ``pi(a_i | x_i)``. With the importance weight ``w_i = pi(a_i | x_i) / mu(a_i | x_i)``:

- IPS (D. G. Horvitz and D. J. Thompson, JASA 1952): ``V = mean(w_i r_i)``; unbiased whenever ``mu > 0`` on
  every arm ``pi`` may choose, but its variance grows with the weights.
- SNIPS (A. Swaminathan and T. Joachims, "The self-normalized estimator for counterfactual learning",
  NeurIPS 2015): ``V = sum(w_i r_i) / sum(w_i)``; biased but consistent, and invariant to a constant shift
  of the rewards, which plain IPS is not.
- Clipping (L. Bottou et al., "Counterfactual reasoning and learning systems", JMLR 2013): ``min(w_i, clip)``
  bounds the variance at the price of a downward bias where the challenger favours rarely logged arms.
- DM, the direct method: ``V = mean(sum_a pi(a | x_i) q(x_i, a))`` with a reward model ``q``; low variance,
  biased by every error of the model.
- DR (M. Dudik, J. Langford and L. Li, "Doubly robust policy evaluation and learning", ICML 2011):
  ``V = mean(sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))``; unbiased when either the propensities
  or the reward model are right, and of lower variance than IPS when the model is decent.

Every estimate comes with the standard error of its sample mean (the delta method for SNIPS) and Kish's
effective sample size ``(sum w)^2 / sum w^2``: a small one says the logs barely cover the challenger's choices.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROPENSITY_SUM_TOLERANCE = 1e-6
"""How far a row of the challenger's arm probabilities may sum from 1 before it is refused."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OffPolicyEstimate:
    """One estimate of the target policy's value per decision, in the units of the logged rewards."""

    estimator: str
    """``ips``, ``snips``, ``dm`` or ``dr``; ``clipped_`` in front when the weights were clipped."""
    value: float
    standard_error: float
    """Standard error of the sample mean; for DM it ignores the reward model's own error."""
    n: int
    """Logged decisions used."""
    effective_sample_size: float
    """Kish's ``(sum w)^2 / sum w^2`` of the importance weights (``n`` for DM, which uses none)."""

    def to_dict(self) -> dict[str, float | int | str]:
        """The estimate as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class OffPolicyEvidence:
    """What the gate reads from the bandit's logs: the challenger's IPS and DR values and the champion's own.

    The champion is the logging policy, so its value is the plain mean of the logged rewards. The evidence
    agrees with promotion when both the IPS and the DR estimate of the challenger exceed it: the direction of
    the improvement is checked here, its statistical support by the gate's bootstrap on PnL.
    """

    champion_value: float
    """Mean logged reward: the on-policy value of the logging policy (the champion, exploration included)."""
    ips: OffPolicyEstimate
    dr: OffPolicyEstimate

    @property
    def agrees(self) -> bool:
        """True when both estimates put the challenger above the champion."""
        return self.ips.value > self.champion_value and self.dr.value > self.champion_value

    def to_dict(self) -> dict[str, object]:
        """The evidence as a JSON-ready dict."""
        return {
            "champion_value": self.champion_value,
            "ips": self.ips.to_dict(),
            "dr": self.dr.to_dict(),
            "agrees": self.agrees,
        }


def _finite(values: npt.ArrayLike, name: str, ndim: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim or len(array) < 2:
        raise ValueError(f"{name}: expected a {ndim}-D array of at least 2 rows, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: must be finite")
    return array


def _weights(logged_propensities: npt.ArrayLike, target_propensities: npt.ArrayLike, clip: float | None) -> FloatArray:
    logged = _finite(logged_propensities, "logged_propensities", 1)
    target = _finite(target_propensities, "target_propensities", 1)
    if logged.shape != target.shape:
        raise ValueError(f"target_propensities: expected shape {logged.shape}, got {target.shape}")
    if not ((logged > 0.0) & (logged <= 1.0)).all():
        # a logged choice of probability 0 cannot have happened: the logs are wrong, not the estimate
        raise ValueError("logged_propensities: must lie in (0, 1]")
    if not ((target >= 0.0) & (target <= 1.0)).all():
        raise ValueError("target_propensities: must lie in [0, 1]")
    if clip is not None and not (math.isfinite(clip) and clip > 0.0):
        raise ValueError(f"clip: must be a positive finite number or None, got {clip}")
    weights: FloatArray = target / logged
    return weights if clip is None else np.minimum(weights, clip)


def _kish(weights: FloatArray) -> float:
    squares = float(weights @ weights)
    return float(weights.sum()) ** 2 / squares if squares > 0.0 else 0.0


def _rewards(rewards: npt.ArrayLike, n: int) -> FloatArray:
    array = _finite(rewards, "rewards", 1)
    if len(array) != n:
        raise ValueError(f"rewards: expected {n} values (one per logged decision), got {len(array)}")
    return array


def _name(base: str, clip: float | None) -> str:
    return base if clip is None else f"clipped_{base}"


def ips_estimate(
    rewards: npt.ArrayLike,
    logged_propensities: npt.ArrayLike,
    target_propensities: npt.ArrayLike,
    *,
    self_normalized: bool = False,
    clip: float | None = None,
) -> OffPolicyEstimate:
    """IPS (or SNIPS with ``self_normalized``) value of the target policy; see the module docstring.

    ``target_propensities[i]`` is the target policy's probability of the logged arm ``a_i``. Raises when no
    logged decision is one the target policy could make (SNIPS would divide by zero).
    """
    weights = _weights(logged_propensities, target_propensities, clip)
    r = _rewards(rewards, len(weights))
    n = len(r)
    if not self_normalized:
        terms = weights * r
        return OffPolicyEstimate(
            estimator=_name("ips", clip),
            value=float(terms.mean()),
            standard_error=float(terms.std(ddof=1)) / math.sqrt(n),
            n=n,
            effective_sample_size=_kish(weights),
        )
    total = float(weights.sum())
    if total == 0.0:
        raise ValueError("target_propensities: the target policy never picks a logged arm; SNIPS is undefined")
    value = float(weights @ r) / total
    # delta method for a ratio of means (Swaminathan and Joachims 2015, section 4)
    standard_error = math.sqrt(float(np.sum(weights**2 * (r - value) ** 2))) / total
    return OffPolicyEstimate(
        estimator=_name("snips", clip),
        value=value,
        standard_error=standard_error,
        n=n,
        effective_sample_size=_kish(weights),
    )


def _arm_table(values: npt.ArrayLike, name: str, n: int | None = None) -> FloatArray:
    table = _finite(values, name, 2)
    if n is not None and len(table) != n:
        raise ValueError(f"{name}: expected {n} rows (one per logged decision), got {len(table)}")
    return table


def _target_table(target_propensities_all_arms: npt.ArrayLike) -> FloatArray:
    target = _arm_table(target_propensities_all_arms, "target_propensities_all_arms")
    if (target < 0.0).any() or not np.allclose(target.sum(axis=1), 1.0, atol=PROPENSITY_SUM_TOLERANCE, rtol=0.0):
        raise ValueError("target_propensities_all_arms: every row must be a probability distribution over arms")
    return target


def direct_method_estimate(
    target_propensities_all_arms: npt.ArrayLike, reward_model_predictions_all_arms: npt.ArrayLike
) -> OffPolicyEstimate:
    """DM value of the target policy: the reward model's value under it, averaged over the logged contexts."""
    target = _target_table(target_propensities_all_arms)
    predictions = _arm_table(reward_model_predictions_all_arms, "reward_model_predictions_all_arms", len(target))
    if predictions.shape != target.shape:
        raise ValueError(f"reward_model_predictions_all_arms: expected shape {target.shape}, got {predictions.shape}")
    terms = np.sum(target * predictions, axis=1)
    n = len(terms)
    return OffPolicyEstimate(
        estimator="dm",
        value=float(terms.mean()),
        standard_error=float(terms.std(ddof=1)) / math.sqrt(n),
        n=n,
        effective_sample_size=float(n),
    )


def _chosen(chosen_arms: npt.ArrayLike, n: int, n_arms: int) -> IntArray:
    arms = np.asarray(chosen_arms)
    if arms.shape != (n,) or not np.issubdtype(arms.dtype, np.integer):
        raise ValueError(f"chosen_arms: expected {n} integer arm indices, got shape {arms.shape} of {arms.dtype}")
    if ((arms < 0) | (arms >= n_arms)).any():
        raise ValueError(f"chosen_arms: arm indices must lie in [0, {n_arms})")
    return arms.astype(np.int64)


def doubly_robust_estimate(
    rewards: npt.ArrayLike,
    logged_propensities: npt.ArrayLike,
    target_propensities_all_arms: npt.ArrayLike,
    reward_model_predictions_all_arms: npt.ArrayLike,
    chosen_arms: npt.ArrayLike,
    *,
    clip: float | None = None,
) -> OffPolicyEstimate:
    """DR value of the target policy (Dudik, Langford and Li 2011); see the module docstring.

    The two tables have one row per logged decision and one column per arm: the target policy's probability
    of each arm, and the reward model's prediction for each arm. ``chosen_arms`` are the logged arms.
    """
    direct = direct_method_estimate(target_propensities_all_arms, reward_model_predictions_all_arms)
    target = _target_table(target_propensities_all_arms)
    predictions = np.asarray(reward_model_predictions_all_arms, dtype=np.float64)
    rows = np.arange(len(target))
    arms = _chosen(chosen_arms, len(target), target.shape[1])
    weights = _weights(logged_propensities, target[rows, arms], clip)
    r = _rewards(rewards, len(weights))
    terms = np.sum(target * predictions, axis=1) + weights * (r - predictions[rows, arms])
    return OffPolicyEstimate(
        estimator=_name("dr", clip),
        value=float(terms.mean()),
        standard_error=float(terms.std(ddof=1)) / math.sqrt(direct.n),
        n=direct.n,
        effective_sample_size=_kish(weights),
    )


def off_policy_evidence(
    rewards: npt.ArrayLike,
    logged_propensities: npt.ArrayLike,
    target_propensities_all_arms: npt.ArrayLike,
    reward_model_predictions_all_arms: npt.ArrayLike,
    chosen_arms: npt.ArrayLike,
    *,
    self_normalized: bool = False,
    clip: float | None = None,
) -> OffPolicyEvidence:
    """The gate's off-policy evidence from one log: the champion's mean reward, the challenger's IPS and DR."""
    dr = doubly_robust_estimate(
        rewards,
        logged_propensities,
        target_propensities_all_arms,
        reward_model_predictions_all_arms,
        chosen_arms,
        clip=clip,
    )
    target = np.asarray(target_propensities_all_arms, dtype=np.float64)
    arms = np.asarray(chosen_arms, dtype=np.int64)
    ips = ips_estimate(
        rewards, logged_propensities, target[np.arange(len(arms)), arms], self_normalized=self_normalized, clip=clip
    )
    return OffPolicyEvidence(champion_value=float(np.asarray(rewards, dtype=np.float64).mean()), ips=ips, dr=dr)
