"""Running `sfxero ...` as a person does, for the connect tests: `cli` for one command, `connect` for
`sfxero connect <system> --no-browser` against an auto-consenting sandbox, with the printed consent
address fetched as the browser would (it follows the redirect to the command's loopback callback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def cli(env, cwd, *args, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", *args], capture_output=True, text=True,
                         env=env, cwd=cwd, timeout=180)
    assert not check or out.returncode == 0, out.stderr[-2000:]
    return out


def connect(env, cwd, system: str, ca_bundle: str) -> tuple[str, str]:
    """(the consent address printed, everything the command printed)."""
    proc = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "connect", system, "--no-browser",
                             "--port", "0"], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("  https://"):
            break
    url = printed[-1].strip()
    assert "code_challenge_method=S256" in url
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(url, verify=ca_bundle, timeout=60)
    assert page.status_code == 200 and "connected" in page.text
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return url, "".join(printed) + rest + err
