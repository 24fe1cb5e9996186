#!/usr/bin/env bash
# Runs fundsync: `bash scripts/run.sh [DATA_DIR] [--check]`.
#
# Builds the release binary and starts the 2020 demo cluster: the region
# (650000), the Bayingol prefecture (652800) and its nine counties, each a
# real node with its own SQLite ledger under DATA_DIR (default ./demo-data),
# enrolled with one-time tokens and syncing over mutual TLS on loopback. It
# replays seed 002's 2020 history and serves every node's API until Ctrl-C:
# the region on http://127.0.0.1:8080, the prefecture on :8081, the counties
# on :8082-8090 (FUNDSYNC_DEMO_PORT_BASE moves them). Run it again and it
# resumes on the same ledgers without recording anything twice.
#
# The region's public pages (公告公示, no sign-in) are on
# http://127.0.0.1:8080/public.
#
# `--check` reconciles the region's figures with seed 002 and its public
# pages with its ledger and the generated self-evaluation report with seed 002
# (161 figures), prints the table and exits 0 only if
# every figure matches.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$repo_root/demo-data"
extra=()
for arg in "$@"; do
    case "$arg" in
        --check) extra+=(--check) ;;
        *) data="$arg" ;;
    esac
done

(cd "$repo_root" && cargo build --release -p fundsync --bin fundsync)
exec "$repo_root/target/release/fundsync" demo --dir "$data" \
    --port-base "${FUNDSYNC_DEMO_PORT_BASE:-8080}" "${extra[@]}"
