#!/usr/bin/env bash
# Runs hearth-gpu-check from a bundle made by make-gpu-bundle.sh, on the GPU
# machine; the report goes to stdout and to REPORT (default gpu-report.md).
#
#   hip/check/run-gpu-check.sh [BUNDLE_DIR] [REPORT] [extra hearth-gpu-check arguments...]
set -uo pipefail
bundle="${1:-gpu-bundle}"
report="${2:-gpu-report.md}"
shift 2 2>/dev/null || shift $#
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
testdata_args=()
[[ -d "${bundle}/testdata/models" ]] && testdata_args=(--testdata "${bundle}/testdata")
work="${TMPDIR:-/tmp}/hearth-gpu-check-models"
# The plugins need libstdc++ with GLIBCXX_3.4.30 (GCC 12). The bundled copy
# needs glibc >= 2.36; on an older glibc the machine's own libstdc++ is used.
glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
echo "glibc ${glibc:-unknown}"
lib_path="${LD_LIBRARY_PATH:-}"
if [[ -n "${glibc}" ]] && printf '2.36\n%s\n' "${glibc}" | sort -V -C; then
  lib_path="${bundle}/lib${lib_path:+:${lib_path}}"
fi
LD_LIBRARY_PATH="${lib_path}" "${bundle}/hearth-gpu-check" --plugin-dir "${bundle}" "${testdata_args[@]}" --work "${work}" --report "${report}" "$@"
rc=$?
echo "hearth-gpu-check exit status: ${rc}"
exit "${rc}"
