#!/usr/bin/env bash
# Load-test Accrue on this machine: build, start a server on a fresh database,
# run the load generator, stop the server, check the ledger.
#
#   bench/run.sh [--database-url postgres://...] [load generator options]
#
# Load generator options: --duration SECS (default 10), --clients N (default 16),
# --scenario baseline|accrue|withdraw_hot|history|loymax_registration|loymax_history|
# click_redirect|postback_ingest|purchase|hot_member_purchase|webhooks|all (default all),
# or batch_file (not in all: a million-row file, BENCH_BATCH_ROWS, posted during purchases).
# Without --database-url a fresh SQLite file in a temp directory is used. With a
# postgres:// URL a fresh database accrue_bench_<timestamp> is created on that
# server (and dropped at the end).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# --- arguments: take --database-url for ourselves, pass the rest on ------------
database_url=""
duration=10
passthrough=()
while (($#)); do
    case "$1" in
        --database-url) database_url="${2:?--database-url needs a value}"; shift 2 ;;
        --duration) duration="${2:?--duration needs a value}"; passthrough+=("$1" "$2"); shift 2 ;;
        *) passthrough+=("$1"); shift ;;
    esac
done

# --- build -------------------------------------------------------------------
# BENCH_BIN_DIR: run the accrue and accrue-bench binaries kept there (say, of another
# commit) instead of building this checkout.
source bench/common.sh
bin="$(bench_binaries)"
accrue="$bin/accrue"
bench="$bin/accrue-bench"

# --- a fresh database ----------------------------------------------------------
workdir="$(mktemp -d -t accrue-bench.XXXXXX)"
server_pid=""
pg_admin_url=""
pg_database=""

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [[ -n "$pg_database" ]]; then
        psql "$pg_admin_url" -q -c "drop database if exists $pg_database" >/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

case "$database_url" in
    "")
        database_url="sqlite://$workdir/bench.db"
        ;;
    postgres://* | postgresql://*)
        pg_admin_url="$database_url"
        pg_database="accrue_bench_$(date +%s)"
        psql "$pg_admin_url" -q -c "create database $pg_database"
        database_url="$(database_url_named "$database_url" "$pg_database")"
        ;;
    *)
        echo "run.sh: --database-url must be postgres://... (SQLite is the default)" >&2
        exit 64
        ;;
esac
echo "database: $database_url" >&2

key="$("$accrue" --database-url "$database_url" admin create-key --name bench 2>/dev/null)"

# --- the server ----------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# --outbound-allow: the webhooks scenario's receiver listens on 127.0.0.1, which the
# delivery worker refuses otherwise. The key that seals webhook secrets goes into
# the temp directory, not into the working directory.
# --request-timeout: batch_file uploads a large file in one request.
"$accrue" --database-url "$database_url" --listen "127.0.0.1:$port" --request-timeout 600 \
    --outbound-allow 127.0.0.1 --secret-key-file "$workdir/accrue.key" serve \
    >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!

for _ in $(seq 100); do
    curl -sf --noproxy '*' -o /dev/null "$base/healthz" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: the server exited:" >&2
        cat "$workdir/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -sf --noproxy '*' -o /dev/null "$base/healthz" || {
    echo "run.sh: the server did not answer /healthz within 10 s" >&2
    exit 1
}
echo "server: $base (pid $server_pid)" >&2

# --- load ------------------------------------------------------------------------
# At most nine scenarios of $duration seconds each, plus the webhooks scenario's
# wait for its last webhook (at most 4 x $duration + 60 s), plus setup; bounded anyway.
whole_seconds="${duration%.*}"
limit=$(((${whole_seconds:-0} + 1) * 14 + 300))
status=0
timeout --kill-after=10 "$limit" \
    "$bench" "${passthrough[@]}" --base "$base" --key "$key" --server-pid "$server_pid" || status=$?

# The server's own counters: writes per commit batch tells how well the SQLite
# writer groups concurrent writes; the outbox lines count webhook deliveries.
echo
echo "server counters:"
curl -sf --noproxy '*' "$base/metrics" | grep -E '^accrue_(store|ledger|outbox)_' || true

# --- stop and check --------------------------------------------------------------
kill -TERM "$server_pid"
wait "$server_pid" || echo "run.sh: the server exited with status $?" >&2
server_pid=""
if grep -E ' (ERROR|WARN) ' "$workdir/server.log" >/dev/null; then
    echo "server warnings/errors (first 20):" >&2
    grep -E ' (ERROR|WARN) ' "$workdir/server.log" | head -20 >&2
fi

echo
"$accrue" --database-url "$database_url" check 2>/dev/null || status=$?
exit "$status"
