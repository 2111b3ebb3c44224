"""The Dagster instance the CLI runs on: `$DAGSTER_HOME` (default `.dagster_home/`), persisted.

On first use the repo's `dagster.yaml` (embedded SQLite defaults) is copied in, so `sfxero sync`,
`make run` and `make dev` share one instance and the UI shows every run the CLI made.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..settings import dagster_home

_DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "dagster.yaml"


def prepare_dagster_home() -> Path:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and _DEFAULT_CONFIG.exists():
        shutil.copyfile(_DEFAULT_CONFIG, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    import dagster as dg

    prepare_dagster_home()
    return dg.DagsterInstance.get()
