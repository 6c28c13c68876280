#!/usr/bin/env bash
# Sets up Hearth on a fresh Debian 12 machine and serves a model:
# installs the build dependencies, builds (Release), starts hearthd on
# https://127.0.0.1:8443 with a generated TLS certificate and a new API key
# (printed once), answers a first request with curl, then keeps serving in
# the foreground until Ctrl-C.
#
#   installer/quickstart.sh [MODEL.gguf]
#
# With no model named, hearthd generates and serves a small demo model with
# random weights (it is labelled as such: its text is gibberish).
# Environment: HEARTH_STATE (default ./hearth-state), HEARTH_LISTEN
# (default 127.0.0.1:8443).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
model="${1:-}"
state="${HEARTH_STATE:-${repo_root}/hearth-state}"
listen="${HEARTH_LISTEN:-127.0.0.1:8443}"

./installer/install-build-deps.sh --cpu-only
if ! command -v curl >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEARTH_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target hearthd hearthctl hearth_backend_cpu

args=(--listen "${listen}" --state-dir "${state}")
model_name="hearth-demo"
if [[ -n "${model}" ]]; then
  [[ -f "${model}" ]] || { echo "quickstart: ${model}: no such file" >&2; exit 2; }
  model_name="$(basename "${model}" .gguf)"
  args+=(--model "${model_name}=$(realpath "${model}")")
fi

mkdir -p "${state}"
out="${state}/hearthd.stdout"
build/daemon/server/hearthd "${args[@]}" >"${out}" &
daemon=$!
trap 'kill -TERM ${daemon} 2>/dev/null; wait ${daemon}' INT TERM

for _ in $(seq 1 600); do
  if curl -fsS --cacert "${state}/tls/hearth-selfsigned.crt" "https://${listen}/ready" >/dev/null 2>&1; then break; fi
  kill -0 "${daemon}" 2>/dev/null || { echo "quickstart: hearthd exited; see the messages above" >&2; exit 1; }
  sleep 0.2
done

cat "${out}"
key="$(grep -o 'hk_[A-Za-z0-9_-]*' "${out}" | head -n1 || true)"
if [[ -z "${key}" ]]; then
  key="${HEARTH_API_KEY:-}"
  [[ -n "${key}" ]] || echo "quickstart: an API key was created on an earlier run; set HEARTH_API_KEY to use it" >&2
fi

echo
echo "quickstart: first request (POST /v1/completions, model ${model_name}):"
curl -sS --cacert "${state}/tls/hearth-selfsigned.crt" "https://${listen}/v1/completions" \
  -H "Authorization: Bearer ${key}" -H 'Content-Type: application/json' \
  -d "{\"model\": \"${model_name}\", \"prompt\": \"Once upon a time\", \"max_tokens\": 32, \"temperature\": 0}"
echo
echo
echo "quickstart: hearthd serves https://${listen}/v1 (OpenAI-compatible; certificate ${state}/tls/hearth-selfsigned.crt)."
echo "quickstart: press Ctrl-C to stop it."
wait "${daemon}"
