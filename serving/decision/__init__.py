"""The decision path: one ``DecisionEngine`` for backtests, paper trading, the Serve endpoint and the Python API."""
