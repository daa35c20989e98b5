#!/usr/bin/env bash
# make demo: the whole ctrl pipeline through Prefect on this machine, then its report and data.
#
# Starts a local Prefect server (SQLite and PREFECT_HOME under the artifact root, analytics off,
# a free port), registers the deployments (python -m flows.deploy), starts a process worker,
# runs `prefect deployment run ctrl/full-pipeline --watch` on the preset, prints where the
# report is and runs three example `ctrl sql` queries. Everything it started is stopped on exit.
#
#   make demo                                   # preset "default" under ./.ctrl
#   PRESET=tiny CTRL_HOME=/tmp/x bash scripts/demo.sh
#   PARAMS='--param until=execute' bash scripts/demo.sh   # extra `deployment run` arguments
# Re-running is nearly free: every stage is a cache hit by artifact key.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$REPO/.venv/bin
PRESET=${PRESET:-default}
export CTRL_HOME=${CTRL_HOME:-$REPO/.ctrl}
mkdir -p "$CTRL_HOME"
CTRL_HOME=$(cd "$CTRL_HOME" && pwd)
export PREFECT_HOME=$CTRL_HOME/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$PREFECT_HOME/prefect.db"
export PREFECT_WORKER_QUERY_SECONDS=${PREFECT_WORKER_QUERY_SECONDS:-2}
export PREFECT_LOGGING_LEVEL=${PREFECT_LOGGING_LEVEL:-INFO}
# ctrl's own progress lines (ctrl.progress, ctrl.stage, ...) go to the Prefect run logs too.
export PREFECT_LOGGING_EXTRA_LOGGERS=${PREFECT_LOGGING_EXTRA_LOGGERS:-ctrl,storage}
LOGS=$CTRL_HOME/logs
mkdir -p "$PREFECT_HOME" "$LOGS"

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"

PIDS=()
descendants() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do echo "$child"; descendants "$child"; done
}
cleanup() {
  # Flow runs start in their own sessions under the worker: collect the whole tree first.
  local all=() pid
  for pid in "${PIDS[@]}"; do all+=("$pid" $(descendants "$pid")); done
  for pid in "${all[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${all[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
echo "== Prefect server on port $PORT (PREFECT_HOME=$PREFECT_HOME, log $LOGS/server.log)"
setsid "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$LOGS/server.log" 2>&1 &
PIDS+=($!); disown
for _ in $(seq 240); do
  if "$BIN/python" -c "import urllib.request, sys; urllib.request.urlopen('$PREFECT_API_URL/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "Prefect server exited; see $LOGS/server.log:"; tail -20 "$LOGS/server.log"; exit 1; }
  sleep 0.5
done
echo "   up after $(( $(date +%s) - t0 )) s; UI at http://127.0.0.1:$PORT"

echo "== registering deployments (prefect.yaml)"
"$BIN/python" -m flows.deploy --pool ctrl

echo "== worker on pool ctrl (log $LOGS/worker.log)"
setsid "$BIN/prefect" worker start --pool ctrl --type process >"$LOGS/worker.log" 2>&1 &
PIDS+=($!); disown

echo "== prefect deployment run ctrl/full-pipeline --param preset=$PRESET ${PARAMS:-}"
t1=$(date +%s)
# Show the flow's own log lines (from the worker) instead of the raw event stream.
setsid bash -c "tail -n0 -F '$LOGS/worker.log' 2>/dev/null | grep --line-buffered -E 'Task run|Flow run|ctrl\\.|ERROR|Error'" &
PIDS+=($!); disown
# shellcheck disable=SC2086
"$BIN/prefect" deployment run ctrl/full-pipeline --param preset="$PRESET" --param home="$CTRL_HOME" \
  ${PARAMS:-} --watch >"$LOGS/pipeline.log" 2>&1 || true
sed -n '/Creating flow run/,/URL:/p' "$LOGS/pipeline.log"
state=$(grep -E "Flow run finished" "$LOGS/pipeline.log" | tail -1 || true)
echo "   $state (pipeline $(( $(date +%s) - t1 )) s, total $(( $(date +%s) - t0 )) s)"
if ! grep -q "finished successfully" <<<"$state"; then
  echo "The pipeline run did not complete. Worker log: $LOGS/worker.log (last lines below);"
  echo "re-run \`make demo\` to resume from the finished shards."
  tail -30 "$LOGS/worker.log"
  exit 1
fi

REPORT=$(ls -t "$CTRL_HOME"/reports/*/report.md 2>/dev/null | head -1)
echo
echo "== report: $REPORT (plots next to it)"
echo
echo "== three example queries (ctrl sql over $CTRL_HOME/catalog.duckdb)"
q() { echo "\$ ctrl sql \"$1\""; "$BIN/ctrl" sql "$1" || true; echo; }
q "SELECT stage, table_name, artifact, rows, created_at FROM runs ORDER BY created_at"
q "SELECT test_set, count(*) AS n, round(avg(passed::INT), 3) AS pass_rate FROM executions GROUP BY test_set"
q "SELECT r.problem_id, r.model, e.status, left(r.code, 60) AS code FROM rollouts r JOIN executions e USING (rollout_id) WHERE e.test_set = 'private' LIMIT 5"
