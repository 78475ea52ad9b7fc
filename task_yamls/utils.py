"""lm-eval glue for ParallelBench: load the released items, give each its own one-shot example, score outputs.

The scoring itself lives in `parallelbench_lmeval.scoring`; this file only maps items and
outputs onto it. Items ship in `data/` beside this file (the released benchmark, unchanged).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import datasets
import yaml
from lm_eval.api.samplers import ContextSampler

from parallelbench_lmeval.lm_eval_logs import quiet_custom_dataset_notice
from parallelbench_lmeval.scoring import grammar as grammar_checks
from parallelbench_lmeval.scoring import lists, puzzles, text
from parallelbench_lmeval.scoring.scorers import scorers_record, warn_if_not_comparable
from parallelbench_lmeval.stats import decode_stats

DATA_DIR = Path(__file__).resolve().parent / "data"
quiet_custom_dataset_notice()  # lm-eval's notice for every task built by a Python function: ours all are
# Text Writing: the released metric name -> the task's scores (besides `pb_acc`, which is the grammar score).
TEXT_WRITING_SCORES = {
    "summary_score": ("grammar", "rougeL", "rouge1", "rouge2", "score"),
    "paraphrase_score": ("grammar", "bertscore", "inv_bleu", "score"),
    "sentence_to_words_score": ("grammar", "inclusion", "score"),
}


@cache
def released_config(released_task: str) -> dict:
    """The released `task_config.yaml` entry, e.g. `waiting_line/copy` (prompt template, metric name)."""
    folder = released_task.split("/")[0]
    configs = yaml.safe_load((DATA_DIR / folder / "task_config.yaml").read_text())
    if released_task not in configs:
        raise ValueError(f"unknown released task {released_task!r}; allowed: {', '.join(sorted(configs))}")
    return configs[released_task]


def render_prompt(template: str, fields: dict) -> str:
    """`str.format` with the item's input; templates storing `\\n` literally (Sudoku) get real newlines after."""
    prompt = template.format(**fields)
    return prompt.replace("\\n", "\n") if "\\n" in template else prompt


def answer_text(answer) -> str:
    """The answer as the model should write it: the string, or an object answer's `example` field."""
    return answer if isinstance(answer, str) else answer.get("example", "")


def reference_text(item: dict) -> str:
    """What the log shows as the target: the gold answer, summary, source sentence or example sentence."""
    answer = item["answer"]
    if isinstance(answer, str):
        return answer
    return answer.get("example") or answer.get("summary") or answer.get("text") or ", ".join(answer.get("words", []))


def item_to_doc(item: dict, template: str, metric: str) -> dict:
    examples = item["input"].get("icl_examples") or []
    example = examples[0] if examples else None
    return {
        "question": render_prompt(template, item["input"]),
        "answer": reference_text(item),
        "example_question": render_prompt(template, example["input"]) if example else "",
        "example_answer": answer_text(example["answer"]) if example else "",
        "metric": metric,
        "item": json.dumps(item),
    }


def load_items(
    released_task: str,
    scorers: str | None = None,
    grammar: str | None = None,
    languagetool_url: str | None = None,
    bertscore_model: str | None = None,
    bertscore_num_layers: int | None = None,
    scored_with: dict | None = None,
    **_metadata,
) -> datasets.DatasetDict:
    """`custom_dataset` of every task: the released items as one `test` split.

    lm-eval calls it while building the task, before any generation, so the scorers a task
    needs (grammar checker, BERTScore model) are started here and a missing one fails the run
    early. `scorers`, `grammar`, `languagetool_url`, `bertscore_model`, `bertscore_num_layers`
    come from `--metadata` (environment variables otherwise); other metadata (model args,
    version) is ignored. `scored_with` is the Text Writing YAMLs' `dataset_kwargs` entry: it is
    filled with the scorers in use (`scorers_record`), and lm-eval writes the task's
    config, this dict included, into the results JSON.
    """
    config = released_config(released_task)
    metric = config["metric"]
    lines = (DATA_DIR / f"{released_task}.jsonl").read_text().splitlines()
    docs = [item_to_doc(json.loads(line), config["prompt"], metric) for line in lines if line.strip()]
    if metric in TEXT_WRITING_SCORES:
        backend, url = grammar_checks.grammar_settings(grammar, languagetool_url, scorers)
        bertscore = text.bertscore_settings(bertscore_model, bertscore_num_layers, scorers) if metric == "paraphrase_score" else None
        grammar_checks.issue_counter(backend, url)
        if bertscore is not None:
            text.bertscorer(*bertscore)
        record = scorers_record(backend, url, bertscore)
        warn_if_not_comparable(record)
        if scored_with is not None:
            scored_with.clear()
            scored_with.update(record)
        for doc in docs:
            doc.update(grammar_backend=backend, languagetool_url=url)
            if bertscore is not None:
                doc.update(bertscore_model=bertscore[0], bertscore_num_layers=bertscore[1])
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


