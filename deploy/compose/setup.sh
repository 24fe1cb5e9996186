#!/usr/bin/env bash
# One-shot set-up of docker-compose.yml, run as root before anything else
# (service `setup`); every step is skipped once done.
#
#   /secrets/pg-password            a random PostgreSQL password (root, 0400),
#                                   read by the postgres entrypoint as
#                                   POSTGRES_PASSWORD_FILE
#   /secrets/region-database-url    postgres://fundsync:<password>@postgres:5432/fundsync
#                                   (uid 10001, 0400), the region's
#                                   FUNDSYNC_DATABASE_URL_FILE
#   /enroll                         the shared token directory (uid 10001, 0700)
#
# To choose the password yourself, write it into the volume's pg-password
# before the first `up` (the URL is derived from it; hex or URL-safe
# characters only, or percent-encode it in region-database-url yourself).
set -euo pipefail
umask 077

log() { printf '[setup] %s\n' "$*" >&2; }

install -d -o 10001 -g 10001 -m 0700 /enroll

if [[ ! -s /secrets/pg-password ]]; then
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >/secrets/.pg-password.tmp
    printf '\n' >>/secrets/.pg-password.tmp
    chmod 0400 /secrets/.pg-password.tmp
    mv -f /secrets/.pg-password.tmp /secrets/pg-password
    log "generated the PostgreSQL password"
fi
if [[ ! -s /secrets/region-database-url ]]; then
    printf 'postgres://fundsync:%s@postgres:5432/fundsync\n' "$(</secrets/pg-password)" \
        >/secrets/.region-database-url.tmp
    chown 10001:10001 /secrets/.region-database-url.tmp
    chmod 0400 /secrets/.region-database-url.tmp
    mv -f /secrets/.region-database-url.tmp /secrets/region-database-url
    log "wrote the region's database URL"
fi
log "done"
