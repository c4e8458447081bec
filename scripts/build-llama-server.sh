#!/usr/bin/env bash
# Build llama.cpp's HTTP server (llama-server), llama-quantize and llama-bench from the
# llama.cpp source that the PyPI package llama-cpp-python ships in its source
# distribution: the server for the `--backend openai` integration tests, the quantizer for
# the quantized test files, the bench for speed comparisons. The binaries are cached: a
# second run prints the path and exits.
#
# Why not `pip install llama-cpp-python[server]` and its Python server: that server's
# /v1/completions takes only text prompts (`prompt: Union[str, List[str]]`), and the
# verification must send token ids so a candidate is exactly one token. llama.cpp's own
# server, built from the same vendored source, takes token-id prompts and returns
# log-probabilities with token ids.
#
# Prints the path of llama-server on stdout (`--tool llama-quantize` or `--tool
# llama-bench`: that tool's path instead); progress goes to stderr.
# Cache folder: $TOKENAUDIT_ENGINE_DIR, default target/engine in the repository.
set -euo pipefail

VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${TOKENAUDIT_ENGINE_DIR:-$ROOT/target/engine}
TOOLS="llama-server llama-quantize llama-bench"
TOOL=llama-server
if [ "${1:-}" = "--tool" ]; then
  TOOL=${2:?--tool needs a name: one of $TOOLS}
  case " $TOOLS " in *" $TOOL "*) ;; *) echo "unknown tool $TOOL (one of $TOOLS)" >&2; exit 2 ;; esac
fi
DIR=$DEST/llama-cpp-$VERSION
BIN=$DIR/$TOOL
# Written last, after every tool is in place.
DONE=$DIR/.complete

if [ -f "$DONE" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DEST"
# One build at a time (parallel test binaries may ask together).
exec 9>"$DEST/.lock"
flock 9
if [ -f "$DONE" ]; then
  echo "$BIN"
  exit 0
fi

WORK=$(mktemp -d "$DEST/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "building $TOOLS $VERSION (llama-cpp-python's vendored llama.cpp) in $WORK" >&2

URL=$(curl -fsSL https://pypi.org/simple/llama-cpp-python/ \
  | grep -o "https://[^\"#]*/llama_cpp_python-$VERSION\.tar\.gz" | head -1)
[ -n "$URL" ] || { echo "llama_cpp_python-$VERSION.tar.gz not found on PyPI" >&2; exit 1; }
curl -fsSL -o "$WORK/src.tar.gz" "$URL"
echo "$SHA256  $WORK/src.tar.gz" | sha256sum -c --quiet >&2
tar xzf "$WORK/src.tar.gz" -C "$WORK"

CMAKE=$(command -v cmake || true)
if [ -z "$CMAKE" ]; then
  python3 -m venv "$DEST/cmake-venv"
  "$DEST/cmake-venv/bin/pip" install -q cmake >&2
  CMAKE=$DEST/cmake-venv/bin/cmake
fi

"$CMAKE" -S "$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$WORK/build" \
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON >&2
# shellcheck disable=SC2086
"$CMAKE" --build "$WORK/build" --target $TOOLS -j "$(nproc)" >&2

mkdir -p "$DIR"
for t in $TOOLS; do
  cp "$WORK/build/bin/$t" "$DIR/$t.tmp"
  mv "$DIR/$t.tmp" "$DIR/$t"
done
touch "$DONE"
echo "$BIN"
