"""Model lifecycle (issue 7): promote a challenger, roll back, archive; the shadow comparison the gate judges.

``promote`` / ``rollback`` / ``archive`` (``promotion``) move the MLflow aliases, write the audit record and
hot-swap the Serve app as one operation; ``ShadowComparison`` (``comparison``) reads the paired shadow series
the Serve app keeps and runs the statistical gate; ``serve_http`` calls the app's admin endpoints.
"""

from serving.lifecycle.comparison import LoggedBandit, ShadowComparison, merge_paired, version_key, versions_from_names
from serving.lifecycle.promotion import (
    PromotionResult,
    Reload,
    archive,
    promote,
    rollback,
    shard_problems,
)
from serving.lifecycle.serve_http import ServeRequestError, fetch_paired, serve_reload

__all__ = [
    "LoggedBandit",
    "PromotionResult",
    "Reload",
    "ServeRequestError",
    "ShadowComparison",
    "archive",
    "fetch_paired",
    "merge_paired",
    "promote",
    "rollback",
    "serve_reload",
    "shard_problems",
    "version_key",
    "versions_from_names",
]
