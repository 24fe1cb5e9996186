#!/usr/bin/env bash
# Restores a fundsync PostgreSQL ledger from a dump made by postgres-backup.sh.
#
#   postgres-restore.sh [--force] [--url URL | --url-file FILE] BACKUP.dump
#
# The database is given as for postgres-backup.sh (--url, --url-file, else
# $FUNDSYNC_DATABASE_URL_FILE or $FUNDSYNC_DATABASE_URL). Stop the node first:
# the script refuses while other sessions are connected to the database.
# It checks the dump (pg_restore --list), and, when the database already holds
# a ledger, that --force is given, that the ledger is the same node's, and that
# the database has no table the dump lacks (a schema newer than the backup:
# restore into an empty database instead). Then
# pg_restore --clean --if-exists --single-transaction --exit-on-error, so a
# failed restore changes nothing. Connect as the ledger's owner (or a
# superuser): objects keep the owners they had.
#
# It never touches the node's acknowledgement mark (data_dir/acked-own-head):
# left in place, it makes the restored node refuse writes (ledger_restored)
# until it has taken back from its parent what the parent already holds.
#
# Then start the node. The restored ledger is older than what its parent has
# already received: the node must re-sync, and may need re-enrolment (see
# deploy/backup/README.md).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { printf 'postgres-restore.sh: %s\n' "$*" >&2; exit 1; }

force=0
url=""
url_file=""
args=()
while (($#)); do
    case "$1" in
        --force) force=1 ;;
        --url) [[ $# -ge 2 ]] || die "--url needs a value"; url="$2"; shift ;;
        --url-file) [[ $# -ge 2 ]] || die "--url-file needs a value"; url_file="$2"; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) args+=("$1") ;;
    esac
    shift
done
((${#args[@]} == 1)) || { usage >&2; exit 2; }
backup="${args[0]}"

if [[ -z "$url" ]]; then
    url_file="${url_file:-${FUNDSYNC_DATABASE_URL_FILE:-}}"
    if [[ -n "$url_file" ]]; then
        url="$(<"$url_file")" || die "cannot read $url_file"
        url="${url//[$'\r\n']/}"
    else
        url="${FUNDSYNC_DATABASE_URL:-}"
    fi
fi
[[ "$url" == postgres://* || "$url" == postgresql://* ]] \
    || die "give the database as --url postgres://… or --url-file FILE"
re='^(postgres(ql)?://)([^:@/?#]*):([^@/?#]*)@(.*)$'
if [[ "$url" =~ $re ]]; then
    pw="${BASH_REMATCH[4]}"
    url="${BASH_REMATCH[1]}${BASH_REMATCH[3]}@${BASH_REMATCH[5]}"
    PGPASSWORD="$(printf '%b' "${pw//%/\\x}")"
    export PGPASSWORD
fi

for tool in pg_restore psql; do
    command -v "$tool" >/dev/null || die "$tool is not installed (Debian: postgresql-client)"
done
[[ -f "$backup" ]] || die "no backup at $backup"

# 1. The dump is readable and holds a ledger.
toc="$(pg_restore --list "$backup")" || die "pg_restore --list cannot read $backup"
for table in journal node_identity; do
    grep -Eq "TABLE DATA [^ ]+ $table " <<<"$toc" \
        || die "$backup has no data for table $table: not a fundsync ledger dump"
done
backup_code="$(pg_restore --data-only --table=node_identity --file=- "$backup" |
    awk -F'\t' '/^COPY .*node_identity/ { getline; print $2; exit }')"
[[ -n "$backup_code" ]] || die "$backup has no node identity row"

sql() { psql --no-password -X -q -A -t -v ON_ERROR_STOP=1 --dbname="$url" -c "$1"; }

# 2. Nobody else is connected (the node is stopped).
others="$(sql "SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND backend_type = 'client backend'")" || die "cannot connect to $url"
if ((others > 0)); then
    sql "SELECT '  pid ' || pid || ' ' || usename || ' from ' || coalesce(client_addr::text, 'local')
                || ' (' || coalesce(nullif(application_name, ''), '?') || ')'
         FROM pg_stat_activity WHERE datname = current_database()
           AND pid <> pg_backend_pid() AND backend_type = 'client backend'" >&2
    die "$others other session(s) are connected: stop the node first"
fi

# 3. An existing ledger: --force, the same node, no table the dump lacks.
if [[ "$(sql "SELECT to_regclass('node_identity') IS NOT NULL")" == t ]]; then
    [[ "$force" == 1 ]] || die "the database already holds a ledger; pass --force to replace it"
    current_code="$(sql "SELECT code FROM node_identity WHERE id = 1")"
    if [[ -n "$current_code" && "$current_code" != "$backup_code" ]]; then
        die "$backup is the ledger of node $backup_code but the database belongs to node $current_code; refusing"
    fi
    dump_tables="$(awk '$4 == "TABLE" && $5 != "DATA" { print $5 "." $6 }' <<<"$toc" | sort -u)"
    extra="$(sql "SELECT schemaname || '.' || tablename FROM pg_tables
                  WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" |
        sort -u | comm -23 - <(printf '%s\n' "$dump_tables"))"
    if [[ -n "$extra" ]]; then
        die "the database has tables the dump lacks (a newer schema?): $(echo "$extra" | tr '\n' ' ')- restore into an empty database"
    fi
fi

# 4. All or nothing.
pg_restore --no-password --clean --if-exists --single-transaction --exit-on-error \
    --dbname="$url" "$backup" || die "pg_restore failed; the database is unchanged"

entries="$(sql "SELECT count(*) FROM journal")"
printf 'restored %s -> %s: node %s, %s journal entries\n' "$backup" "$url" "$backup_code" "$entries"
printf 'now start the node; it must re-sync with its parent (see deploy/backup/README.md)\n'
