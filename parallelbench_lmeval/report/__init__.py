"""Sweeps over decoding configurations, and reports built from lm-eval results folders.

- `sweep`: one model, a grid of decoding configurations, one lm-eval results folder each.
- `runs`: reads lm-eval output folders (any model: `dllm` sweeps, `hf` runs, ...).
- `analysis`: the paper's numbers (PBx, oracle, parallelizability, order preference).
- `leaderboard`, `tables`, `plots`: the files the report writes; `cli`: `parallelbench report`.
"""
