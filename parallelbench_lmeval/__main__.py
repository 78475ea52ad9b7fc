"""`python -m parallelbench_lmeval ARGS` (or `accelerate launch -m parallelbench_lmeval ARGS`) runs
lm-eval's own command line with `dllm` and the ParallelBench tasks registered."""

from parallelbench_lmeval.cli import run_lm_eval

if __name__ == "__main__":
    run_lm_eval()
