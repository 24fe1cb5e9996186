#!/usr/bin/env bash
# Online backup of a fundsync SQLite ledger, safe while the node runs.
#
#   sqlite-backup.sh [--force] LEDGER BACKUP
#
# LEDGER is the node's ledger.sqlite (data_dir/ledger.sqlite), BACKUP the file
# to write. sqlite3's .backup copies a consistent snapshot of the database,
# committed WAL content included, while the node keeps writing (WAL readers
# do not block the writer). The copy is written beside BACKUP, checked with
# PRAGMA integrity_check, turned into a self-contained single file
# (journal_mode=DELETE) and only then renamed to BACKUP. An existing BACKUP is
# replaced only with --force. Needs the sqlite3 command (Debian: sqlite3).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { printf 'sqlite-backup.sh: %s\n' "$*" >&2; exit 1; }

force=0
args=()
while (($#)); do
    case "$1" in
        --force) force=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) args+=("$1") ;;
    esac
    shift
done
((${#args[@]} == 2)) || { usage >&2; exit 2; }
ledger="${args[0]}"
backup="${args[1]}"

command -v sqlite3 >/dev/null || die "sqlite3 is not installed (Debian: apt-get install sqlite3)"
# sqlite3 would create an empty database for a missing path.
[[ -f "$ledger" ]] || die "no ledger at $ledger"
if [[ -e "$backup" && "$force" != 1 ]]; then
    die "$backup exists; pass --force to replace it"
fi

umask 077
tmp="$(mktemp "$(dirname -- "$backup")/.$(basename -- "$backup").XXXXXX")"
trap 'rm -f -- "$tmp" "$tmp-journal"' EXIT

# The dot-command takes the path in single quotes, which it cannot escape.
[[ "$tmp" != *"'"* ]] || die "the backup path may not contain a single quote"
# Wait up to 60 s for a lock instead of failing at once; -bail stops at the
# first error. The node's ledger is opened read-only.
sqlite3 -bail -readonly "$ledger" ".timeout 60000" ".backup '$tmp'" >/dev/null \
    || die "sqlite3 .backup of $ledger failed"

check="$(sqlite3 -bail "$tmp" 'PRAGMA journal_mode=DELETE;' 'PRAGMA integrity_check;' | tail -n 1)"
[[ "$check" == ok ]] || die "the copy failed PRAGMA integrity_check: $check"
node="$(sqlite3 -bail "$tmp" "SELECT code || ' ' || name || ' (' || level || ')' FROM node_identity")" \
    || die "the copy has no node_identity table: is $ledger a fundsync ledger?"
entries="$(sqlite3 -bail "$tmp" 'SELECT count(*) FROM journal')"

sync -f "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$backup"
trap - EXIT
printf 'backed up %s -> %s: node %s, %s journal entries, integrity_check ok, %s bytes\n' \
    "$ledger" "$backup" "$node" "$entries" "$(stat -c %s -- "$backup")"
