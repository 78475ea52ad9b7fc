"""Hand-written lm-eval output folders, a stand-in task and a fake model for the report/sweep tests."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from parallelbench_lmeval.stats import DecodedText

FAKE_MODEL = "pb-fake-list"
STANDIN_TASK = "pb_report_standin"


def write_run(root: Path, model: str, engine: str, model_args, gen_kwargs, tasks: dict, date: str,
              items: dict | None = None, limit: float | None = None, scored_with: dict | None = None,
              metrics: dict | None = None) -> Path:
    """An lm-eval output folder `root/<model>/results_<date>.json` (+ samples files).

    tasks: {task: (accuracy fraction, tokens per step or None, max_gen_toks)}
    items: {task: [(doc_id, score, tokens per step or None)]}
    limit: the run's `--limit`, recorded as lm-eval does (a float; the tasks have 100 items)
    scored_with: {task: record} what scored a Text Writing task, as task_yamls/utils.py records it
    metrics: {task: {metric: value}} further metrics of the task (e.g. dec_order_kendall)
    """
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    results, configs = {}, {}
    for task, (accuracy, tps, gen_length) in tasks.items():
        results[task] = {"alias": task, "pb_acc,none": accuracy, "pb_acc_stderr,none": 0.01}
        if tps is not None:
            results[task]["tokens_per_step,none"] = tps
        results[task].update({f"{name},none": value for name, value in (metrics or {}).get(task, {}).items()})
        configs[task] = {"task": task, "output_type": "generate_until",
                         "generation_kwargs": {"until": [], "max_gen_toks": gen_length}}
        if scored_with and task in scored_with:
            configs[task]["dataset_kwargs"] = {"scored_with": scored_with[task]}
    config = {"model": engine, "model_args": model_args, "gen_kwargs": gen_kwargs,
              "limit": None if limit is None else float(limit)}
    # lm-eval's rule: below 1 a fraction of the items, else a count
    effective = 100 if limit is None else min(100, math.ceil(100 * limit) if limit < 1 else int(limit))
    if engine == "dllm":
        config["dllm"] = {"pretrained": model, "family": "llada", "package_version": "0.2.0", "revision": "abc123"}
    payload = {
        "results": results,
        "groups": {},
        "configs": configs,
        "versions": {task: 1.0 for task in tasks},
        "n-samples": {task: {"original": 100, "effective": effective} for task in tasks},
        "config": config,
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
    }
    path = folder / f"results_{date}.json"
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    for task, rows in (items or {}).items():
        with open(folder / f"samples_{task}_{date}.jsonl", "w", encoding="utf-8") as handle:
            for doc_id, score, tps in rows:
                row = {"doc_id": doc_id, "doc": {}, "target": "", "filter": "none",
                       "metrics": ["pb_acc", "tokens_per_step"], "pb_acc": score}
                if tps is not None:
                    row["tokens_per_step"] = tps
                handle.write(json.dumps(row) + "\n")
    return path


def write_standin_task(folder: Path, items: int = 4) -> Path:
    """A generate_until task reporting `pb_acc` and the model's tokens per step (like the real tasks)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "items.jsonl"
    data.write_text("".join(json.dumps({"names": f"n{i}", "answer": '["a", "b"]' if i % 2 else "[]"}) + "\n"
                            for i in range(items)), encoding="utf-8")
    (folder / "utils.py").write_text(textwrap.dedent('''
        from parallelbench_lmeval.stats import decode_stats

        def process_results(doc, results):
            stats = decode_stats(results[0])
            return {"pb_acc": float(results[0].strip() == doc["answer"]),
                    "tokens_per_step": stats.get("tokens_per_step", 1.0)}
    '''), encoding="utf-8")
    (folder / f"{STANDIN_TASK}.yaml").write_text(textwrap.dedent(f'''
        task: {STANDIN_TASK}
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {data}
        test_split: test
        output_type: generate_until
        doc_to_text: "Names: {{{{names}}}}\\nAnswer:"
        doc_to_target: "{{{{answer}}}}"
        generation_kwargs:
          until: []
          max_gen_toks: 32
        process_results: !function utils.process_results
        metric_list:
          - metric: pb_acc
            aggregation: mean
            higher_is_better: true
          - metric: tokens_per_step
            aggregation: mean
            higher_is_better: true
    '''), encoding="utf-8")
    return folder


