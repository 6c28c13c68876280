#!/usr/bin/env bash
# The one test command (README.md; .ci/run calls exactly this): installs the
# build dependencies, builds Hearth in Release, runs the whole GoogleTest
# suite under ctest, then runs the hostile-input tests again under ASan+UBSan.
#
#   tests/run-all.sh            build in ./build and ./build-sanitize
#
# Tests that need ../shared/testdata (real models, vocabularies, references)
# skip with a message where it is absent; point HEARTH_TESTDATA elsewhere to
# use another copy.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
jobs="${HEARTH_JOBS:-$(nproc)}"
export HEARTH_JOBS="${jobs}"

./installer/install-build-deps.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"${jobs}"
ctest --test-dir build --output-on-failure -j"${jobs}" --timeout 600

tests/run-sanitized.sh "${repo_root}/build-sanitize" template_test template_fuzz_test
