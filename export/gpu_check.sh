#!/usr/bin/env bash
# Export checks that need an NVIDIA GPU (and TensorRT where installed): numbers only; GPU timings come from
# `pcan bench --device cuda` (benchmarks/). From the repo root:
#   bash export/gpu_check.sh [OUT_DIR]
# Needs python3 with torch (CUDA), onnx, onnxruntime, typer, rich, decord, opencv; the NTU sample via
# PCAN_SAMPLE_DIR (else shared/data/ntu60_sample beside the repo; without it, random inputs only).
set -uo pipefail
out=${1:-${OUT:-gpu_check_out}}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
"$py" -m export.gpu_check --out "$out" 2>&1 | tee "$out/gpu_check.log" || status=1
"$py" -m pytest -q -p no:cacheprovider -rs tests/test_export_tensorrt.py 2>&1 | tee "$out/pytest_tensorrt.log" \
  || status=1
echo "gpu_check: exit $status (results in $out)"
exit $status
