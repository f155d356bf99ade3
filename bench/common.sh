# Shared by bench/run.sh and bench/pg_floor.sh (sourced from the repository's root).

# Prints the directory of the accrue and accrue-bench binaries: BENCH_BIN_DIR when set
# (say, binaries of another commit kept there), else this checkout's, built now.
bench_binaries() {
    if [[ -n "${BENCH_BIN_DIR:-}" ]]; then
        echo "$BENCH_BIN_DIR"
    else
        cargo build --release -p accrue -p accrue-bench >&2
        echo "${CARGO_TARGET_DIR:-$PWD/target}/release"
    fi
}

# Prints the PostgreSQL URL $1 with its database swapped for $2, keeping any query
# (?host=/var/run/postgresql).
database_url_named() {
    local query="" base="${1%%\?*}"
    [[ "$1" == *\?* ]] && query="?${1#*\?}"
    echo "${base%/*}/$2$query"
}
