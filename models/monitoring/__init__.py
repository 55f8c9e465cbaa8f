"""Drift statistics that run anywhere, the serving process included: pure numpy, no I/O but JSON.

``PsiReference.fit(reference, names)`` bins each feature at its reference quantiles;
``OnlinePsi(reference, window)`` keeps the population stability index of the last ``window`` events,
one ``update(vector)`` per event. Thresholds ``PSI_STABLE`` / ``PSI_SHIFT`` (0.1 / 0.25) in ``psi``.
"""

from models.monitoring.psi import EPSILON, PSI_SHIFT, PSI_STABLE, OnlinePsi, PsiReference, psi_from_counts

__all__ = ["EPSILON", "PSI_SHIFT", "PSI_STABLE", "OnlinePsi", "PsiReference", "psi_from_counts"]
