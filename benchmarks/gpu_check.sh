#!/usr/bin/env bash
# GPU check, about 5 minutes, installing nothing: run it on a machine with a CUDA
# GPU and this project installed (skada too, for the comparison), from anywhere:
#
#     bash benchmarks/gpu_check.sh
#
# 1. Training throughput of MMD and DANN on the GPU, fp32 and AMP (precision="amp"),
#    on the DeepMerge network and simulated-size images, against skada's DAN and
#    DANN on the same GPU (bench_training.py; skada is skipped if not installed).
# 2. CPU and GPU fits of one seed agree in target accuracy within 0.02 on the
#    built-in simulator (gpu_agreement.py), for MMD and DANN, fp32 and AMP.
#
# Exit status: 0 when both parts ran and agreed, 1 when one failed, 2 without CUDA.
set -uo pipefail
cd "$(dirname "$0")"
if ! python -c "import skdamerge, torch"; then
    echo "skdamerge or torch is not importable: install the project first"
    exit 2
fi
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"
then
    echo "no CUDA device: the GPU check was not run"
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
echo "== training throughput on the GPU (images/s; skdamerge against skada)"
timeout 150 python bench_training.py --device cuda --precision fp32 amp \
    --methods mmd dann --n 2048 --repeats 2 || status=1
echo "== CPU and GPU fits of one seed"
timeout 150 python gpu_agreement.py || status=1
exit "$status"
