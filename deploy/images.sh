#!/usr/bin/env bash
# Builds fundsync's container images on a machine with no container registry:
#
#   fundsync/debian:bookworm   a minimal Debian 12 (minbase, sqlite3, current
#                              security fixes) made by debootstrap from the
#                              mirror this machine's apt already uses, then
#                              `docker import`ed (nothing is pulled)
#   fundsync/postgres:15       Debian's postgresql-15 on that base
#                              (deploy/postgres/Dockerfile)
#   fundsync/node:<version>    the release binary built on this host
#                              (deploy/Dockerfile), also tagged :latest
#
# Usage: bash deploy/images.sh [--rebuild] [--no-strip] [--postgres-only]
#
# Idempotent: the base image is skipped when its tag exists, the PostgreSQL
# image when it was built from the files now in deploy/postgres (--rebuild
# makes both again). The node image is rebuilt every run, which
# costs nothing when the binary is unchanged: cargo and docker's layer cache
# both see that. The image's binary has its debug info stripped (symbols kept,
# so backtraces still name functions; about 12 MB instead of 77 MB); the
# host's target/release/fundsync keeps the line tables. --no-strip copies it
# as built. --postgres-only stops after fundsync/postgres:15: it is all the
# tests need (scripts/test.sh), and it spares them a release build. Needs root
# (debootstrap), docker, and apt reaching its mirror.
#
# Environment: FUNDSYNC_DEBIAN_MIRROR overrides the mirror read from
# /etc/apt/sources.list{,.d/*}; FUNDSYNC_DEBIAN_SECURITY_MIRROR the security one.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deploy="$repo_root/deploy"
log() { printf '[images.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

rebuild=0
strip_debug=1
postgres_only=0
while (($#)); do
    case "$1" in
        --rebuild) rebuild=1 ;;
        --no-strip) strip_debug=0 ;;
        --postgres-only) postgres_only=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

base_image=fundsync/debian:bookworm
pg_image=fundsync/postgres:15
node_repo=fundsync/node
suite=bookworm

[[ "$(id -u)" == 0 ]] || die "run as root: debootstrap needs it"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the docker daemon is not reachable"

# Without the buildx plugin, `docker build` is the classic builder; say so
# explicitly so the client does not refuse. The Dockerfiles here use nothing
# that needs BuildKit.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------
# The mirror apt already uses: the first enabled `deb` source for SUITE, from
# deb822 files (*.sources) or one-line ones (sources.list, *.list).
# ---------------------------------------------------------------------------
apt_uri_for_suite() {
    local want="$1" f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk -v want="$want" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uri != "") {
                    print uri; found = 1; exit
                }
                types = ""; suites = ""; uri = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "types:"   { $1 = ""; types = $0; gsub(/^ +| +$/, "", types) }
            tolower($1) == "suites:"  { $1 = ""; suites = $0; gsub(/^ +| +$/, "", suites) }
            tolower($1) == "uris:"    { uri = $2 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v want="$want" '$1 == "deb" && $3 == want { print $2 }'
    done
}

mirror="${FUNDSYNC_DEBIAN_MIRROR:-$(apt_uri_for_suite "$suite" | head -n 1)}"
security_mirror="${FUNDSYNC_DEBIAN_SECURITY_MIRROR:-$(apt_uri_for_suite "$suite-security" | head -n 1)}"

