#!/usr/bin/env bash
# Starts sfxero on Celery locally, as background processes: the Dagster daemon, the webserver and
# one Celery worker per entry of SFXERO_CELERY_WORKERS. Pid files and logs go to $SFXERO_CELERY_DIR
# (default .sfxero/celery/); a service whose pid file names a live process is left running.
# Stop everything with deploy/celery/down.sh.
#
# Needs: DAGSTER_PG_URL (the instance, postgresql+psycopg2://...), a RabbitMQ broker and a result
# backend. Settings (environment; defaults in brackets):
#   SFXERO_CELERY_BROKER    [pyamqp://guest:guest@127.0.0.1:5672//]
#   SFXERO_CELERY_BACKEND   [redis://127.0.0.1:6379/0]
#   SFXERO_PACING_URL       [redis://127.0.0.1:6379/0]: Xero pacing per tenant, shared by every
#                           worker (sfxero_pipelines/clients/pacing.py); set it empty to pace
#                           each process in its own memory
#   SFXERO_CELERY_WORKERS   ["dagster,xero dagster,salesforce"]: one worker per word, listening on
#                           the comma-separated queues (xero / salesforce get the API-calling steps,
#                           dagster the rest), so each system's calls can have their own workers
#   SFXERO_CELERY_CONCURRENCY [1]: processes per worker
#   SFXERO_CELERY_NAME      [sfxero]: workers are named NAME-1@host, NAME-2@host, ...; two
#                           deployments sharing a broker and a host need different names
#   SFXERO_TENANT_ENV_DIR   [unset]: workers serving several Xero organisations: one env file per
#                           organisation, <tenant id>.env (its code location's XERO_TENANT_ID,
#                           SFXERO_STAGING_URL, ...); each step runs with its run's file applied
#                           (sfxero_celery_app.py). Unset: the workers serve their own XERO_TENANT_ID
#   SFXERO_CELERY_SERVICES  ["daemon webserver workers"]
#   SFXERO_WEBSERVER_PORT   [3000]
#   DAGSTER_HOME            [$SFXERO_CELERY_DIR/dagster_home]
#   SFXERO_BIN              [.venv/bin]: where dagster, dagster-daemon and celery are installed
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SFXERO_BIN:-$ROOT/.venv/bin}
STATE=${SFXERO_CELERY_DIR:-$ROOT/.sfxero/celery}
SERVICES=${SFXERO_CELERY_SERVICES:-daemon webserver workers}
WORKERS=${SFXERO_CELERY_WORKERS:-dagster,xero dagster,salesforce}

: "${DAGSTER_PG_URL:?set DAGSTER_PG_URL to the instance database (postgresql+psycopg2://user:pass@host:5432/db)}"
export DAGSTER_HOME=${DAGSTER_HOME:-$STATE/dagster_home}
export SFXERO_EXECUTOR=celery
export SFXERO_CELERY_BROKER=${SFXERO_CELERY_BROKER:-pyamqp://guest:guest@127.0.0.1:5672//}
export SFXERO_CELERY_BACKEND=${SFXERO_CELERY_BACKEND:-redis://127.0.0.1:6379/0}
# Several processes call each tenant: its minute budget must be counted in one place.
export SFXERO_PACING_URL=${SFXERO_PACING_URL-redis://127.0.0.1:6379/0}
# The workers' app (sfxero_celery_app: dagster-celery's tasks, each step in its organisation's
# environment) takes its broker and backend from Celery's own variables.
export CELERY_BROKER_URL=$SFXERO_CELERY_BROKER CELERY_RESULT_BACKEND=$SFXERO_CELERY_BACKEND
# Workers load the code location to run a step: same code, same path as the run that sent it.
# deploy/celery holds sfxero_celery_app.py and dagster_celery_config.py (late acknowledgement: a
# killed worker's step is re-run).
export PYTHONPATH=$ROOT:$ROOT/deploy/celery${PYTHONPATH:+:$PYTHONPATH}

mkdir -p "$STATE" "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp "$ROOT/deploy/celery/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"

running() {  # a live process: a killed one not yet reaped (a zombie) answers kill -0 but is dead
    kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]
}

start() {  # start NAME COMMAND...: background, pid file, log
    local name=$1; shift
    local pidfile=$STATE/$name.pid
    if [ -f "$pidfile" ] && running "$(cat "$pidfile")"; then
        echo "$name already running (pid $(cat "$pidfile"))"; return
    fi
    (cd "$ROOT" && exec nohup "$@" >"$STATE/$name.log" 2>&1 </dev/null) &
    echo $! >"$pidfile"
    echo "$name started (pid $!, log $STATE/$name.log)"
}

for service in $SERVICES; do
    case $service in
        daemon) start daemon "$BIN/dagster-daemon" run -w "$ROOT/workspace.yaml" ;;
        webserver) start webserver "$BIN/dagster-webserver" -w "$ROOT/workspace.yaml" \
                       -h 127.0.0.1 -p "${SFXERO_WEBSERVER_PORT:-3000}" ;;
        workers)
            i=0
            for queues in $WORKERS; do
                i=$((i + 1))
                # prefetch 1: a worker holds no task it cannot start, so an idle worker takes it.
                start "worker-$i" "$BIN/celery" -A sfxero_celery_app worker -Q "$queues" \
                    -n "${SFXERO_CELERY_NAME:-sfxero}-$i@%h" --prefetch-multiplier=1 \
                    --concurrency "${SFXERO_CELERY_CONCURRENCY:-1}" --loglevel INFO
            done ;;
        *) echo "unknown service '$service' in SFXERO_CELERY_SERVICES (daemon, webserver, workers)" >&2; exit 2 ;;
    esac
done
