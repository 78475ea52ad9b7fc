"""Benchmark items of any size, drawn reproducibly from a seed, in the released items' format.

- `sources`: the released name pool, word pools and Latin Square symbols the generators draw from
- `families`: what can be generated (task, size range, canvas) and the generated task names
- `items`: the generators, and the check that keeps generated items off the released ones
- `lm_eval_tasks`: generated task names resolved by lm-eval's TaskManager, and task folders
- `training`: chat-format prompt/answer records for fine-tuning and RL, with their manifest
- `cli`: `parallelbench generate`

This module imports nothing heavy: the task-name hook of `registration` loads it at lm-eval's start.
"""
