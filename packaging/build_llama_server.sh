#!/usr/bin/env bash
# Build llama.cpp's llama-server from the sources vendored in llama-cpp-python's sdist (the
# same llama.cpp the app uses) and cache the binary outside the repo. Prints its path.
# Used by the remote-backend integration test; about 5 minutes on 2 cores, once.
#
# With --rpc: a llama-server built with GGML_RPC=ON and llama.cpp's rpc-server beside it (a
# model split over machines, docs/remote.md) as ggml-rpc-server, in their own cached folder,
# whose path it prints; about 6 minutes more on 2 cores, once.
set -euo pipefail
VERSION=0.3.36
CACHE="${PROSEMIX_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prosemix-ci}"
RPC=0
[ "${1:-}" = "--rpc" ] && RPC=1
if [ "$RPC" = 1 ]; then
  OUT="$CACHE/llama-rpc-$VERSION"
  if [ -x "$OUT/llama-server" ] && [ -x "$OUT/ggml-rpc-server" ]; then echo "$OUT"; exit 0; fi
else
  OUT="$CACHE/llama-server-$VERSION"
  if [ -x "$OUT/llama-server" ]; then echo "$OUT/llama-server"; exit 0; fi
fi
command -v cmake >/dev/null && command -v c++ >/dev/null || { echo "build_llama_server: cmake or a C++ compiler is missing" >&2; exit 3; }
SDIST="$CACHE/llama_cpp_python-$VERSION"
mkdir -p "$CACHE"
if [ ! -d "$SDIST/vendor/llama.cpp" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE" >&2
  tar xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE"
fi
if [ "$RPC" = 1 ]; then
  BUILD="$CACHE/llama-rpc-build"
  EXTRA=(-DGGML_RPC=ON)
  TARGETS=(llama-server ggml-rpc-server)
else
  BUILD="$CACHE/llama-server-build"
  EXTRA=()
  TARGETS=(llama-server)
fi
cmake -S "$SDIST/vendor/llama.cpp" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DBUILD_SHARED_LIBS=OFF "${EXTRA[@]}" >&2
for target in "${TARGETS[@]}"; do
  cmake --build "$BUILD" --target "$target" -j "$(nproc)" >&2
done
mkdir -p "$OUT.tmp"
for target in "${TARGETS[@]}"; do cp "$BUILD/bin/$target" "$OUT.tmp/"; done
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
if [ "$RPC" = 1 ]; then echo "$OUT"; else echo "$OUT/llama-server"; fi
