"""`sfxero dev`: the Dagster UI on the same instance and staging state as `sfxero sync`."""

from __future__ import annotations

import os
import subprocess
import sys

from .instance import prepare_dagster_home
from .connections import use_configured_or_sandbox


def run_dev(port: int) -> None:
    home = prepare_dagster_home()
    with use_configured_or_sandbox():
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)],
                       env=env, check=False)
