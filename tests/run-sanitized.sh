#!/usr/bin/env bash
# The hostile-input CI step: configures a Sanitize build (ASan + UBSan, see the
# top-level CMakeLists.txt), builds the GGUF tests plus any test targets named
# as extra arguments, and runs them through ctest with sanitizer reports fatal.
#
#   tests/run-sanitized.sh [BUILD_DIR] [TEST_TARGET...]
#
# BUILD_DIR defaults to build-sanitize under the repository root. Extra
# arguments are test target names (e.g. engine_sampler_test). Exits non-zero
# on any build error, test failure or sanitizer report.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-${repo_root}/build-sanitize}"
shift $(( $# > 0 ? 1 : 0 ))
targets=(gguf_test gguf_fuzz_test "$@")
jobs="${HEARTH_JOBS:-2}"

cmake -S "${repo_root}" -B "${build_dir}" -DCMAKE_BUILD_TYPE=Sanitize
cmake --build "${build_dir}" -j"${jobs}" --target "${targets[@]}"

# Leaks are errors; the first ASan or UBSan report aborts the test binary, so
# ctest sees it as a failure.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# Run exactly the tests of the targets built above, selected by their suite
# names from the binaries' own lists (a regex of every full name exceeds
# CMake's regex size limit); other test targets that were not built would
# otherwise show up as failing *_NOT_BUILT tests. The count check catches a
# selection that drifts from what the binaries hold.
suites=()
expected=0
for t in "${targets[@]}"; do
  bin="$(find "${build_dir}" -type f -name "${t}" -perm -u+x | head -n1)"
  if [[ -z "${bin}" ]]; then
    echo "run-sanitized: built target ${t} but cannot find its binary" >&2
    exit 1
  fi
  list="$("${bin}" --gtest_list_tests)"
  expected=$((expected + $(grep -c '^  ' <<<"${list}")))
  while IFS= read -r suite; do suites+=("${suite}"); done < <(awk '/^[^ ]+\.( |$)/ {print $1}' <<<"${list}")
done
regex="^($(printf '%s\n' "${suites[@]}" | sort -u | sed 's/\.$//; s/[][\.*^$+?(){}|]/\\&/g' | paste -sd'|'))\\."

cd "${build_dir}"
selected="$(ctest -N -R "${regex}" | grep -c '^ *Test *#' || true)"
if [[ "${selected}" -ne "${expected}" ]]; then
  echo "run-sanitized: the binaries list ${expected} tests but ctest selects ${selected}" >&2
  exit 1
fi
ctest --output-on-failure --no-tests=error -j"${jobs}" --timeout 300 -R "${regex}"
