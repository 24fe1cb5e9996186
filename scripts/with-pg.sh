#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL and FUNDSYNC_TEST_PG_URL set,
# e.g. the benchmarks:
#   FUNDSYNC_PG_DURABLE=1 bash scripts/with-pg.sh cargo run --release -p fundsync-tests --bin bench -- import
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log() { printf '[with-pg.sh] %s\n' "$*" >&2; }
source "$repo_root/scripts/pg-env.sh"
status=0
"$@" || status=$?
exit "$status"
