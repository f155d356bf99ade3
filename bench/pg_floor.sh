#!/usr/bin/env bash
# What PostgreSQL alone costs a Loymax purchase: runs the SQL the server sends for one
# purchase (captured from a real run) under pgbench, with no server in the way.
#
#   bench/pg_floor.sh [--database-url postgres://.../postgres] [--duration SECS]
#                     [--clients N] [--pg-log FILE] [--keep]
#
# 1. Creates a database accrue_floor_<unix time> with log_statement = 'all' for it alone,
#    starts the server on it and has one till make purchases for 10 s (each member's second
#    one, the caches warm, is the one taken).
# 2. bench/pg_floor.py turns one of those purchases into a pgbench script (a fresh
#    purchase key and a random member per transaction; see its header).
# 3. pgbench runs that script with N clients (default 16) for SECS (default 15) and
#    prints its rate (each transaction is one whole purchase) and each statement's
#    latency.
#
# The capture reads PostgreSQL's log file (--pg-log; by default the newest
# /var/log/postgresql/postgresql-*.log, Debian's place). The database is dropped at the
# end unless --keep; the script stays in a temp directory printed at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

admin_url="postgres://postgres@127.0.0.1:5432/postgres"
duration=15
clients=16
pg_log="$(ls -t /var/log/postgresql/postgresql-*.log 2>/dev/null | head -1 || true)"
keep=""
while (($#)); do
    case "$1" in
        --database-url) admin_url="${2:?--database-url needs a value}"; shift 2 ;;
        --duration) duration="${2:?--duration needs a value}"; shift 2 ;;
        --clients) clients="${2:?--clients needs a value}"; shift 2 ;;
        --pg-log) pg_log="${2:?--pg-log needs a value}"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "pg_floor.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ -r "$pg_log" ]] || { echo "pg_floor.sh: cannot read PostgreSQL's log (--pg-log)" >&2; exit 64; }

source bench/common.sh
bin="$(bench_binaries)"

workdir="$(mktemp -d -t accrue-floor.XXXXXX)"
database="accrue_floor_$(date +%s)"
url="$(database_url_named "$admin_url" "$database")"
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" || true
    psql "$admin_url" -q -c "ALTER DATABASE $database RESET log_statement" >/dev/null 2>&1 || true
    if [[ -z "$keep" ]]; then
        psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $database" >/dev/null || true
    fi
}
trap cleanup EXIT

psql "$admin_url" -q -c "CREATE DATABASE $database"
psql "$admin_url" -q -c "ALTER DATABASE $database SET log_statement = 'all'"
key="$("$bin/accrue" --database-url "$url" admin create-key --name floor 2>/dev/null)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin/accrue" --database-url "$url" --listen "127.0.0.1:$port" --secret-key-file "$workdir/accrue.key" \
    serve >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!
for _ in $(seq 100); do
    curl -sf --noproxy '*' -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
done

log_start=$(($(wc -l <"$pg_log") + 1))
"$bin/accrue-bench" --scenario purchase --clients 1 --duration 10 \
    --base "http://127.0.0.1:$port" --key "$key" >"$workdir/capture.out"
tail -n +"$log_start" "$pg_log" >"$workdir/statements.log"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
psql "$admin_url" -q -c "ALTER DATABASE $database RESET log_statement"

python3 bench/pg_floor.py "$workdir/statements.log" "$url" >"$workdir/purchase.sql"
pgbench -n -M prepared -c "$clients" -j 2 -T "$duration" -r -f "$workdir/purchase.sql" "$url" |
    grep -vE '^(pgbench \(|transaction type|scaling factor|query mode|number of threads|maximum number of tries)'
echo "the script: $workdir/purchase.sql${keep:+; the database: $url}"
