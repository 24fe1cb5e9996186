#!/usr/bin/env bash
# Fuzzes every decoder of bytes from outside the node (fuzz/, README
# "Fuzzing"): `bash scripts/fuzz.sh [SECONDS_PER_TARGET]` (default 60) builds
# every target, runs each in turn for that long from its committed seed
# corpus (fuzz/corpus/<target>/), prints a table (target, seconds,
# executions, crashes) and exits 1 if any target crashed or hung.
#
#   bash scripts/fuzz.sh 180          three minutes a target
#   FUZZ_TARGETS="body config" ...    only these targets
#   bash scripts/fuzz.sh --seeds      write the seed corpus afresh (see below)
#
# A crash leaves its input in fuzz/artifacts/<target>/ (not committed) and
# the command that replays it in the log: `cargo fuzz run <target> <file>`,
# with the same RUSTC_BOOTSTRAP=1. Fix the decoder, not the target, and add
# the input as a regression test next to the decoder.
#
# New inputs the fuzzer finds go to a scratch corpus (FUZZ_WORK, a temp
# directory by default), not to the committed one, which stays small; merge
# what is worth keeping with `cargo fuzz cmin <target>` (see README).
#
# Builds land in CARGO_TARGET_DIR when set (keep it outside the tree), else
# in fuzz/target/, which git ignores.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf '[fuzz.sh] %s\n' "$*" >&2; }

# cargo fuzz passes the compiler nightly-only flags (-Zsanitizer=address for
# AddressSanitizer, and the sanitizer-coverage options libFuzzer's guidance
# needs). The machine has only the stable toolchain and cannot download
# another (rust-toolchain.toml), so we let that stable compiler accept them:
# RUSTC_BOOTSTRAP=1 unlocks unstable flags on a stable rustc. It applies to
# these fuzz builds only, never to the workspace's own builds, and the
# sanitizer runtimes it links ship with the stable toolchain.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz is missing: cargo install cargo-fuzz"
    exit 1
fi

target_dir="${CARGO_TARGET_DIR:-$repo_root/fuzz/target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$triple/release"

build() {
    log "building the fuzz targets (cargo fuzz build; the first build takes a while)"
    cargo fuzz build "$@"
}

# ---------------------------------------------------------------------------
# --seeds: the seed corpus, from the 2020 demo's real bundles (signed batches
# and bodies of every kind it records) and made by fuzz/examples/seeds.rs for
# the rest. Needs the workspace's `fundsync` binary (built here if missing).
# ---------------------------------------------------------------------------
if [[ "${1:-}" == "--seeds" ]]; then
    ws_target="${FUNDSYNC_WS_TARGET_DIR:-$repo_root/target}"
    fundsync="$ws_target/debug/fundsync"
    if [[ ! -x "$fundsync" ]]; then
        log "building the fundsync binary"
        CARGO_TARGET_DIR="$ws_target" cargo build -p fundsync
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    log "running the demo into $work (about half a minute)"
    "$fundsync" demo --check --port-base 0 --dir "$work/demo" >/dev/null
    node_config() { # code name level [parent]
        {
            printf 'code = "%s"\nname = "%s"\nlevel = "%s"\n' "$1" "$2" "$3"
            [[ -n "${4:-}" ]] && printf 'parent_code = "%s"\n' "$4"
            printf 'data_dir = "%s"\n' "$work/demo/$1"
        } >"$work/$1.toml"
    }
    node_config 650000 新疆维吾尔自治区 region
    node_config 652800 巴音郭楞蒙古自治州 prefecture 650000
    node_config 652822 轮台县 county 652800
    "$fundsync" bundle export --config "$work/652822.toml" "$work/up-652822"
    "$fundsync" bundle export --config "$work/650000.toml" --child 652800 "$work/down-652800"
    "$fundsync" bundle export --config "$work/652800.toml" "$work/up-652800"
    "$fundsync" bundle export --config "$work/652800.toml" --child 652822 "$work/down-652822"
    # The generator is built with the fuzz targets' flags, so it reuses their
    # compiled dependencies rather than building the node a second time.
    build
    # The flags are read off the verbose build of one target, touched so
    # that cargo shows its compiler command.
    touch fuzz/fuzz_targets/batch_up.rs
    rustflags="$(cargo fuzz build --verbose batch_up 2>&1 | sed -n 's/.*--crate-name batch_up .*\(-Cpasses=sancov-module.*-Ccodegen-units=1\).*/\1/p' | head -n 1)"
    RUSTFLAGS="$rustflags" CARGO_TARGET_DIR="$target_dir" cargo build --manifest-path fuzz/Cargo.toml \
        --release --target "$triple" --config 'profile.release.debug="line-tables-only"' --example seeds
    rm -rf fuzz/corpus
    "$bin_dir/examples/seeds" fuzz/corpus "$work/up-652822" "$work/down-652800" \
        "$work/demo/652822/tls" "$work/up-652800" "$work/down-652822"
    log "seed corpus written: $(find fuzz/corpus -type f | wc -l) files, $(du -sh fuzz/corpus | cut -f1)"
    exit 0
fi

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
    log "usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] | --seeds"
    exit 2
fi

build
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
work="${FUZZ_WORK:-}"
if [[ -z "$work" ]]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

failed=0
summary=()
for t in $targets; do
    mkdir -p "$work/$t" "fuzz/artifacts/$t"
    log "$t: ${seconds}s"
    started=$SECONDS
    # -timeout: one input taking over 10 s counts as a hang (a failure).
    # The first corpus directory receives what the fuzzer finds; the
    # committed seeds are read only.
    set +e
    "$bin_dir/$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" "$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1
    rc=$?
    set -e
    took=$((SECONDS - started))
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)"
    crashes=0
    if (( rc != 0 )); then
        crashes=1
        failed=1
        log "$t FAILED (exit $rc); the end of its log:"
        tail -n 40 "$work/$t.log" >&2
        log "replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $(ls -t "fuzz/artifacts/$t/"* 2>/dev/null | head -n 1)"
    fi
    summary+=("$(printf '%-12s %8s %14s %8s' "$t" "$took" "${execs:-?}" "$crashes")")
done

printf '%-12s %8s %14s %8s\n' target seconds executions crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
