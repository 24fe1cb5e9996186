#!/usr/bin/env bash
# Container-level cluster test: builds the images (deploy/images.sh: the
# Debian base and PostgreSQL images once, the node image from this working
# tree every time, cached when unchanged), then runs cluster_test.py against
# docker-compose.yml under a project name of its own, and removes the
# project's containers, networks and volumes when done, failed or interrupted.
#
#   bash tests/containers/run.sh
#
# Accounts: docker-compose.yml gives each node's first administrator a
# password from deploy/secrets/<service>_admin_password (compose `secrets:`),
# made here by deploy/compose/secrets.sh when missing; cluster_test.py then
# makes a test user and an API token at every node with `fundsync user add`
# and `fundsync token create` (inside the containers) and sends the token on
# every API call. FUNDSYNC_IT_AUTH=0 skips the user and token (an image from
# before accounts).
#
# Environment: FUNDSYNC_IT_SKIP_IMAGES=1 uses the images as they are;
# FUNDSYNC_IT_KEEP=1 leaves the cluster up afterwards (then remove it with
# the `down -v` command it prints). Needs root (or sudo) for deploy/images.sh,
# a running Docker daemon, docker compose or docker-compose, and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log() { printf '[containers] %s\n' "$*" >&2; }

export FUNDSYNC_IT_PROJECT="${FUNDSYNC_IT_PROJECT:-fundsync-it-$$}"

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    log "error: neither 'docker compose' nor 'docker-compose' is installed"
    exit 1
fi

# Even if python is killed: the project's containers, networks and volumes go.
cleanup() {
    local rc=$?
    if [[ "${FUNDSYNC_IT_KEEP:-0}" != 1 ]]; then
        "${compose[@]}" -p "$FUNDSYNC_IT_PROJECT" -f docker-compose.yml \
            -f tests/containers/compose.test.yml down -v --remove-orphans --timeout 10 \
            >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ "${FUNDSYNC_IT_SKIP_IMAGES:-0}" != 1 ]]; then
    start=$SECONDS
    if [[ "$(id -u)" == 0 ]]; then
        bash deploy/images.sh
    elif command -v sudo >/dev/null; then
        sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME bash deploy/images.sh
    else
        log "error: deploy/images.sh needs root (debootstrap), and there is no sudo"
        exit 1
    fi
    log "images ready in $((SECONDS - start))s"
fi

# The administrators' password files compose mounts as secrets (kept if
# present; deploy/secrets/ is not committed).
bash deploy/compose/secrets.sh

# In the background, so that a TERM or INT reaches the test at once, passed on
# as TERM (an asynchronous child ignores INT). The test tears the cluster down
# itself; the EXIT trap above makes sure.
python3 tests/containers/cluster_test.py &
test_pid=$!
trap 'kill -TERM "$test_pid" 2>/dev/null || true; wait "$test_pid" || true; exit 143' TERM
trap 'kill -TERM "$test_pid" 2>/dev/null || true; wait "$test_pid" || true; exit 130' INT
wait "$test_pid"
