#!/usr/bin/env bash
# Packs what hearth-gpu-check needs on a machine that has only the NVIDIA
# driver: the check program (its C++ runtime is static), the CPU and CUDA
# plugins, the C++ runtime the plugins link, and a copy of the testdata
# models when a testdata folder is given. Nothing in the bundle is committed
# (/gpu-bundle/ is ignored).
#
#   hip/check/make-gpu-bundle.sh BUILD_DIR [OUT_DIR] [TESTDATA_DIR]
#
# BUILD_DIR is a build of this tree with the CUDA plugin (Release is best:
# the CPU plugin is the reference there and runs the big comparisons).
set -euo pipefail
build="${1:?usage: make-gpu-bundle.sh BUILD_DIR [OUT_DIR] [TESTDATA_DIR]}"
out="${2:-gpu-bundle}"
testdata="${3:-}"
plugins="${build}/plugins"
for f in hearth-gpu-check libhearth_backend_cpu.so libhearth_backend_cuda.so; do
  [[ -f "${plugins}/${f}" ]] || { echo "make-gpu-bundle: ${plugins}/${f} is missing (build the hearth-gpu-check target)" >&2; exit 1; }
done
rm -rf "${out}"
mkdir -p "${out}/lib"
cp "${plugins}/hearth-gpu-check" "${plugins}/libhearth_backend_cpu.so" "${plugins}/libhearth_backend_cuda.so" "${out}/"
# The plugins link the C++ runtime dynamically; the target machine may have an older one or none.
for lib in libstdc++.so.6 libgcc_s.so.1; do
  cp -L "$(g++ -print-file-name="${lib}")" "${out}/lib/"
done
if [[ -n "${testdata}" && -d "${testdata}/models" ]]; then
  mkdir -p "${out}/testdata/models"
  cp "${testdata}"/models/*.gguf "${out}/testdata/models/"
fi
du -sh "${out}"
