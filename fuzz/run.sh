#!/usr/bin/env bash
# Fuzzes every target in fuzz/src/bin/ for SECONDS each with cargo-afl (stable Rust), starting
# from the seeds in fuzz/seeds/<target>/, and fails on any crash or hang (printing the
# reproducer's path). Installs cargo-afl and builds its AFL++ when missing.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Findings and the grown corpus land in fuzz/out/<target>/default/ (ignored by git; set
# FUZZ_OUT to use another directory, CARGO_TARGET_DIR another build directory). To replay
# a reproducer: `cargo afl run --release --bin TARGET < PATH` from fuzz/ (or
# `target/release/TARGET < PATH`).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for src in src/bin/*.rs; do
        targets+=("$(basename "$src" .rs)")
    done
fi

if ! cargo afl --version >/dev/null 2>&1; then
    echo "==> installing cargo-afl"
    cargo install cargo-afl --locked
fi
# Builds the AFL++ that cargo-afl bundles, once per toolchain.
if ! log=$(cargo afl config --build 2>&1); then
    if ! grep -q "already built" <<<"$log"; then
        echo "$log" >&2
        exit 1
    fi
fi

echo "==> building ${targets[*]}"
cargo afl build --release --locked $(printf -- '--bin %s ' "${targets[@]}")

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
# Other processes share the machine's cores: do not insist on a free one.
export AFL_NO_AFFINITY=${AFL_NO_AFFINITY:-1}

outdir=${FUZZ_OUT:-out}
bindir=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$outdir"
failed=0
for target in "${targets[@]}"; do
    seeds=seeds/$target
    out=$outdir/$target
    if [ ! -d "$seeds" ]; then
        echo "no seed corpus at fuzz/$seeds" >&2
        exit 1
    fi
    rm -rf "$out"
    echo "==> fuzzing $target for ${secs}s"
    status=0
    cargo afl fuzz -V "$secs" -t 1000 -i "$seeds" -o "$out" "$bindir/$target" \
        >"$outdir/$target.log" 2>&1 || status=$?
    mkdir -p "$out"
    mv "$outdir/$target.log" "$out/afl.log"
    stats=$out/default/fuzzer_stats
    if [ "$status" -ne 0 ] || [ ! -f "$stats" ]; then
        echo "afl-fuzz failed on $target (exit $status); its output:" >&2
        tail -n 30 "$out/afl.log" >&2
        failed=1
        continue
    fi
    execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
    corpus=$(awk -F' *: *' '$1=="corpus_count"{print $2}' "$stats")
    findings=$(find "$out/default/crashes" "$out/default/hangs" -type f ! -name README.txt \
        2>/dev/null | sort)
    echo "$target: $execs executions, corpus $corpus, $(grep -c . <<<"$findings" || true) crashes/hangs"
    if [ -n "$findings" ]; then
        echo "reproducers (replay: fuzz/$bindir/$target < PATH):" >&2
        sed 's|^|  fuzz/|' <<<"$findings" >&2
        failed=1
    fi
done
exit "$failed"
