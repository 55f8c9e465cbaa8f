"""MLflow tracking and registry: training runs, model versions, champion/challenger aliases."""
