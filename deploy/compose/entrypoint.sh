#!/usr/bin/env bash
# Entrypoint of a fundsync node in docker-compose.yml: sets the node up on its
# first start, then runs `fundsync serve`. Every step is skipped once done, so
# a restart (or a second `docker compose up`) goes straight to `serve`.
#
#   1. init    `fundsync init` from FUNDSYNC_LEVEL, FUNDSYNC_CODE, FUNDSYNC_NAME,
#              FUNDSYNC_PARENT_CODE, FUNDSYNC_PARENT_URL (and, on PostgreSQL,
#              FUNDSYNC_DATABASE_URL_FILE), unless the configuration exists.
#              The database URL is removed from the written configuration:
#              its password stays in its file. The first administrator's
#              password comes from FUNDSYNC_ADMIN_PASSWORD_FILE (a compose
#              secret, /run/secrets/<service>_admin_password, made by
#              deploy/compose/secrets.sh): `init --admin-password-file`.
#   2. join    a prefecture or county without certificates waits (at most
#              FUNDSYNC_JOIN_WAIT_S seconds, default 300) for its one-time token
#              ENROLL_DIR/<code>.token and for its parent's sync port, runs
#              `fundsync join`, deletes the token and leaves <code>.joined.
#   3. enroll  a node with children (FUNDSYNC_CHILDREN="<code>:<name> …", names
#              without spaces) writes a one-time token ENROLL_DIR/<code>.token
#              (mode 0600) for each child that has neither joined nor a token
#              younger than 23 h (tokens last 24 h).
#   4. serve   exec fundsync serve.
#
# ENROLL_DIR (FUNDSYNC_ENROLL_DIR, default /enroll) is a volume shared by the
# nodes of this one-machine cluster. Between real bureaus there is no shared
# disk: a person carries the token from `fundsync enroll` to `fundsync join`.
set -euo pipefail

code="${FUNDSYNC_CODE:?set FUNDSYNC_CODE}"
level="${FUNDSYNC_LEVEL:?set FUNDSYNC_LEVEL}"
name="${FUNDSYNC_NAME:?set FUNDSYNC_NAME}"
data=/var/lib/fundsync
config="${FUNDSYNC_CONFIG:-$data/fundsync.toml}"
enroll_dir="${FUNDSYNC_ENROLL_DIR:-/enroll}"
join_wait_s="${FUNDSYNC_JOIN_WAIT_S:-300}"
export FUNDSYNC_CONFIG="$config"

log() { printf '[entrypoint %s] %s\n' "$code" "$*" >&2; }
die() { log "error: $*"; exit 1; }

umask 077

# ---------------------------------------------------------------------------
# 1. init
# ---------------------------------------------------------------------------
if [[ -f "$config" ]]; then
    log "already initialised ($config)"
else
    args=(--level "$level" --code "$code" --name "$name" --data-dir "$data"
          --listen "${FUNDSYNC_LISTEN:-0.0.0.0:8080}" --config "$config.new")
    if [[ -n "${FUNDSYNC_PARENT_CODE:-}" ]]; then
        args+=(--parent-code "$FUNDSYNC_PARENT_CODE")
    fi
    if [[ -n "${FUNDSYNC_PARENT_URL:-}" ]]; then
        args+=(--parent-url "$FUNDSYNC_PARENT_URL")
    fi
    if [[ -n "${FUNDSYNC_DATABASE_URL_FILE:-}" ]]; then
        [[ -r "$FUNDSYNC_DATABASE_URL_FILE" ]] || die "cannot read $FUNDSYNC_DATABASE_URL_FILE"
        # The configuration names the file; the password stays in it.
        args+=(--database-url-file "$FUNDSYNC_DATABASE_URL_FILE")
    fi
    if [[ -n "${FUNDSYNC_SYNC_LISTEN:-}" ]]; then
        args+=(--sync-listen "$FUNDSYNC_SYNC_LISTEN")
    fi
    if [[ -n "${FUNDSYNC_ADMIN_PASSWORD_FILE:-}" ]]; then
        [[ -r "$FUNDSYNC_ADMIN_PASSWORD_FILE" ]] ||
            die "cannot read $FUNDSYNC_ADMIN_PASSWORD_FILE (run deploy/compose/secrets.sh before the first up)"
        # The password stays in its file; init hashes it (argon2id).
        args+=(--admin-password-file "$FUNDSYNC_ADMIN_PASSWORD_FILE")
    fi
    # A half-finished earlier attempt left at most $config.new behind; init
    # itself is idempotent for the same identity.
    rm -f "$config.new"
    fundsync init "${args[@]}" >/dev/null
    mv "$config.new" "$config"
    log "initialised $code ($level)"
    if [[ -n "${FUNDSYNC_ADMIN_PASSWORD_FILE:-}" ]]; then
        log "first administrator's password: the one in $FUNDSYNC_ADMIN_PASSWORD_FILE"
    fi
