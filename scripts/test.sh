#!/usr/bin/env bash
# The one test command for fundsync: `bash scripts/test.sh [extra args]`.
#
# Integration tests need a real PostgreSQL. Rather than depend on whatever server
# a machine may or may not have running, this starts a private, throwaway one for
# the duration of the run and deletes it afterwards, so the same command works on
# a developer's machine, on a fresh machine and in CI.
#
# Extra arguments go to the test runner, e.g. `bash scripts/test.sh -p fundsync-node`
# or a test-name filter.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf '[test.sh] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# 0. Chromium and CJK fonts: the web test (tests/tests/web.rs) renders the
#    pages in a real headless browser and fails without one.
# ---------------------------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        log "installing Chromium and CJK fonts from Debian's packages"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
    else
        log "Chromium or CJK fonts missing; the web test will fail."
        log "install them with: sudo apt-get install chromium fonts-noto-cjk"
    fi
fi

source "$repo_root/scripts/pg-env.sh"

# ---------------------------------------------------------------------------
# 3. The tests.
# ---------------------------------------------------------------------------
# Cargo silently ignores -p when --workspace is also given, so --workspace is only
# added when the caller did not choose packages. Package selection is collected
# separately because the doctest run must not receive nextest-only arguments.
scope=(--workspace)
pkg_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        -p | --package | --exclude)
            scope=()
            pkg_args+=("${args[i]}" "${args[i + 1]:-}")
            i=$((i + 1))
            ;;
        -p?* | --package=* | --exclude=* | --workspace | --all)
            scope=()
            pkg_args+=("${args[i]}")
            ;;
    esac
done
# --exclude only makes sense together with --workspace.
if [[ ${#scope[@]} == 0 && " ${pkg_args[*]} " == *" --exclude"* ]]; then
    scope=(--workspace)
fi

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # nextest runs each test in its own process (isolation, parallelism) but does
    # not run doctests. Doctests go first so that nextest's summary is the last
    # thing printed: it is the line that says how many tests ran.
    log "cargo test --doc ${scope[*]} ${pkg_args[*]}"
    cargo test --doc "${scope[@]}" "${pkg_args[@]}" || status=$?
    log "cargo nextest run ${scope[*]} $*"
    cargo nextest run "${scope[@]}" "$@" || { rc=$?; ((status)) || status=$rc; }
else
    log "cargo-nextest not found; falling back to cargo test"
    cargo test --doc "${scope[@]}" "${pkg_args[@]}" || status=$?
    cargo test "${scope[@]}" --all-targets "$@" || { rc=$?; ((status)) || status=$rc; }
fi

if ((status)); then
    log "tests FAILED (exit $status)"
fi
exit "$status"