class OwnExampleSampler(ContextSampler):
    """One-shot from the item itself: fewshot_config reads its `example_question`/`example_answer`.

    Each released item carries its own example, so the "sampled" shot is the test doc; it
    needs `fewshot_config.split` equal to `test_split` so lm-eval passes that doc in.
    """

    def sample(self, n, eval_doc=None, df=None, **kwargs):
        if n != 1:
            raise ValueError(f"ParallelBench items carry exactly one example of their own: num_fewshot must be 0 or 1, got {n}")
        if eval_doc is None or not eval_doc.get("example_question"):
            raise ValueError("OwnExampleSampler needs the test item (fewshot_config.split = test_split) and an item with an example")
        return [eval_doc]


def item_scores(output: str, doc: dict) -> dict[str, float]:
    """Every metric of the task for one decoded output (SPEC §3), plus `pb_acc`, the leaderboard accuracy."""
    item = json.loads(doc["item"])
    answer, metric = item["answer"], doc["metric"]
    if metric in lists.WAITING_LINE_RULES:
        if isinstance(answer, str):
            gold, original, new = lists.parse_list(answer), [], ""
        else:
            gold, original, new = [], answer["input"], answer.get("word", "")
        scores = lists.waiting_line_scores(output, metric, gold, original, new)
        return scores | {"pb_acc": scores["score"]}
    if metric == "latin_square_score":
        score = puzzles.latin_square_score(output, answer["symbols"])
        return {"score": score, "pb_acc": score}
    if metric == "sudoku_score":
        score = puzzles.sudoku_score(output, answer)
        return {"score": score, "pb_acc": score}
    if metric not in TEXT_WRITING_SCORES:
        raise ValueError(f"unknown ParallelBench metric {metric!r}")
    output = output.strip()
    if not output or text.beyond_scoring_bound(output):
        return dict.fromkeys((*TEXT_WRITING_SCORES[metric], "pb_acc"), 0.0)
    grammar_ok = grammar_checks.grammar_score(output, doc["grammar_backend"], doc["languagetool_url"])
    scores = {"grammar": grammar_ok, "pb_acc": grammar_ok}
    if metric == "summary_score":
        rouge = text.rouge_scores(output, answer["summary"])
        return scores | rouge | {"score": rouge["rougeL"] * grammar_ok}
    if metric == "sentence_to_words_score":
        inclusion = float(text.includes_all(output, answer["words"]))
        return scores | {"inclusion": inclusion, "score": inclusion * grammar_ok}
    source = answer["text"]
    scorer = text.bertscorer(doc["bertscore_model"], doc["bertscore_num_layers"])
    similarity = text.bertscore_f1(output, source, scorer)
    inv_bleu = 1.0 - text.sentence_bleu(output, source)
    return scores | {"bertscore": similarity, "inv_bleu": inv_bleu, "score": inv_bleu * similarity * grammar_ok}


def process_results(doc: dict, results: list) -> dict[str, float]:
    """lm-eval hook: the task's scores, plus the decoding statistics the `dllm` model attached (if any)."""
    output = results[0]
    return item_scores(str(output), doc) | decode_stats(output)
