"""Where the offline feature files lie: under RTOPT_HOME, exported by `rtopt` (orchestration/settings.py)."""

import os
from pathlib import Path

# Feast imports this repo in the process that runs `feast` or `rtopt`; both have RTOPT_HOME set
# (by `rtopt` itself, or by the person running `feast`, as the README says).
STATE = Path(os.environ.get("RTOPT_HOME", Path(__file__).resolve().parents[1] / ".rtopt"))
OFFLINE_FEATURES = STATE / "features" / "offline"
