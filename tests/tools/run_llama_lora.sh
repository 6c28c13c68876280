#!/usr/bin/env bash
# Runs llama.cpp with a LoRA adapter for tests/lora_reference_test: builds
# llama_cpp_lora_logits.cpp against an existing llama.cpp build (outside
# Hearth's tree; nothing of llama.cpp enters the repository) and runs it.
#
# usage: run_llama_lora.sh MODEL.gguf ADAPTER.gguf SCALE IDS OUT.txt
# env:   HEARTH_LLAMA_CPP_BIN  llama.cpp's bin dir with libllama.so (default /work/llama.cpp-build/build/bin)
#        HEARTH_LLAMA_CPP_SRC  its source tree, for include/llama.h (default: ../../src beside bin, then
#                              /work/llama.cpp-build/src)
#        HEARTH_REF_TOOL_DIR   where the compiled tool is cached (default ${TMPDIR:-/tmp}/hearth-llama-ref-$UID)
# exit:  0 written; 77 llama.cpp is not available here (callers skip); other: failure.
set -euo pipefail
if [ $# -ne 5 ]; then
  echo "usage: $0 MODEL.gguf ADAPTER.gguf SCALE IDS OUT.txt" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
bin="${HEARTH_LLAMA_CPP_BIN:-/work/llama.cpp-build/build/bin}"
src="${HEARTH_LLAMA_CPP_SRC:-}"
if [ -z "$src" ]; then
  for cand in "$bin/../../src" /work/llama.cpp-build/src; do
    if [ -f "$cand/include/llama.h" ]; then src="$cand"; break; fi
  done
fi
if [ ! -f "$bin/libllama.so" ] || [ -z "$src" ] || [ ! -f "$src/include/llama.h" ]; then
  echo "llama.cpp not found (libllama.so in '$bin', include/llama.h in '${src:-?}'): set HEARTH_LLAMA_CPP_BIN / HEARTH_LLAMA_CPP_SRC" >&2
  exit 77
fi
tool_dir="${HEARTH_REF_TOOL_DIR:-${TMPDIR:-/tmp}/hearth-llama-ref-$(id -u)}"
mkdir -p "$tool_dir"
tool="$tool_dir/llama_cpp_lora_logits"
if [ ! -x "$tool" ] || [ "$here/llama_cpp_lora_logits.cpp" -nt "$tool" ] || [ "$bin/libllama.so" -nt "$tool" ]; then
  c++ -std=c++17 -O2 -o "$tool.tmp.$$" "$here/llama_cpp_lora_logits.cpp" -I"$src/include" -I"$src/ggml/include" \
    -L"$bin" -lllama -Wl,-rpath,"$bin"
  mv -f "$tool.tmp.$$" "$tool"
fi
"$tool" "$1" "$2" "$3" "$4" > "$5.tmp.$$"
mv -f "$5.tmp.$$" "$5"
