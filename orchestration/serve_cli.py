"""`rtopt serve`: the decision endpoint on Ray Serve, with models from the project's MLflow registry."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import yaml

from orchestration.settings import Settings
from serving.safety.kill_switch import kill_switch_path
from serving.serve.config import ServeConfig


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="serve POST /v1/decisions on Ray Serve (champion decides, challenger shadows)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--shards", type=int, default=1, help="decision deployments; symbols are split among them")
    serve.add_argument("--agent", choices=["ppo", "ddpg"], default="ppo")
    serve.add_argument("--symbols", default="", help="comma-separated symbols to serve (default: any)")
    serve.add_argument("--replay", action="store_true", help="feature age against event time (history replays)")
    serve.add_argument("--poll", type=float, default=5.0, help="seconds between registry alias checks (0: off)")
    serve.add_argument("--write-config", type=Path, default=None, help="write a `serve deploy` config file and exit")


def serve_config(args: argparse.Namespace, settings: Settings) -> ServeConfig:
    store = settings.online_store
    return ServeConfig(
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        model_cache=str(settings.home / "serving" / "models"),
        agent=args.agent,
        shards=args.shards,
        symbols=tuple(s for s in args.symbols.split(",") if s),
        clock="market" if args.replay else "wall",
        registry_poll_s=args.poll,
        redis_url=store.redis_url if store.backend == "redis" else None,
        audit_dsn=settings.audit_dsn,
        kill_switch_file=str(kill_switch_path(settings.home)),
        port=args.port,
    )


def deploy_file(config: ServeConfig) -> dict[str, object]:
    """A Ray Serve config file (``serve deploy FILE``) for the same application."""
    return {
        "http_options": {"host": "127.0.0.1", "port": config.port},
        "applications": [
            {
                "name": "rtopt",
                "route_prefix": "/",
                "import_path": "serving.serve.app:build_app",
                "args": config.model_dump(mode="json"),
            }
        ],
    }


def run_serve_command(args: argparse.Namespace, settings: Settings) -> int:
    config = serve_config(args, settings)
    if args.write_config is not None:
        args.write_config.write_text(yaml.safe_dump(deploy_file(config), sort_keys=False))
        print(f"wrote {args.write_config}: run `serve deploy {args.write_config}` against a running Ray cluster")
        return 0
    from serving.serve.runner import start, stop

    url = start(config)
    print(f"rtopt decisions at {url}/v1/decisions  (status {url}/v1/status, health {url}/healthz); Ctrl-C stops")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        stop()
    return 0
