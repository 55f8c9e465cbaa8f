"""The bandit as a weight file: config and learned state as JSON (no pickle)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from models.bandit import ContextualBanditConfig, LinUCB


def save_bandit(bandit: LinUCB, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": dataclasses.asdict(bandit.config), "state": bandit.state_dict()}
    path.write_text(json.dumps(payload))
    return path


def load_bandit(path: Path) -> LinUCB:
    payload = json.loads(path.read_text())
    bandit = LinUCB(payload["state"]["arms"], ContextualBanditConfig(**payload["config"]))
    bandit.load_state_dict(payload["state"])
    return bandit