@register_model(FAKE_MODEL)
class FakeListLM(LM):
    """Answers every request with the same list; reports k (or 1) tokens per step like `dllm` does.

    `crash_after`: the number of generate_until calls (one per configuration) before it raises,
    standing in for a sweep killed midway.
    """

    calls = 0
    crash_after: int | None = None

    def __init__(self, pretrained: str = "fake", answer: str = '["a", "b"]', **_ignored):
        super().__init__()
        self.answer = answer

    def generate_until(self, requests, disable_tqdm: bool = False):
        if FakeListLM.crash_after is not None and FakeListLM.calls >= FakeListLM.crash_after:
            raise KeyboardInterrupt("simulated kill")
        FakeListLM.calls += 1
        outputs = []
        for request in requests:
            k = float(request.args[1].get("k") or 1)
            outputs.append(DecodedText(self.answer, {"tokens_per_step": k, "nfe": 32 / k}))
        return outputs

    def get_model_info(self) -> dict:
        return {"dllm": {"pretrained": "fake"}}  # read by the report as a dllm run, as DiffusionLM's is

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError


def write_synthetic_benchmark(root: Path) -> dict:
    """A dLLM sweep (top-k, threshold with samples, semi-AR) and an `hf` run on all 17 tasks.

    Accuracy falls with tokens per step at a task-specific rate, so the figures have shape.
    Returns {"tasks": [...]} for the tests.
    """
    from parallelbench_lmeval.report.runs import LEADERBOARD_TASK_IDS

    tasks = list(LEADERBOARD_TASK_IDS)
    rate = {task: 0.04 + 0.02 * (i % 7) for i, task in enumerate(tasks)}
    date = iter(f"2025-01-01T00-00-{i:02d}.000000" for i in range(100))

    def accuracy(task, tps, bonus=0.0):
        return max(0.0, min(1.0, 1.0 - rate[task] * (tps - 1) + bonus))

    sweep = root / "sweep"
    for unmasking in ("random", "confidence", "margin", "left_to_right"):
        for k in (1, 2, 4, 8):
            gen = f"unmasking={unmasking},k={k}"
            write_run(sweep / f"{unmasking}_k{k}", "toy/dllm", "dllm", "pretrained=toy/dllm", gen,
                      {t: (accuracy(t, k, 0.02 * (unmasking == "confidence")), float(k), 32) for t in tasks}, next(date))
    for block in (4, 8, 16):
        for unmasking in ("random", "confidence"):
            gen = {"unmasking": unmasking, "k": 2, "block_length": block}
            write_run(sweep / f"{unmasking}_k2_block_length{block}", "toy/dllm", "dllm", "pretrained=toy/dllm", gen,
                      {t: (accuracy(t, 2, 0.1 - 0.01 * block), 2.0, 32) for t in tasks}, next(date))
    for threshold, tps in ((0.9, 2.0), (0.7, 4.0), (0.5, 8.0)):
        items = {t: [(i, float(i % 4 < 4 - tps / 2), tps + (i % 2)) for i in range(4)] for t in tasks}
        write_run(sweep / f"confidence_threshold{threshold}", "toy/dllm", "dllm", "pretrained=toy/dllm",
                  f"unmasking=confidence,threshold={threshold}",
                  {t: (sum(s for _, s, _ in items[t]) / 4, tps + 0.5, 32) for t in tasks}, next(date), items)
    write_run(root / "ar", "toy/ar", "hf", {"pretrained": "toy/ar", "dtype": "bfloat16"}, None,
              {t: (accuracy(t, 1, -0.05), None, 32) for t in tasks}, next(date))
    return {"tasks": tasks}
