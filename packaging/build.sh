#!/usr/bin/env bash
# Build the one-folder app with PyInstaller, then smoke-test it.
#   bash packaging/build.sh full   # with torch (GPU-capable torch backend, training)
#   bash packaging/build.sh cpu    # llama.cpp only: much smaller
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODE=${1:-cpu}
case "$MODE" in full) unset PROSEMIX_CPU_ONLY ;; cpu) export PROSEMIX_CPU_ONLY=1 ;;
  *) echo "usage: build.sh full|cpu" >&2; exit 2 ;; esac
OUT="dist/$MODE"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$OUT" --workpath "build/$MODE" packaging/prosemix.spec
"$PY" packaging/collect_licenses.py "$OUT/Prosemix/LICENSES"
cp resources/prosemix.desktop resources/icons/prosemix.png "$OUT/Prosemix/"
built=$(( $(date +%s) - start ))
if [ "$MODE" = cpu ]; then
  tar -C "$OUT" -czf "$OUT/Prosemix-linux-x86_64-cpu.tar.gz" Prosemix
fi
echo "build ($MODE): ${built} s, bundle $(du -sh "$OUT/Prosemix" | cut -f1)"
bash packaging/smoke_test.sh "$OUT/Prosemix/Prosemix" "$MODE"
