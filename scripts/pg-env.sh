# Sourced by scripts/with-pg.sh (the benchmarks; the tests start PostgreSQL in a
# container instead, see scripts/test.sh): installs PostgreSQL from
# Debian's packages if missing, starts a private throwaway server reachable only
# through a unix socket in a temp dir, exports FUNDSYNC_TEST_PG_URL, and stops
# and deletes it on exit (an EXIT trap).
#
# Expects `set -euo pipefail` and the function `log` from the caller.

is_root() { [[ "$(id -u)" == 0 ]]; }

# Debian keeps the server binaries (initdb, pg_ctl, postgres) out of PATH, under a
# versioned directory; pick the newest if several are installed.
find_pg_bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/postgres" ]]; then
        printf '%s\n' "$d"
    fi
}

# ---------------------------------------------------------------------------
# 1. PostgreSQL server binaries: a fresh machine may have only the client, so
#    install the server from Debian's packages if it is missing.
# ---------------------------------------------------------------------------
pg_bin="$(find_pg_bindir)"
if [[ -z "$pg_bin" ]]; then
    if ! is_root; then
        log "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin;"
        log "install them with: sudo apt-get install postgresql"
        exit 1
    fi
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
    pg_bin="$(find_pg_bindir)"
    if [[ -z "$pg_bin" ]]; then
        log "PostgreSQL was installed but no initdb/postgres under /usr/lib/postgresql/*/bin"
        exit 1
    fi
fi
log "using PostgreSQL from $pg_bin ($("$pg_bin/postgres" --version))"

# ---------------------------------------------------------------------------
# 2. A throwaway server in a temp dir, reachable only through a unix socket in
#    that dir: no TCP port means no clash with another run or another server.
# ---------------------------------------------------------------------------
pg_tmp=""
pg_started=0
cleanup() {
    local rc=$?
    set +e
    if [[ "$pg_started" == 1 ]]; then
        # immediate: the data is about to be deleted, no need for a clean checkpoint.
        as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
            || log "warning: could not stop the throwaway PostgreSQL (data dir $pg_data)"
    fi
    if [[ -n "$pg_tmp" ]]; then rm -rf "$pg_tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
# Turn Ctrl-C / kill into a normal exit so the EXIT trap always cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM

# /tmp rather than $TMPDIR: a unix socket path must fit in ~107 bytes, and
# "<dir>/.s.PGSQL.5432" under a deep $TMPDIR may not.
pg_tmp="$(mktemp -d /tmp/fundsync-pg.XXXXXX)"
pg_data="$pg_tmp/data"
pg_log="$pg_tmp/postgres.log"

# PostgreSQL refuses to run as root, so as root everything server-side runs as
# the `postgres` system user, which must own the temp dir. Root can still reach
# the socket, so the tests themselves run as the invoking user.
if is_root; then
    if ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    chown postgres: "$pg_tmp"
    as_pg() { (cd "$pg_tmp" && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd "$pg_tmp" && "$@"); }
fi

# C.UTF-8 gives UTF-8 text semantics with byte-order collation (stable, fast);
# minimal images may lack it, and plain C is still correct for tests.
locale=C
if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    locale=C.UTF-8
fi

log "initdb in $pg_data (locale $locale)"
if ! as_pg "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres \
        --encoding=UTF8 --locale="$locale" >"$pg_tmp/initdb.log" 2>&1; then
    cat "$pg_tmp/initdb.log" >&2
    log "initdb failed"
    exit 1
fi

# max_connections is raised because tests run in parallel and each may open a
# pool. Durability is off for tests (the data is thrown away) but kept on when
# FUNDSYNC_PG_DURABLE=1, as benchmarks need for a fair comparison.
cat >>"$pg_data/postgresql.conf" <<CONF

# --- fundsync scripts/pg-env.sh: throwaway server ---
listen_addresses = ''
unix_socket_directories = '$pg_tmp'
max_connections = 200
shared_buffers = 256MB
CONF
if [[ "${FUNDSYNC_PG_DURABLE:-0}" != 1 ]]; then
    printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$pg_data/postgresql.conf"
fi

# -W: don't let pg_ctl wait; readiness is checked below with pg_isready so that
# a server that dies on start is reported with its log instead of a timeout.
as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -W start >/dev/null
pg_started=1

deadline=$((SECONDS + 60))
until "$pg_bin/pg_isready" -q -h "$pg_tmp" -U postgres; do
    if ((SECONDS >= deadline)); then
        log "PostgreSQL did not become ready within 60s; its log:"
        cat "$pg_log" >&2 || true
        exit 1
    fi
    sleep 0.2
done

# Check the server accepts real queries, not just connections.
"$pg_bin/psql" "host=$pg_tmp user=postgres dbname=postgres" -XqAt -v ON_ERROR_STOP=1 \
    -c 'select 1' >/dev/null

# sqlx takes a unix-socket directory through the `host` query parameter.
export FUNDSYNC_TEST_PG_URL="postgres://postgres@localhost/postgres?host=$pg_tmp"
log "PostgreSQL ready: FUNDSYNC_TEST_PG_URL=$FUNDSYNC_TEST_PG_URL"

