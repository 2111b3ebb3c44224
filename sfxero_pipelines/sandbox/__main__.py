"""`python -m sfxero_pipelines.sandbox`: a sandbox in its own process, for benchmarks and tests.

Like `sfxero sandbox` but also takes `--xero-limits` (JSON) so a benchmark can lift the Xero
minute limit and measure the loader rather than the pacing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .runner import DEFAULT_STATE_DIR, SandboxServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sfxero_pipelines.sandbox")
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--faults", default="")
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR))
    parser.add_argument("--xero-limits", default=None, help="JSON, e.g. {\"per_minute\": 100000}")
    parser.add_argument("--auto-consent", action="store_true", help="Xero's and Salesforce's consent pages approve at once.")
    parser.add_argument("--xero-orgs", type=int, default=1, help="Xero organisations the consent grants.")
    args = parser.parse_args()
    server = SandboxServer(size=args.size, seed=args.seed, faults=args.faults, state_dir=Path(args.state_dir),
                           xero_limits=json.loads(args.xero_limits) if args.xero_limits else None,
                           auto_consent=args.auto_consent, xero_orgs=args.xero_orgs)
    server.write_env_file(Path(args.env_file))
    server.serve_forever()


if __name__ == "__main__":
    main()
