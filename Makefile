# The README's commands. Everything the project needs is installed into .venv by `make install`,
# at the versions pinned (with hashes) in requirements.lock: a fresh machine gets what CI tested.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock

.PHONY: install lock run dev test test-fast test-chaos sandbox stop bench clean deploy-celery-up deploy-celery-down

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit("sfxero needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# Byte-compiled now, as pip does for the dependencies: where PYTHONDONTWRITEBYTECODE is set, every
	@# process (each run worker the lane starts) compiled the package's ~150 modules again, ~0.2 s each.
	$(BIN)/python -m compileall -q sfxero_pipelines
	touch $(STAMP)

install: $(STAMP)

## Re-pin requirements.lock after changing pyproject.toml's dependencies (uv resolves; pip installs).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
	  --quiet --custom-compile-command "make lock" -o $(LOCK)

## Sandbox up (in the background, reused if running), the full cycle end to end, then a summary
## proving convergence. With credentials configured, the sandbox is not used.
## Exit 1 from sync means "finished, some records held" (the sandbox seeds a few bad ones on purpose):
## the run still succeeded, so make does not fail on it; 2 (configuration) and others do.
## Against the sandbox, Xero is connected through the real consent flow (approved at once by
## --auto-consent), so the cycle runs on the token store as a real organisation's would.
run: $(STAMP)
	$(BIN)/sfxero sandbox --detach --auto-consent
	@if [ -z "$$XERO_CLIENT_ID" ]; then $(BIN)/sfxero connect xero --headless --port 0; fi
	@$(BIN)/sfxero sync --stage all; rc=$$?; \
	if [ $$rc -eq 1 ]; then echo "Finished with held records: see \`$(BIN)/sfxero status\`"; exit 0; fi; exit $$rc

## The Dagster UI on the same instance and staging state as `make run`.
dev: $(STAMP)
	$(BIN)/sfxero dev

## Tests run on WORKERS processes (pytest-xdist; 3 on 2 cores: the whole-cycle tests wait on servers and
## subprocesses about half the time, measured: 2 workers kept the CPUs 47% busy); tests sharing a module-scoped fixture stay on one
## worker (loadgroup: the markers are given in sfxero_tests/conftest.py).
WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup --durations=30

## The whole test suite (needs PostgreSQL on 127.0.0.1:5432; see README), with three of the kill -9
## chaos cases; `make test-chaos` runs the rest: every other kill case, the PostgreSQL restarts, and the
## second-backend variants of the longest whole-cycle tests (marker `chaos`).
test: $(STAMP)
	$(PYTEST) -m "not chaos"

test-chaos: $(STAMP)
	$(PYTEST) -m chaos

## The quick loop: everything that needs neither PostgreSQL, nor a child process, nor a large
## sandbox or a long bench (the lanes are given automatically; see sfxero_tests/conftest.py).
## On 4 workers: its tests are short, and each worker's start-up (imports, collection) is a large
## share of its time, so a fourth keeps the 2 cores busier (measured: 99.8 s on 3, 92.3 s on 4, idle).
test-fast: $(STAMP)
	$(PYTEST) -n 4 -m "not postgres and not subprocess and not slow"

sandbox: $(STAMP)
	$(BIN)/sfxero sandbox

## Stop the background sandbox `make run` started.
stop: $(STAMP)
	$(BIN)/sfxero sandbox --stop

## Dagster daemon, webserver and Celery workers as local processes (needs DAGSTER_PG_URL, RabbitMQ,
## Redis; see README "Running at scale"). Pid files and logs under .sfxero/celery/.
deploy-celery-up: $(STAMP)
	SFXERO_BIN=$(abspath $(BIN)) deploy/celery/up.sh

deploy-celery-down:
	deploy/celery/down.sh

clean:
	rm -rf .sfxero .dagster_home .pytest_cache
