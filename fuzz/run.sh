#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and keeps what it finds as regression
# inputs, which `cargo test` replays from then on.
#
#   fuzz/run.sh                 # all targets, 60 s each
#   fuzz/run.sh 300 amount      # one target, 5 minutes
#   fuzz/run.sh --smoke         # what CI runs: a fixed seed and number of runs, so the
#                               # same code gives the same result
#
# Needs cargo-fuzz (installed when missing). It runs on the stable toolchain: without
# a sanitizer, and with RUSTC_BOOTSTRAP for the -Z flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if [ "${1:-}" = "--smoke" ]; then
  limits=(-seed=1 -runs=200000 -max_total_time=120)
  shift
else
  limits=(-max_total_time="${1:-60}")
  shift || true
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

found=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  echo "== $target ${limits[*]}"
  # New inputs go to corpus/ (not kept); the kept regression inputs seed the run.
  if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "regressions/$target" -- \
      "${limits[@]}" -max_len=65536 -timeout=10 -print_final_stats=1; then
    found=1
  fi
  for artifact in artifacts/"$target"/*; do
    [ -e "$artifact" ] || continue
    cp "$artifact" "regressions/$target/"
    echo "kept $(basename "$artifact") in fuzz/regressions/$target: fix it, then commit it"
  done
done
exit "$found"
