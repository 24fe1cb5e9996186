#!/usr/bin/env bash
# Backup of a fundsync PostgreSQL ledger with pg_dump, safe while the node runs.
#
#   postgres-backup.sh [--force] [--url URL | --url-file FILE] BACKUP.dump
#
# The database is the node's: --url postgres://USER:PASSWORD@HOST:PORT/DB,
# or --url-file naming a file that holds it (like database_url_file), else
# $FUNDSYNC_DATABASE_URL_FILE or $FUNDSYNC_DATABASE_URL as the node would read
# them. The password is handed to pg_dump through PGPASSWORD, never on its
# command line. pg_dump -Fc takes one consistent snapshot while the node keeps
# writing. The dump is written beside BACKUP.dump, checked with
# pg_restore --list (it must hold the journal and node_identity), and only then
# renamed to BACKUP.dump; an existing one is replaced only with --force.
# pg_dump must be of the server's major version or newer (Debian:
# postgresql-client-15).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { printf 'postgres-backup.sh: %s\n' "$*" >&2; exit 1; }

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

# The database URL, as the node finds it.
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
# Take the password out of the URL: into PGPASSWORD, off every command line.
re='^(postgres(ql)?://)([^:@/?#]*):([^@/?#]*)@(.*)$'
if [[ "$url" =~ $re ]]; then
    pw="${BASH_REMATCH[4]}"
    url="${BASH_REMATCH[1]}${BASH_REMATCH[3]}@${BASH_REMATCH[5]}"
    PGPASSWORD="$(printf '%b' "${pw//%/\\x}")"
    export PGPASSWORD
fi

command -v pg_dump >/dev/null || die "pg_dump is not installed (Debian: postgresql-client)"
if [[ -e "$backup" && "$force" != 1 ]]; then
    die "$backup exists; pass --force to replace it"
fi

umask 077
tmp="$(mktemp "$(dirname -- "$backup")/.$(basename -- "$backup").XXXXXX")"
trap 'rm -f -- "$tmp"' EXIT

pg_dump --no-password --format=custom --file="$tmp" --dbname="$url" \
    || die "pg_dump failed"

# The dump is readable and holds the ledger.
toc="$(pg_restore --list "$tmp")" || die "pg_restore --list cannot read the dump"
for table in journal node_identity; do
    grep -Eq "TABLE DATA [^ ]+ $table " <<<"$toc" \
        || die "the dump has no data for table $table: is this a fundsync ledger?"
done
node="$(pg_restore --data-only --table=node_identity --file=- "$tmp" |
    awk -F'\t' '/^COPY .*node_identity/ { getline; print $2 " " $3 " (" $4 ")"; exit }')"

sync -f "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$backup"
trap - EXIT
printf 'backed up %s -> %s: node %s, %s TOC entries, pg_restore --list ok, %s bytes\n' \
    "$url" "$backup" "${node:-?}" "$(grep -cv '^;' <<<"$toc")" "$(stat -c %s -- "$backup")"
