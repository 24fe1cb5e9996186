#!/usr/bin/env bash
# Restores a fundsync SQLite ledger from a backup made by sqlite-backup.sh.
#
#   sqlite-restore.sh [--force] BACKUP LEDGER
#
# Stop the node first (systemctl stop fundsync, docker stop …, or scale the
# StatefulSet to 0); the script refuses while any process has LEDGER open.
# It checks BACKUP (PRAGMA integrity_check, and that it belongs to the same
# node as LEDGER), moves the current LEDGER and its -wal/-shm aside to
# LEDGER.before-restore.<time> (a stale -wal must never meet the restored
# file), copies BACKUP into place with the old file's owner and mode, and
# checks the result. Replacing an existing LEDGER needs --force.
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
die() { printf 'sqlite-restore.sh: %s\n' "$*" >&2; exit 1; }

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
backup="${args[0]}"
ledger="${args[1]}"

command -v sqlite3 >/dev/null || die "sqlite3 is not installed (Debian: apt-get install sqlite3)"
[[ -f "$backup" ]] || die "no backup at $backup"
[[ -d "$(dirname -- "$ledger")" ]] || die "no directory $(dirname -- "$ledger")"

identity() { sqlite3 -bail -readonly "$1" "SELECT code || ' ' || name || ' (' || level || ')' FROM node_identity"; }

# 1. The backup is sound and is a fundsync ledger.
check="$(sqlite3 -bail -readonly "$backup" 'PRAGMA integrity_check;' | tail -n 1)" \
    || die "$backup is unreadable or corrupt (PRAGMA integrity_check failed)"
[[ "$check" == ok ]] || die "$backup failed PRAGMA integrity_check: $check"
backup_node="$(identity "$backup")" || die "$backup has no node_identity: not a fundsync ledger"

# 2. Nothing has the ledger open (the node is stopped).
# By inode, so a node in a container (where the path differs) counts too.
in_use() {
    local refs=() f
    for f in "$ledger" "$ledger-wal" "$ledger-shm"; do
        if [[ -e "$f" ]]; then refs+=(-o -samefile "$f"); fi
    done
    ((${#refs[@]})) || return 0
    { find -L /proc/[0-9]*/fd -maxdepth 1 \( -false "${refs[@]}" \) 2>/dev/null || true; } |
        cut -d/ -f3 | sort -u
}
if [[ "$(id -u)" != 0 ]]; then
    printf 'sqlite-restore.sh: warning: not root, so only your own processes are checked for the open ledger\n' >&2
fi
pids="$(in_use)"
if [[ -n "$pids" ]]; then
    die "$ledger is open in process(es) $(echo "$pids" | tr '\n' ' ')- stop the node first"
fi

# 3. Same node, and --force to replace an existing ledger.
if [[ -e "$ledger" ]]; then
    [[ "$force" == 1 ]] || die "$ledger exists; pass --force to replace it with $backup"
    current_node="$(identity "$ledger" 2>/dev/null || true)"
    if [[ -n "$current_node" && "$current_node" != "$backup_node" ]]; then
        die "$backup is the ledger of $backup_node but $ledger belongs to $current_node; refusing"
    fi
fi

umask 077
tmp="$(mktemp "$(dirname -- "$ledger")/.$(basename -- "$ledger").restore.XXXXXX")"
trap 'rm -f -- "$tmp"' EXIT
cp -- "$backup" "$tmp"
if [[ -e "$ledger" ]]; then
    chown --reference="$ledger" -- "$tmp" 2>/dev/null || true
    chmod --reference="$ledger" -- "$tmp"
fi
sync -f "$tmp" 2>/dev/null || sync

# 4. Move the current ledger and its WAL/shared-memory files aside, then swap in.
aside=""
if [[ -e "$ledger" || -e "$ledger-wal" || -e "$ledger-shm" ]]; then
    aside="$ledger.before-restore.$(date -u +%Y%m%dT%H%M%SZ)"
    for suffix in "" -wal -shm; do
        if [[ -e "$ledger$suffix" ]]; then mv -- "$ledger$suffix" "$aside$suffix"; fi
    done
fi
mv -- "$tmp" "$ledger"
trap - EXIT

# 5. The restored ledger opens and is sound.
check="$(sqlite3 -bail -readonly "$ledger" 'PRAGMA integrity_check;' | tail -n 1)"
[[ "$check" == ok ]] || die "restored $ledger failed PRAGMA integrity_check: $check"
entries="$(sqlite3 -bail -readonly "$ledger" 'SELECT count(*) FROM journal')"
printf 'restored %s -> %s: node %s, %s journal entries, integrity_check ok\n' \
    "$backup" "$ledger" "$backup_node" "$entries"
if [[ -n "$aside" ]]; then
    printf 'the previous ledger is kept as %s{,-wal,-shm}; delete it once the node runs\n' "$aside"
fi
printf 'now start the node; it must re-sync with its parent (see deploy/backup/README.md)\n'
