#!/usr/bin/env bash
# Stops what deploy/celery/up.sh started: each pid file under $SFXERO_CELERY_DIR (default
# .sfxero/celery/) gets SIGTERM (a Celery worker finishes its current step first), then SIGKILL
# after SFXERO_CELERY_STOP_TIMEOUT seconds (default 60).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STATE=${SFXERO_CELERY_DIR:-$ROOT/.sfxero/celery}
TIMEOUT=${SFXERO_CELERY_STOP_TIMEOUT:-60}

running() {  # a killed process not yet reaped (a zombie) answers kill -0 but is gone
    kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]
}

for pidfile in "$STATE"/*.pid; do
    [ -f "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq "$TIMEOUT"); do running "$pid" || break; sleep 1; done
        running "$pid" && kill -KILL "$pid" 2>/dev/null && echo "$name killed (pid $pid)"
        echo "$name stopped (pid $pid)"
    fi
    rm -f "$pidfile"
done
