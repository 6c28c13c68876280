#!/usr/bin/env bash
# Sets up Hearth on a fresh Debian 12 machine and runs a model:
# installs the build dependencies, builds (Release), and generates text.
#
#   installer/quickstart.sh [MODEL.gguf] ["prompt"]
#
# Without a model it uses aidreams260K-f32.gguf from ../shared/testdata
# (a small real model) when that folder is present.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
model="${1:-}"
prompt="${2:-Once upon a time}"

./installer/install-build-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEARTH_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target hearthctl hearth_backend_cpu

if [[ -z "${model}" ]]; then
  model="${HEARTH_TESTDATA:-${repo_root}/../shared/testdata}/models/aidreams260K-f32.gguf"
  if [[ ! -f "${model}" ]]; then
    echo "quickstart: name a GGUF model file: installer/quickstart.sh MODEL.gguf" >&2
    exit 2
  fi
fi

echo "quickstart: model ${model}" >&2
build/daemon/ctl/hearthctl generate --model "${model}" --prompt "${prompt}" --max-tokens 64 --temperature 0
