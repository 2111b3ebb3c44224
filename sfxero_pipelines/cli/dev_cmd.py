"""`sfxero dev`: the Dagster UI on the same instance and staging state as `sfxero sync`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .instance import prepare_dagster_home
from .connections import use_configured_or_sandbox


#: The repo's workspace (next to the package), used when the working directory has none of its own.
_REPO_WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def run_dev(port: int) -> None:
    home = prepare_dagster_home()
    workspace = Path("workspace.yaml") if Path("workspace.yaml").exists() else _REPO_WORKSPACE
    with use_configured_or_sandbox():
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)],
                       env=env, check=False)
