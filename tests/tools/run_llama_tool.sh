#!/usr/bin/env bash
# Runs one of Hearth's llama.cpp reference tools (tests/tools/TOOL.cpp, our
# code against libllama's C API) for the tests that compare with llama.cpp:
# llama_cpp_logits (tests/arch_reference_test) and llama_cpp_lora_logits
# (tests/lora_reference_test). The tool is built against an existing llama.cpp
# build outside Hearth's tree (nothing of llama.cpp enters the repository),
# cached, and run with ARGS; its stdout is written to OUT atomically.
#
# usage: run_llama_tool.sh TOOL OUT ARGS...
# env:   HEARTH_LLAMA_CPP_BIN  llama.cpp's bin dir with libllama.so (default /work/llama.cpp-build/build/bin)
#        HEARTH_LLAMA_CPP_SRC  its source tree, for include/llama.h (default: ../../src beside bin, then
#                              /work/llama.cpp-build/src)
#        HEARTH_REF_TOOL_DIR   where compiled tools are cached (default ${TMPDIR:-/tmp}/hearth-llama-ref-$UID)
# exit:  0 written; 77 llama.cpp is not available here (callers skip); other: failure.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 TOOL OUT ARGS..." >&2
  exit 2
fi
name="$1"
out="$2"
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/$name.cpp" ]; then
  echo "no tool $here/$name.cpp" >&2
  exit 2
fi
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
tool="$tool_dir/$name"
if [ ! -x "$tool" ] || [ "$here/$name.cpp" -nt "$tool" ] || [ "$bin/libllama.so" -nt "$tool" ]; then
  c++ -std=c++17 -O2 -o "$tool.tmp.$$" "$here/$name.cpp" -I"$src/include" -I"$src/ggml/include" \
    -L"$bin" -lllama -Wl,-rpath,"$bin"
  mv -f "$tool.tmp.$$" "$tool"
fi
"$tool" "$@" > "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