# ---------------------------------------------------------------------------
# (a) fundsync/debian:bookworm
# ---------------------------------------------------------------------------
rootfs=""
ctx=""
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$ctx" ]]; then rm -rf "$ctx"; fi
    if [[ -n "$rootfs" && -d "$rootfs" ]]; then
        # debootstrap mounts proc/sys inside the target; never rm -rf across a mount.
        local m
        for m in $(findmnt -rn -o TARGET | grep -F "$rootfs" | sort -r); do
            umount -l "$m"
        done
        if findmnt -rn -o TARGET | grep -qF "$rootfs"; then
            log "warning: mounts remain under $rootfs; not deleting it"
        else
            rm -rf --one-file-system "$rootfs"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_base() {
    [[ -n "$mirror" ]] || die "no 'deb' source for $suite in /etc/apt/sources.list{,.d/*}; set FUNDSYNC_DEBIAN_MIRROR"
    log "base: debootstrap $suite from $mirror"
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap from Debian's packages"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local arch
    arch="$(dpkg --print-architecture)"
    rootfs="$(mktemp -d /var/tmp/fundsync-rootfs.XXXXXX)"
    # sqlite3: for online backups of a node's ledger inside its container
    # (deploy/backup/sqlite-backup.sh); about 2 MB.
    if ! nice -n 15 debootstrap --variant=minbase --arch="$arch" --components=main \
            --include=sqlite3 "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
        tail -n 40 "$rootfs.log" >&2
        die "debootstrap failed (full log: $rootfs.log)"
    fi
    rm -f "$rootfs.log"

    # apt inside the image uses the same mirror.
    rm -f "$rootfs/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" "$suite" "$suite"
        if [[ -n "$security_mirror" ]]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                "$security_mirror" "$suite"
        fi
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"
    # A snapshot mirror serves Release files past their Valid-Until; if this
    # host's apt is told to accept that, so is the image's.
    if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false";'; then
        printf 'Acquire::Check-Valid-Until "false";\n' >"$rootfs/etc/apt/apt.conf.d/99fundsync-mirror"
    fi
    # Like Debian's slim images: keep apt's caches and docs out of layers.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    # debootstrap installs the release as first published; take the
    # bookworm-updates and security fixes now, in the chroot on the host's network.
    log "base: apt-get upgrade (updates and security) in the chroot"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    if ! nice -n 15 chroot "$rootfs" /bin/sh -c \
            'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq' \
            >"$rootfs.log" 2>&1; then
        tail -n 40 "$rootfs.log" >&2
        die "apt-get upgrade in the new rootfs failed (log: $rootfs.log)"
    fi
    rm -f "$rootfs.log"
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* \
        "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
        "$rootfs"/tmp/* "$rootfs"/var/tmp/*
    : >"$rootfs/etc/resolv.conf"
    printf 'fundsync\n' >"$rootfs/etc/hostname"

    log "base: docker import as $base_image"
    tar --numeric-owner --xattrs -C "$rootfs" \
            --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        nice -n 15 docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase, debootstrap from $mirror\"" \
            --message "debootstrap --variant=minbase $suite $mirror" \
            - "$base_image" >/dev/null
    cleanup_rootfs_now
}
cleanup_rootfs_now() {
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$rootfs" | sort -r); do umount -l "$m"; done
    rm -rf --one-file-system "$rootfs"
    rootfs=""
}

if ((rebuild)) || ! image_exists "$base_image"; then
    build_base
else
    log "base: $base_image exists (--rebuild makes it again)"
fi

# ---------------------------------------------------------------------------
# (b) fundsync/postgres:15. apt-get runs in the build: on the default bridge
# network if a container reaches the mirror from there, else on the host's
# network (the mirror the host's apt already reaches).
# ---------------------------------------------------------------------------
build_network=default
pick_build_network() {
    if timeout 60 docker run --rm "$base_image" \
            apt-get -q -o Acquire::Retries=0 -o Acquire::http::Timeout=10 update >/dev/null 2>&1; then
        build_network=default
    else
        build_network=host
    fi
    log "postgres: apt in the build uses the $build_network network"
}

# The image carries a hash of its build context (Dockerfile, entrypoint), so
# an image built from older files is rebuilt: the tests depend on the
# entrypoint's behaviour. Docker's layer cache keeps that quick.
pg_context_hash="$(cd "$deploy/postgres" && find . -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum | cut -c1-16)"
pg_image_hash() {
    docker image inspect -f '{{index .Config.Labels "fundsync.context-hash"}}' "$pg_image" 2>/dev/null || true
}
if ((rebuild)) || [[ "$(pg_image_hash)" != "$pg_context_hash" ]]; then
    if image_exists "$pg_image"; then
        log "postgres: $pg_image is from other files in deploy/postgres; rebuilding"
    fi
    pick_build_network
    nice -n 15 docker build --network "$build_network" \
        --build-arg "BASE_IMAGE=$base_image" \
        --label "fundsync.context-hash=$pg_context_hash" \
        -t "$pg_image" "$deploy/postgres"
else
    log "postgres: $pg_image exists and matches deploy/postgres (--rebuild makes it again)"
fi

if ((postgres_only)); then
    docker image ls --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$pg_image"
    exit 0
fi

# ---------------------------------------------------------------------------
# (c) fundsync/node:<version>: the host's release binary in a small context.
# ---------------------------------------------------------------------------
log "node: cargo build --release -p fundsync"
(cd "$repo_root" && nice -n 15 cargo build --release -p fundsync)
bin="$repo_root/target/release/fundsync"
[[ -x "$bin" ]] || die "$bin was not built"
version="$("$bin" --version | awk '{print $2}')"
[[ -n "$version" ]] || die "cannot read the version from '$bin --version'"
revision="$(git -C "$repo_root" describe --always --dirty 2>/dev/null || echo unknown)"

ctx="$(mktemp -d /var/tmp/fundsync-node-ctx.XXXXXX)"
cp "$bin" "$ctx/fundsync"
if ((strip_debug)); then
    if command -v strip >/dev/null; then
        strip --strip-debug "$ctx/fundsync"
    else
        log "node: no strip command (binutils); the binary keeps its debug info"
    fi
fi
cp "$deploy/Dockerfile" "$ctx/Dockerfile"
status=0
nice -n 15 docker build --network none \
    --build-arg "BASE_IMAGE=$base_image" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    -t "$node_repo:$version" -t "$node_repo:latest" "$ctx" || status=$?
rm -rf "$ctx"
ctx=""
((status == 0)) || die "docker build of $node_repo:$version failed"

# ---------------------------------------------------------------------------
log "built:"
for img in "$base_image" "$pg_image" "$node_repo:$version"; do
    docker image ls --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$img"
done
printf '(node binary %s, revision %s)\n' "$version" "$revision"
