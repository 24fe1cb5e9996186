#!/usr/bin/env bash
# Runs fundsync: `bash scripts/run.sh [DATA_DIR]`.
#
# Builds the release binary, initialises a prefecture node (巴音郭楞蒙古自治州,
# 652800) with its nine counties registered, on embedded SQLite under DATA_DIR
# (default ./demo-data), and serves its API on http://127.0.0.1:8080 until
# Ctrl-C. Running it again reuses the same ledger.
#
# The three-level demo cluster (region, prefecture, nine counties, syncing over
# mutual TLS) replaces this script once `fundsync demo` exists (issue 4).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-$repo_root/demo-data}"
listen="${FUNDSYNC_LISTEN:-127.0.0.1:8080}"

(cd "$repo_root" && cargo build --release -p fundsync-node --bin fundsync)
bin="$repo_root/target/release/fundsync"
mkdir -p "$data"
cfg="$data/fundsync.toml"

if [[ ! -f "$cfg" ]]; then
    "$bin" init --config "$cfg" --level prefecture --code 652800 --name 巴音郭楞蒙古自治州 \
        --parent-code 650000 --listen "$listen"
    fresh=1
else
    fresh=0
fi

FUNDSYNC_LISTEN="$listen" "$bin" serve --config "$cfg" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM

# Wait until the node answers (bounded), then register the counties once.
deadline=$((SECONDS + 30))
until curl -sf "http://$listen/readyz" >/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
        echo "the node did not become ready" >&2
        exit 1
    fi
    sleep 0.2
done
if [[ "$fresh" == 1 ]]; then
    while read -r code name; do
        curl -sf -X POST "http://$listen/api/v1/nodes" -H 'content-type: application/json' \
            -d "{\"code\":\"$code\",\"name\":\"$name\"}" >/dev/null
    done <<'COUNTIES'
652801 库尔勒市
652822 轮台县
652823 尉犁县
652824 若羌县
652825 且末县
652826 焉耆回族自治县
652827 和静县
652828 和硕县
652829 博湖县
COUNTIES
fi
cat <<MSG

fundsync node 652800 is running on http://$listen  (Ctrl-C stops it)
  curl http://$listen/api/v1/node
  curl http://$listen/api/v1/nodes
  curl 'http://$listen/api/v1/ledger/summary?as_of=2020-12-31&group_by=node'
MSG
wait "$pid"
