#!/usr/bin/env bash
# Container entrypoint: `web` (gunicorn), `worker` (RQ, no cron; scale freely),
# `scheduler` (an RQ worker on the default queue plus the cron scheduler, started by
# worker.py exactly as `python worker.py` does; several are safe, one leads), `migrate`
# (schema + roles, then exit), or any other command, run as is.
#
# Migrations run only where asked: the one-shot `migrate` service, or `web` with
# RUN_MIGRATIONS=1 on a single-replica deployment. Replicas of `web` scaled with
# `--scale web=N` leave RUN_MIGRATIONS unset so they never race on the schema.
set -euo pipefail

role="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

migrate() {
  echo "omnicrm-entrypoint: applying migrations" >&2
  flask --app run db upgrade
  flask --app run omnicrm init
}

case "$role" in
  web)
    if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
      migrate
    fi
    exec gunicorn --config gunicorn.conf.py "$@" run:app
    ;;
  worker)
    exec python worker.py --no-cron "$@"
    ;;
  scheduler)
    exec python worker.py --queues default "$@"
    ;;
  migrate)
    migrate
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
