"""The deployment files parse and agree with the repository: the Helm values run sfxero's code
location with K8sRunLauncher, credentials from a Kubernetes secret and the same run-queue limits as
the instance configs; the Dockerfile installs exactly what `make install` installs.

Nothing here builds the image or talks to a cluster (no registry or Kubernetes on CI machines).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/kubernetes"


def _makefile_install_lines() -> list[str]:
    """The `pip install` lines of the `make install` recipe, with the Makefile's variables filled in."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\):.*?\n((?:\t.*\n)+)", text, re.M).group(1)
    lines = [line.strip() for line in recipe.splitlines() if "pip install" in line]
    return [line.replace("$(BIN)", ".venv/bin").replace("$(LOCK)", "requirements.lock") for line in lines]


def _dockerfile_install_lines() -> list[str]:
    text = (K8S / "Dockerfile").read_text().replace("\\\n", " ")
    return [re.sub(r"\s+", " ", line[len("RUN "):]).strip() for line in text.splitlines()
            if line.startswith("RUN ") and "pip install" in line]


def test_dockerfile_installs_what_make_install_installs():
    make = _makefile_install_lines()
    assert len(make) == 3 and any("--require-hashes -r requirements.lock" in line for line in make)
    assert _dockerfile_install_lines() == make


def test_helm_values_run_sfxero_with_k8s_run_launcher_and_secret_env():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    deployments = values["dagster-user-deployments"]["deployments"]
    assert values["dagster-user-deployments"]["enabled"] and len(deployments) == 1
    args = deployments[0]["dagsterApiGrpcArgs"]
    module = importlib.import_module(args[args.index("--module-name") + 1])
    assert callable(getattr(module, args[args.index("--attribute") + 1]))
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    secret = {s["name"] for s in deployments[0]["envSecrets"]}
    assert secret and secret == {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    assert values["postgresql"]["enabled"] is False and values["global"]["postgresqlSecretName"]
    # No credential written into the values themselves: they come from the secret.
    env_names = {e["name"] for e in deployments[0].get("env", [])}
    assert not {n for n in env_names if re.search(r"SECRET|PASSWORD|CLIENT_ID|TOKEN", n)}


def _tag_limits(limits: list[dict]) -> set[tuple]:
    return {(d["key"], json.dumps(d.get("value")), d["limit"]) for d in limits if d["key"].startswith("sfxero/")}


def test_run_queue_limits_agree_across_deployments():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    helm = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    expected = {("sfxero/target", '"salesforce"', 1), ("sfxero/job_tenant", '{"applyLimitPerUniqueValue": true}', 1),
                ("sfxero/tenant", "null", 4)}
    assert _tag_limits(helm) == expected
    for path in ("dagster.yaml", "deploy/postgres/dagster.yaml", "deploy/celery/dagster.yaml"):
        instance = yaml.safe_load((ROOT / path).read_text())
        assert _tag_limits(instance["concurrency"]["runs"]["tag_concurrency_limits"]) == expected, path
