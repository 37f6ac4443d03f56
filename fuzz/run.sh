#!/usr/bin/env bash
# Runs one coverage-guided fuzz target for SECONDS (default 60), seeded with its committed
# proptest corpus. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#   fuzz/run.sh csv 600
# New inputs libFuzzer finds go to fuzz/corpus/<target>/ (not committed); crashes to
# fuzz/artifacts/<target>/. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
secs=${2:-60}
seeds=../adapters/tests/fuzz/corpus/$target
[ -d "$seeds" ] || seeds=../gateway/tests/fuzz/corpus/$target
mkdir -p "corpus/$target"
# No sanitizer: the code under test is safe Rust; panics, aborts and stack overflows are still
# caught, and runs are several times faster.
exec cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" "$seeds" -- \
    -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 -timeout=10
