"""Population stability index (PSI) per feature, batch and online, against a pre-binned reference.

For a feature binned into ``k`` bins with reference shares ``e_i`` and recent shares ``a_i``,

    PSI = sum_i (a_i - e_i) ln(a_i / e_i),

the symmetrised Kullback-Leibler divergence between the two binned distributions. Bins are the
reference's deciles (quantile bins), so every reference bin holds about 1/k of the reference and
the statistic is scale free. Empty bins are floored at ``EPSILON`` so one unseen bin gives a large
but finite PSI.

Reading it (the credit-scoring rule of thumb; N. Siddiqi, "Credit Risk Scorecards", Wiley 2006,
ch. 8; its sampling behaviour in B. Yurdakul, "Statistical properties of population stability
index", PhD thesis, Western Michigan University 2018):

- PSI < ``PSI_STABLE`` (0.1): no significant change;
- ``PSI_STABLE`` <= PSI < ``PSI_SHIFT`` (0.25): a moderate shift, worth watching;
- PSI >= ``PSI_SHIFT`` (0.25): a significant shift.

With ``k`` bins, a window of ``n`` rows and a reference of ``m`` rows from one distribution, PSI is
about ``(k - 1)(1/n + 1/m)`` in expectation (it is then close to a scaled chi-square with ``k - 1``
degrees of freedom; Yurdakul 2018), so a window of a few hundred rows or more is needed before the
0.1 threshold means anything.

``OnlinePsi`` keeps per-feature bin counts over a sliding window of the last ``window`` events:
``update`` bins one vector and moves two counts per feature (O(features x bins) per event, independent
of the window length; a compiled loop, under 1 us at 21 features), ``psi`` reads the counts. It equals
``PsiReference.psi`` on the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.monitoring._kernels import slide_bins

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PSI_STABLE = 0.1
"""Below this, no significant change (Siddiqi 2006)."""
PSI_SHIFT = 0.25
"""At or above this, a significant shift (Siddiqi 2006)."""
EPSILON = 1e-4
"""Floor on a bin's share in either distribution, so an empty bin does not give ln(0)."""


