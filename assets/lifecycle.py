"""The serving champion as a node of the asset graph: the end of the lineage market data -> models -> promotion.

Nothing in Dagster computes it: ``promotion_job`` (``orchestration.lifecycle_jobs``) records a materialization
of ``serving_champion`` when a promotion completes (aliases moved, audited, Serve swapped) and an observation
when the gate archives a challenger instead, so the asset's page shows every verdict with its statistics.
"""

from dagster import AssetKey, AssetSpec

from assets.drift import feature_drift_report
from assets.models import model_evaluation

SERVING_CHAMPION = AssetKey("serving_champion")

serving_champion = AssetSpec(
    SERVING_CHAMPION,
    group_name="lifecycle",
    deps=[model_evaluation, feature_drift_report],
    kinds={"mlflow", "ray"},
    description=(
        "The model versions the Serve app decides with (MLflow alias `champion`). Materialized by promotion_job "
        "when the shadow gate's promotion completes; observed with the reason when it archives a challenger."
    ),
)

lifecycle_assets = [serving_champion]
