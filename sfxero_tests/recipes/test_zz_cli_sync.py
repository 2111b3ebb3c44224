import json
from .test_r8_items_e2e import _sfxero
from .test_finance_example_e2e import EXAMPLE
from ..conftest import FAST_XERO
import pytest

@pytest.mark.timeout(1200)
def test_cli(make_sandbox, tmp_path):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    env = {**server.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}", "DAGSTER_HOME": str(tmp_path / "home"),
           "SFXERO_CONFIG": str(EXAMPLE)}
    (tmp_path / "home").mkdir()
    first = _sfxero(env, "sync")
    print(first.returncode, first.stdout[-4000:], first.stderr[-2000:])
    planned = json.loads(_sfxero(env, "plan", "--json").stdout)
    print({k: v for k, v in planned["summary"].items()})