@dataclass(frozen=True, slots=True, eq=False)
class PsiReference:
    """Per-feature quantile bin edges and the reference's share in each bin (padded to ``n_bins``)."""

    names: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]
    """Interior edges per feature, ascending, unique; bin ``j`` is ``(edges[j-1], edges[j]]``."""
    expected: FloatArray
    """(features, n_bins): reference shares; bins a feature does not have (tied quantiles) hold 0."""
    reference_rows: int

    @classmethod
    def fit(cls, reference: npt.ArrayLike, names: Sequence[str], n_bins: int = 10) -> PsiReference:
        """Quantile bins of each column of ``reference`` (rows, features); NaNs are ignored."""
        matrix = _as_matrix(reference, len(names))
        if n_bins < 2:
            raise ValueError(f"n_bins: must be >= 2, got {n_bins}")
        if len(matrix) < n_bins:
            raise ValueError(f"reference: {len(matrix)} rows, fewer than the {n_bins} bins")
        qs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
        edges = []
        for j, name in enumerate(names):
            column = matrix[:, j][np.isfinite(matrix[:, j])]
            if len(column) == 0:
                raise ValueError(f"reference: feature {name!r} has no finite value")
            edges.append(tuple(float(e) for e in np.unique(np.quantile(column, qs))))
        shell = cls(tuple(names), tuple(edges), np.zeros((len(names), n_bins)), len(matrix))
        counts, valid = shell.counts(matrix)
        return cls(shell.names, shell.edges, counts / valid[:, None], len(matrix))

    @property
    def n_bins(self) -> int:
        return int(self.expected.shape[1])

    def bin_indices(self, matrix: FloatArray) -> IntArray:
        """(rows, features) bin of every value: the number of edges strictly below it; -1 for NaN."""
        padded = self.padded_edges()
        bins = (matrix[:, :, None] > padded[None, :, :]).sum(axis=2)
        return np.where(np.isnan(matrix), -1, bins).astype(np.int64)

    def counts(self, matrix: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Bin counts (features, n_bins) of ``matrix`` and the number of non-NaN values per feature."""
        bins = self.bin_indices(_as_matrix(matrix, len(self.names)))
        counts = np.stack([np.bincount(b[b >= 0], minlength=self.n_bins) for b in bins.T]).astype(np.float64)
        return counts, counts.sum(axis=1)

    def psi(self, matrix: npt.ArrayLike) -> dict[str, float]:
        """PSI per feature of the rows of ``matrix`` (a batch window) against the reference."""
        counts, valid = self.counts(matrix)
        return dict(zip(self.names, psi_from_counts(self.expected, counts, valid).tolist(), strict=True))

    def padded_edges(self) -> FloatArray:
        """(features, n_bins - 1) edges, +inf where a feature has fewer bins (no value lands past them)."""
        padded = np.full((len(self.names), self.n_bins - 1), np.inf)
        for j, e in enumerate(self.edges):
            padded[j, : len(e)] = e
        return padded

    def to_json(self) -> str:
        return json.dumps(
            {
                "names": list(self.names),
                "edges": [list(e) for e in self.edges],
                "expected": self.expected.tolist(),
                "reference_rows": self.reference_rows,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PsiReference:
        data = json.loads(text)
        edges = tuple(tuple(float(v) for v in e) for e in data["edges"])
        expected = np.asarray(data["expected"], dtype=np.float64)
        if expected.ndim != 2 or expected.shape[0] != len(data["names"]) or len(edges) != len(data["names"]):
            raise ValueError("PsiReference JSON: names, edges and expected disagree in length")
        return cls(tuple(data["names"]), edges, expected, int(data["reference_rows"]))

    def save(self, path: Path) -> Path:
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: Path) -> PsiReference:
        return cls.from_json(path.read_text())


def psi_from_counts(expected: FloatArray, counts: FloatArray, valid: FloatArray) -> FloatArray:
    """PSI per row of (features, bins) counts against expected shares; NaN where a feature saw no value."""
    with np.errstate(invalid="ignore", divide="ignore"):
        actual = counts / valid[:, None]
    a = np.maximum(actual, EPSILON)
    e = np.maximum(expected, EPSILON)
    out = ((a - e) * np.log(a / e)).sum(axis=1)
    return np.where(valid > 0, out, np.nan)


class OnlinePsi:
    """PSI of the last ``window`` events against a reference, updated in O(features x bins) per event."""

    def __init__(self, reference: PsiReference, window: int) -> None:
        if window < 1:
            raise ValueError(f"window: must be >= 1, got {window}")
        self.reference = reference
        self.window = window
        d, k = len(reference.names), reference.n_bins
        self._padded = reference.padded_edges()
        self._ring = np.full((window, d), k, dtype=np.int64)
        self._counts = np.zeros((d, k + 1))  # the last column counts NaNs
        self._seen = 0

    @property
    def count(self) -> int:
        """Events in the window now (at most ``window``)."""
        return min(self._seen, self.window)

    def update(self, vector: npt.ArrayLike) -> None:
        """Fold in one feature vector (in ``reference.names`` order); the oldest leaves a full window."""
        x = np.asarray(vector, dtype=np.float64)
        if x.shape != (len(self.reference.names),):
            raise ValueError(f"vector: expected {len(self.reference.names)} features, got shape {x.shape}")
        slide_bins(self._padded, self._ring, self._seen % self.window, self._seen >= self.window, self._counts, x)
        self._seen += 1

    def psi(self) -> dict[str, float]:
        """PSI per feature over the window; raises before the first event (no window, no statistic)."""
        if self._seen == 0:
            raise RuntimeError("OnlinePsi.psi: no event yet")
        counts = self._counts[:, :-1]
        values = psi_from_counts(self.reference.expected, counts, counts.sum(axis=1))
        return dict(zip(self.reference.names, values.tolist(), strict=True))

    def max_psi(self) -> float:
        """The largest per-feature PSI: the one number a health check or a sensor compares to ``PSI_SHIFT``."""
        values = [v for v in self.psi().values() if not np.isnan(v)]
        if not values:
            raise RuntimeError("OnlinePsi.max_psi: every feature in the window is NaN")
        return max(values)


def _as_matrix(values: npt.ArrayLike, n_features: int) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != n_features:
        raise ValueError(f"expected a (rows, {n_features}) matrix, got shape {matrix.shape}")
    return matrix
