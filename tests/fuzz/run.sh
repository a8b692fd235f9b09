#!/usr/bin/env bash
# run.sh — fuzz every target (or those named) for SECONDS each with
# libFuzzer, one after the other, in a libFuzzer build (tests/fuzz/README.md):
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# New inputs go to $FUZZ_WORK/<target>/ (default /tmp/attnscope-fuzz-work),
# crashes to $FUZZ_WORK/artifacts/; the seed corpus in tests/fuzz/corpus/ is
# only read. Copy a crash input into tests/fuzz/corpus/<target>/ as
# crash-<what> once it is fixed (the replay test then keeps it fixed).
# Prints one line per target: executions, seconds, coverage and crashes.
# Extra libFuzzer flags may be given in $FUZZ_FLAGS (e.g. -use_value_profile=1).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}"
secs="${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}"
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama2c gguf safetensors hf tokenize tokbin dataset blob)
work="${FUZZ_WORK:-/tmp/attnscope-fuzz-work}"
mkdir -p "$work/artifacts"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# fuzz_tokenize adds the real vocabularies when this is set
export ATTNSCOPE_SHARED="${ATTNSCOPE_SHARED:-$here/../../../shared}"

for t in "${targets[@]}"; do
	exe="$build/tests/fuzz/fuzz_$t"
	[ -x "$exe" ] || { echo "$t: $exe not built"; continue; }
	mkdir -p "$work/$t"
	log="$work/$t.log"
	max_len=65536
	[ "$t" = tokenize ] && max_len=4096
	[ "$t" = dataset ] && max_len=16384
	"$exe" "$work/$t" "$here/corpus/$t" -dict="$here/$t.dict" \
		-max_total_time="$secs" -max_len="$max_len" -timeout=20 \
		-rss_limit_mb=3072 -malloc_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$t-" ${FUZZ_FLAGS:-} >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1)
	crashes=$(ls "$work/artifacts" | grep -c "^$t-" || true)
	echo "$t: exit $rc, ${execs:-?} executions in ${secs} s, ${cov:-cov: ?}, ${ft:-ft: ?}, $crashes artifact(s)"
done
