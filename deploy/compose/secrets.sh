#!/usr/bin/env bash
# Makes the secret files docker-compose.yml hands its nodes, once: one
# random password per node for its first administrator,
#
#   deploy/secrets/<service>_admin_password
#
# (region, prefecture-652800, …), each seen inside its own node only, as
# /run/secrets/<service>_admin_password, and read by `fundsync init
# --admin-password-file` at the node's first start. A file that exists is
# kept, so running this again changes nothing; to choose a password, write
# it into the file before the first `docker compose up` (at least 12
# characters, not a common password).
#
# The directory is 0700, not committed (.gitignore), and outside
# deploy/compose, which every node mounts. The files are 0644
# inside it, because compose (without swarm) bind-mounts them as they are
# and the node runs as uid 10001; the directory keeps other local users out.
#
#   bash deploy/compose/secrets.sh [DIR]     (DIR: default deploy/secrets)
set -euo pipefail

dir="${1:-$(dirname "${BASH_SOURCE[0]}")/../secrets}"
services=(region prefecture-652800 prefecture-653100
          county-652822 county-652823 county-653121 county-653122)

log() { printf '[secrets] %s\n' "$*" >&2; }

install -d -m 0700 "$dir"
for svc in "${services[@]}"; do
    f="$dir/${svc}_admin_password"
    if [[ -s "$f" ]]; then
        continue
    fi
    # 24 random bytes as 48 hex characters; no trailing newline.
    (umask 022 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f.tmp")
    chmod 0644 "$f.tmp"
    mv -f "$f.tmp" "$f"
    log "wrote $f"
done
log "administrators' passwords in $dir (one file per node)"
