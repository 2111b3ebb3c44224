"""Celery settings of sfxero's workers: dagster-celery's app factory, which sfxero's worker app
(`-A sfxero_celery_app`) uses, imports a module of this name when it is on the path (deploy/celery/up.sh
puts this directory there).

A step is acknowledged to the broker only once it has finished (`task_acks_late`), and a step whose
worker process died is handed back (`task_reject_on_worker_lost`): a worker killed mid-push (SIGKILL,
OOM, a lost machine) leaves its step on the queue, and another worker, or the same one restarted, runs
it again. Running a push step twice is safe: the push ledger records each write before it is sent, so
the second run resumes (looking up what the first may have written) instead of writing again.
Prefetch 1: a worker holds no step it cannot start, so an idle worker takes it.
"""

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
