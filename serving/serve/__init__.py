"""The Ray Serve application: a FastAPI ingress composed with symbol-sharded decision deployments."""
