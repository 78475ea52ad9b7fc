#!/usr/bin/env bash
# The paper's decoding grids on the ideal model of Section 4 (`--model dllm --model_args pretrained=ideal`),
# and of every other method (WINO, SlowFast, KLASS, DUS, EB, PC, RCR, ReMDM), over the Waiting Line and
# Puzzle tasks, then the full report. Offline, CPU only: 79 s and 43 MB for the 109 configurations and the
# report, measured with `bash examples/ideal_sweep.sh results/ideal_sweep examples/report` on the 2-core
# development machine at load average 0.8 (2026-12-03). Add --log_samples to a sweep below for lm-eval's
# samples files (about 4 MB per configuration).
#
#   bash examples/ideal_sweep.sh [RESULTS_DIR] [REPORT_DIR]
#
# Defaults: results in results/ideal_sweep/, report in results/ideal_sweep_report/ (both git-ignored; the
# committed examples/report/ is what `bash examples/ideal_sweep.sh results/ideal_sweep examples/report` writes).
# Interrupted? Run it again: finished configurations are skipped.
set -euo pipefail

RESULTS=${1:-results/ideal_sweep}
REPORT=${2:-results/ideal_sweep_report}
PYTHON=${PYTHON:-python}
export HF_DATASETS_OFFLINE=1

common=(--model dllm --model_args pretrained=ideal
        --tasks parallelbench_waiting_line,parallelbench_puzzle
        --output_path "$RESULTS" --bootstrap_iters 0)

# top-k (k = 1..32) for every strategy, confidence threshold 0.5..1.0, confidence factor 0.7..1.9
"$PYTHON" -m parallelbench_lmeval.cli sweep "${common[@]}" --grid topk --grid threshold --grid factor
# semi-autoregressive block lengths at k = 2 (paper Fig. 5; the y-axis of Fig. 6)
"$PYTHON" -m parallelbench_lmeval.cli sweep "${common[@]}" --grid semi_ar --unmasking random,confidence \
    --block_lengths 2,4,8,16
# the other methods the leaderboard ranks, and the paper's remasking samplers
"$PYTHON" -m parallelbench_lmeval.cli sweep "${common[@]}" --grid wino --grid wino_plain --grid slowfast --grid klass \
    --grid dus --grid eb --grid pc --grid rcr --grid remdm
"$PYTHON" -m parallelbench_lmeval.cli report "$RESULTS" --out "$REPORT"
