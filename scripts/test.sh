#!/usr/bin/env bash
# The one test command for fundsync: `bash scripts/test.sh [extra args]`.
#
# Integration tests need a real PostgreSQL. The tests start it themselves with
# testcontainers (tests/src/pg.rs): one container for the whole run, shared by
# every test process, from the image in FUNDSYNC_TEST_PG_IMAGE. This script
# makes sure that image exists (fundsync/postgres:15, built here from Debian's
# packages by deploy/images.sh --postgres-only, nothing pulled), names the run
# so its processes find one container, and removes that container when the run
# ends, however it ends; leftovers of runs that were killed are removed first.
#
#   FUNDSYNC_TEST_PG_IMAGE=postgres:15   use the official image instead (pulled)
#   FUNDSYNC_TEST_PG_URL=postgres://...  use that server; no container at all
#
# Extra arguments go to the test runner, e.g. `bash scripts/test.sh -p fundsync-node`
# or a test-name filter.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf '[test.sh] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# 0. Chromium, its WebDriver and CJK fonts: the web tests (tests/tests/it/web.rs,
#    access.rs) drive the pages in a real headless browser through
#    chromedriver and fail without them.
# ---------------------------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
    || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        log "installing Chromium, chromedriver and CJK fonts from Debian's packages"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-cjk
    else
        log "Chromium, chromedriver or CJK fonts missing; the web tests will fail."
        log "install them with: sudo apt-get install chromium chromium-driver fonts-noto-cjk"
    fi
fi

# ---------------------------------------------------------------------------
# 1. PostgreSQL: the image, Docker, and a name for this run's container.
# ---------------------------------------------------------------------------
pg_label=fundsync.test-pg.run
run_id=""
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$run_id" ]]; then
        remove_containers "label=$pg_label=$run_id"
        rm -f "${TMPDIR:-/tmp}/fundsync-test-pg-$run_id.lock"
    fi
    exit "$rc"
}
# Removes the containers matching a `docker ps` filter, with their volumes.
remove_containers() {
    local ids
    ids="$(docker ps -aq --filter "$1")"
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086 # one id per word
        docker rm -f -v $ids >/dev/null || log "warning: could not remove containers $ids"
    fi
}
# Containers of earlier runs on this machine whose owner process is gone (a
# run killed before its EXIT trap): remove them. A live owner's are left alone,
# whoever runs it.
remove_leftovers() {
    local host id owner owner_host run
    host="$(cat /proc/sys/kernel/hostname 2>/dev/null || true)"
    [[ -n "$host" ]] || return 0
    for id in $(docker ps -aq --filter "label=$pg_label"); do
        owner="$(docker inspect -f '{{index .Config.Labels "fundsync.test-pg.owner-pid"}}' "$id" 2>/dev/null)"
        owner_host="$(docker inspect -f '{{index .Config.Labels "fundsync.test-pg.host"}}' "$id" 2>/dev/null)"
        if [[ "$owner_host" == "$host" && "$owner" =~ ^[0-9]+$ && ! -d "/proc/$owner" ]]; then
            log "removing leftover test container $id (its run, pid $owner, is gone)"
            run="$(docker inspect -f "{{index .Config.Labels \"$pg_label\"}}" "$id" 2>/dev/null)"
            docker rm -f -v "$id" >/dev/null || true
            if [[ "$run" =~ ^[A-Za-z0-9._-]+$ ]]; then
                rm -f "${TMPDIR:-/tmp}/fundsync-test-pg-$run.lock"
            fi
        fi
    done
}

if [[ -n "${FUNDSYNC_TEST_PG_URL:-}" ]]; then
    log "PostgreSQL: the server in FUNDSYNC_TEST_PG_URL (no container)"
else
    if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
        log "error: the PostgreSQL tests start PostgreSQL in a container, and Docker is not"
        log "reachable (is it installed and its daemon running?). Or point FUNDSYNC_TEST_PG_URL"
        log "at a PostgreSQL server (scripts/with-pg.sh starts one from Debian's packages)."
        exit 1
    fi
    if [[ -z "${FUNDSYNC_TEST_PG_IMAGE:-}" ]]; then
        # Builds once (debootstrap and Debian's postgresql: a few minutes),
        # then takes a fraction of a second.
        if [[ "$(id -u)" == 0 ]]; then
            bash "$repo_root/deploy/images.sh" --postgres-only >&2
        elif sudo -n true 2>/dev/null; then
            sudo --preserve-env=PATH bash "$repo_root/deploy/images.sh" --postgres-only >&2
        elif ! docker image inspect fundsync/postgres:15 >/dev/null 2>&1; then
            log "error: no image fundsync/postgres:15 and no root to build it. Either build it:"
            log "    sudo bash deploy/images.sh --postgres-only"
            log "or use the official image (Docker pulls it): FUNDSYNC_TEST_PG_IMAGE=postgres:15"
            exit 1
        fi
        export FUNDSYNC_TEST_PG_IMAGE=fundsync/postgres:15
    fi
    trap cleanup EXIT
    # Turn Ctrl-C / kill into a normal exit so the EXIT trap always cleans up.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    remove_leftovers
    run_id="sh-$$-$(date +%s)"
    export FUNDSYNC_TEST_RUN_ID="$run_id" FUNDSYNC_TEST_RUN_PID=$$
    log "PostgreSQL: one container for this run, image $FUNDSYNC_TEST_PG_IMAGE (FUNDSYNC_TEST_RUN_ID=$run_id)"
fi

# ---------------------------------------------------------------------------
# 2. The tests.
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
