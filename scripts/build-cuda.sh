#!/usr/bin/env bash
# Build tokenaudit with candle's CUDA backend on a machine without a system CUDA toolkit,
# following ../shared/GPU.md: the toolkit comes from NVIDIA's CUDA 13 Python wheels.
#
#   scripts/build-cuda.sh            # -> target/release/tokenaudit (with --features cuda)
#
# Then carry the binary to the GPU machine and run it with
#   LD_LIBRARY_PATH=$(cat target/cuda-toolkit/ld_library_path) ./tokenaudit verify ... --device cuda
# (the toolkit folder must be carried too, or the wheels installed there the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
TK=${CUDA_TOOLKIT_DIR:-$PWD/target/cuda-toolkit}
mkdir -p "$TK"
if [ ! -f "$TK/.installed" ]; then
    python3 -m pip install --quiet --target "$TK" \
        nvidia-cuda-nvcc nvidia-cuda-crt nvidia-nvvm nvidia-cuda-runtime nvidia-cuda-cccl \
        nvidia-cublas nvidia-curand nvidia-cuda-nvrtc
    touch "$TK/.installed"
fi
NV="$TK/nvidia"
# The wheels unpack into nvidia/<part>/; gather them into one toolkit-like tree.
ROOT="$TK/root"
mkdir -p "$ROOT/bin" "$ROOT/lib64" "$ROOT/include"
for d in "$NV"/*/ "$NV"/cu*/; do
    [ -d "$d" ] || continue
    [ -d "$d/bin" ] && cp -rsf "$d/bin/." "$ROOT/bin/" 2>/dev/null || true
    [ -d "$d/include" ] && cp -rsf "$d/include/." "$ROOT/include/" 2>/dev/null || true
    for lib in lib lib64; do
        [ -d "$d/$lib" ] && cp -rsf "$d/$lib/." "$ROOT/lib64/" 2>/dev/null || true
    done
    [ -d "$d/nvvm" ] && cp -rsf "$d/nvvm" "$ROOT/" 2>/dev/null || true
done
chmod +x "$ROOT"/bin/* 2>/dev/null || true
# Unversioned .so links where only libX.so.13 exists, and a stub libcuda for the linker.
for f in "$ROOT"/lib64/*.so.*; do
    base="${f%%.so.*}.so"
    [ -e "$base" ] || ln -s "$(basename "$f")" "$base"
done
if [ ! -e "$ROOT/lib64/libcuda.so" ]; then
    stub=$(find "$TK" -name 'libcuda.so' -path '*stubs*' | head -1)
    if [ -n "$stub" ]; then ln -s "$stub" "$ROOT/lib64/libcuda.so"; else
        echo 'void cuGetErrorString(void){}' | gcc -shared -x c - -o "$ROOT/lib64/libcuda.so"
    fi
fi
export PATH="$ROOT/bin:$PATH" CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT" CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export LIBRARY_PATH="$ROOT/lib64:${LIBRARY_PATH:-}"
find "$NV" -type d -name lib -o -type d -name lib64 | tr '\n' ':' > "$TK/ld_library_path"
cargo build --release --features cuda
echo "built target/release/tokenaudit with CUDA (compute cap $CUDA_COMPUTE_CAP)"