fi

# ---------------------------------------------------------------------------
# 2. join the parent
# ---------------------------------------------------------------------------
# The parent's host and port from https://host[:port][/…].
parent_host_port() {
    local rest="${FUNDSYNC_PARENT_URL#*://}"
    rest="${rest%%/*}"
    if [[ "$rest" == *:* ]]; then
        printf '%s %s\n' "${rest%:*}" "${rest##*:}"
    else
        printf '%s 443\n' "$rest"
    fi
}

if [[ "$level" != region && ! -f "$data/tls/node.chain.pem" ]]; then
    [[ -n "${FUNDSYNC_PARENT_URL:-}" ]] || die "set FUNDSYNC_PARENT_URL"
    read -r phost pport < <(parent_host_port)
    token_file="$enroll_dir/$code.token"
    deadline=$((SECONDS + join_wait_s))
    log "waiting for $token_file and the parent at $phost:$pport (at most ${join_wait_s}s)"
    joined=0
    while ((SECONDS < deadline)); do
        # shellcheck disable=SC2016 # $1 and $2 are the inner shell's
        if [[ -s "$token_file" ]] &&
            timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$phost" "$pport" 2>/dev/null; then
            if FUNDSYNC_JOIN_TOKEN="$(<"$token_file")" fundsync join >/dev/null; then
                joined=1
                break
            fi
            log "join failed; trying again"
        fi
        sleep 2
    done
    ((joined)) || die "not joined after ${join_wait_s}s: no token in $token_file, parent unreachable, or token refused (a parent re-issues a token at its next start)"
    rm -f "$token_file"
    : >"$enroll_dir/$code.joined"
    log "joined the parent at $FUNDSYNC_PARENT_URL"
elif [[ "$level" != region ]]; then
    # (Also after a stop between the join and the lines above.)
    rm -f "$enroll_dir/$code.token"
    : >"$enroll_dir/$code.joined"
    log "already joined"
fi

# ---------------------------------------------------------------------------
# 3. tokens for the children
# ---------------------------------------------------------------------------
for child in ${FUNDSYNC_CHILDREN:-}; do
    ccode="${child%%:*}"
    cname="${child#*:}"
    [[ -n "$ccode" && -n "$cname" && "$cname" != "$child" ]] ||
        die "FUNDSYNC_CHILDREN: expected <code>:<name>, got '$child'"
    if [[ -e "$enroll_dir/$ccode.joined" ]]; then
        continue
    fi
    token="$enroll_dir/$ccode.token"
    if [[ -s "$token" && -z "$(find "$token" -mmin +1380 2>/dev/null)" ]]; then
        continue
    fi
    tmp="$enroll_dir/.$ccode.token.tmp"
    # stdout carries the token (and any log lines): keep the token's line.
    out="$(fundsync enroll --child "$ccode" --name "$cname")" ||
        die "fundsync enroll --child $ccode failed"
    grep -E '^FS1\.' <<<"$out" | tail -n 1 >"$tmp"
    [[ -s "$tmp" ]] || die "fundsync enroll --child $ccode printed no token"
    mv -f "$tmp" "$token"
    log "one-time token for $ccode ($cname) in $token"
done

# ---------------------------------------------------------------------------
# 4. serve
# ---------------------------------------------------------------------------
exec fundsync serve
