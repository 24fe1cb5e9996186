#!/usr/bin/env bash
# Entrypoint of fundsync/postgres:15, after the official postgres image's:
# on first start (no $PGDATA/PG_VERSION) it runs initdb with POSTGRES_USER
# (default postgres) and POSTGRES_PASSWORD, creates POSTGRES_DB (default: the
# user's name), runs /docker-entrypoint-initdb.d/*.sql and *.sh once, then runs
# the server listening on all addresses with scram-sha-256 password auth.
# Each of the three variables may come from a file: POSTGRES_PASSWORD_FILE etc.
# POSTGRES_INITDB_ARGS adds initdb flags; POSTGRES_HOST_AUTH_METHOD=trust
# allows no password (tests only). `docker run IMAGE -c fsync=off …` passes
# server flags, and the first start's log has the official image's shape (the
# setup server on stdout, the real one on stderr) that testcontainers' wait
# condition relies on (tests/src/pg.rs).
set -euo pipefail

log() { printf '[entrypoint] %s\n' "$*" >&2; }

# VAR from VAR or VAR_FILE (Docker/Kubernetes secrets), else DEFAULT.
file_env() {
    local var="$1" file_var="$1_FILE" default="${2:-}" value
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        log "both $var and $file_var are set; set one"
        exit 1
    fi
    value="$default"
    if [[ -n "${!var:-}" ]]; then
        value="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        value="$(<"${!file_var}")"
    fi
    export "$var=$value"
    unset "$file_var"
}

# `docker run IMAGE -c foo=bar` means postgres flags.
if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi
# Anything else (psql, bash, pg_dump …) runs as given.
if [[ "${1:-}" != postgres ]]; then
    exec "$@"
fi

# Read the *_FILE secrets now, while still root if started as root (a secret
# file may be readable by root only); the values pass on in the environment.
file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"

# As root: hand the data directory to postgres, then carry on as postgres.
if [[ "$(id -u)" == 0 ]]; then
    install -d -m 0700 "$PGDATA"
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 0700 "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME=/var/lib/postgresql "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [[ -z "$POSTGRES_PASSWORD" && "$auth" != trust ]]; then
        log "the database is not initialised and no password is set:"
        log "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE"
        log "(or POSTGRES_HOST_AUTH_METHOD=trust to allow anyone in; never in production)"
        exit 1
    fi

    log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
    pwfile=()
    if [[ -n "$POSTGRES_PASSWORD" ]]; then
        tmp="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" >"$tmp"
        pwfile=(--pwfile="$tmp")
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags
    initdb -D "$PGDATA" --username="$POSTGRES_USER" "${pwfile[@]}" \
        --auth-local=trust --auth-host="$auth" --encoding=UTF8 --locale=C.UTF-8 \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    if [[ -n "$POSTGRES_PASSWORD" ]]; then rm -f "$tmp"; fi
    printf '\n# fundsync/postgres entrypoint: any address, password required\nhost all all all %s\n' \
        "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\n# fundsync/postgres entrypoint\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # A private server on the socket only while the database is set up, with
    # the flags the real one gets. As in the official image its log goes to
    # stdout, the real server's to stderr: testcontainers' postgres module waits
    # for "database system is ready to accept connections" on both streams.
    setup_opts="-c listen_addresses=''"
    if (($# > 1)); then setup_opts="$(printf '%q ' "${@:2}")$setup_opts"; fi
    pg_ctl -D "$PGDATA" -o "$setup_opts" -w -t 60 start
    psql=(psql -X -v ON_ERROR_STOP=1 --no-password --username "$POSTGRES_USER" --dbname postgres)
    if [[ "$POSTGRES_DB" != postgres ]]; then
        "${psql[@]}" -q -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sh) log "running $f"; bash "$f" ;;
            *) log "ignoring $f" ;;
        esac
    done
    shopt -u nullglob
    pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "initialised; starting the server"
fi
unset POSTGRES_PASSWORD

shift
exec postgres -D "$PGDATA" "$@"
