#!/usr/bin/env bash
# Build llama.cpp's llama-server from the sources vendored in llama-cpp-python's sdist (the
# same llama.cpp the app uses) and cache the binary outside the repo. Prints its path.
# Used by the remote-backend integration test; about 5 minutes on 2 cores, once.
set -euo pipefail
VERSION=0.3.36
CACHE="${PROSEMIX_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prosemix-ci}"
OUT="$CACHE/llama-server-$VERSION"
if [ -x "$OUT/llama-server" ]; then echo "$OUT/llama-server"; exit 0; fi
command -v cmake >/dev/null && command -v c++ >/dev/null || { echo "build_llama_server: cmake or a C++ compiler is missing" >&2; exit 3; }
SDIST="$CACHE/llama_cpp_python-$VERSION"
mkdir -p "$CACHE"
if [ ! -d "$SDIST/vendor/llama.cpp" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE" >&2
  tar xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE"
fi
BUILD="$CACHE/llama-server-build"
cmake -S "$SDIST/vendor/llama.cpp" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$BUILD" --target llama-server -j "$(nproc)" >&2
mkdir -p "$OUT.tmp"
cp "$BUILD/bin/llama-server" "$OUT.tmp/"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT/llama-server"
