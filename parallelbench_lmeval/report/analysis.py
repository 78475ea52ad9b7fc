"""The paper's summary numbers (SPEC §6), as pure functions over configurations.

Accuracies are percentages here (the leaderboard's scale); tokens per step are plain numbers.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict

from parallelbench_lmeval.report.runs import (
    LEADERBOARD_TASK_IDS,
    TOPK_STRATEGIES,
    Configuration,
    is_adaptive,
)

logger = logging.getLogger(__name__)

PB_THRESHOLDS = (80, 75, 70)
# AUP's settings, the reference's defaults (d3LLM's leaderboard uses them): the weight's penalty
# for accuracy below the best, and how many accuracy points below the first point still count
AUP_ALPHA = 3.0
AUP_DROP = 5.0
# mean accuracies are sums of floats: 0.8 may come out as 79.99999999999999
_TOLERANCE = 1e-9


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def pb_score(points, threshold: float) -> float:
    """PBx: the largest tokens per step among (tokens per step, accuracy %) points whose accuracy ≥ x; 0 if none."""
    reaching = [tps for tps, accuracy in points if not math.isnan(tps) and accuracy >= threshold - _TOLERANCE]
    return max(reaching, default=0.0)


def pb_scores(points, thresholds=PB_THRESHOLDS) -> dict[str, float]:
    return {str(x): pb_score(points, x) for x in thresholds}


def pb_score_interpolated(points, threshold: float) -> float:
    """PBx as the public leaderboard computes it for adaptive strategies (ParallelBench's
    analysis/pb_score.py): configurations sorted by tokens per step (of equal ones the more
    accurate), the last one's tokens per step if it reaches x, else the tokens per step where the
    line between the last pair that crosses x from above meets x; 0 if none does."""
    deduplicated: dict[float, float] = {}
    for tps, accuracy in points:
        if not math.isnan(tps):
            deduplicated[tps] = max(accuracy, deduplicated.get(tps, -math.inf))
    ordered = sorted(deduplicated.items())
    if not ordered:
        return 0.0
    if ordered[-1][1] >= threshold - _TOLERANCE:
        return ordered[-1][0]
    for (tps_low, accuracy_low), (tps_high, accuracy_high) in reversed(list(zip(ordered, ordered[1:]))):
        if accuracy_low >= threshold - _TOLERANCE and threshold > accuracy_high:
            return tps_low + (accuracy_low - threshold) / (accuracy_low - accuracy_high) * (tps_high - tps_low)
    return 0.0


def aup_weight(accuracy: float, best: float, alpha: float = AUP_ALPHA) -> float:
    """AUP's quality weight W(y) = min(exp(-alpha (1 - y / y_max)), 1): 1 at the best accuracy."""
    return min(math.exp(-alpha * (1 - accuracy / best)), 1.0)


def aup(points, best: float, alpha: float = AUP_ALPHA, drop: float = AUP_DROP) -> float:
    """AUP, accuracy under parallelism (d3LLM, Qian et al. 2026; hao-ai-lab/d3LLM
    `AUP_leaderboard/aup_utils.py`), of (tokens per step, accuracy %) points against `best`, the
    best accuracy (%) of every method compared on the task (y_max).

    Points sorted by tokens per step rho; those below y_1 - `drop` (y_1: the accuracy of the least
    parallel point) are left out; then AUP = rho_1 y_1 + the trapezoid sum of y W(y) over the rest:
    sum_i (rho_i - rho_{i-1}) (y_i W(y_i) + y_{i-1} W(y_{i-1})) / 2. Of points with equal tokens
    per step the most accurate counts (the reference keeps them all, in input order, which makes
    its result depend on that order). nan without a point.
    """
    curve: dict[float, float] = {}
    for tps, accuracy in points:
        if tps > 0 and not math.isnan(accuracy):  # nan tps (nothing decoded) fails tps > 0 too
            curve[tps] = max(accuracy, curve.get(tps, -math.inf))
    ordered = sorted(curve.items())
    if not ordered:
        return math.nan
    floor = ordered[0][1] - drop - _TOLERANCE  # accuracies are means: 75 may come out a rounding error below
    kept = [(tps, accuracy) for tps, accuracy in ordered if accuracy >= floor]

    def weighted(accuracy: float) -> float:
        return accuracy * aup_weight(accuracy, best, alpha) if accuracy else 0.0  # best may be 0 then

    area = kept[0][0] * kept[0][1]
    for (tps_low, accuracy_low), (tps_high, accuracy_high) in zip(kept, kept[1:]):
        area += (tps_high - tps_low) * (weighted(accuracy_high) + weighted(accuracy_low)) / 2
    return area


def center_of_mass(ks, scores) -> float:
    """Parallelizability (paper App. G.1): Σ k·score_k / Σ score_k; nan when every score is 0."""
    total = sum(scores)
    return sum(k * s for k, s in zip(ks, scores)) / total if total > 0 else math.nan


def slope(xs, ys) -> float:
    """Least-squares slope of ys against xs; nan with fewer than two distinct xs."""
    x_mean, y_mean = mean(xs), mean(ys)
    spread = sum((x - x_mean) ** 2 for x in xs)
    if len(set(xs)) < 2 or spread == 0:
        return math.nan
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys)) / spread


def oracle_items(runs: list[dict]) -> tuple[float, float, int]:
    """Oracle of one task over a threshold sweep (paper Fig. 7).

    `runs`: one {doc_id: (score, tokens per step)} per threshold. Per item: its best score over
    the sweep, and the largest tokens per step of a run reaching that score. Returns the mean
    score (fraction), the mean tokens per step and the number of items present in every run.
    """
    common = set.intersection(*(set(run) for run in runs)) if runs else set()
    best_scores, best_tps = [], []
    for doc_id in common:
        outcomes = [run[doc_id] for run in runs]
        best = max(score for score, _ in outcomes)
        best_scores.append(best)
        best_tps.append(max(tps for score, tps in outcomes if score >= best - _TOLERANCE))
    return mean(best_scores), mean(best_tps), len(common)


# ---------------------------------------------------------------- over configurations


def benchmark_tasks(configurations: list[Configuration]) -> list[str]:
    """The tasks averaged: the leaderboard tasks these configurations ran, in the leaderboard's order
    (every task they ran, sorted, when none is a leaderboard task)."""
    present = {task for configuration in configurations for task in configuration.tasks}
    return [task for task in LEADERBOARD_TASK_IDS if task in present] or sorted(present)


def average_point(configuration: Configuration, tasks: list[str]) -> tuple[float, float] | None:
    """(mean tokens per step, mean accuracy %) over `tasks`; None when a task is missing."""
    if not tasks or any(task not in configuration.tasks for task in tasks):
        return None
    results = [configuration.tasks[task] for task in tasks]
    return mean(r.tokens_per_step for r in results), mean(100 * r.accuracy for r in results)


def _grouped(configurations: list[Configuration], field: str) -> dict[str, list[Configuration]]:
    """Configurations grouped by one of their fields, in order of first appearance."""
    grouped: dict[str, list[Configuration]] = defaultdict(list)
    for configuration in configurations:
        grouped[getattr(configuration, field)].append(configuration)
    return dict(grouped)


def by_model(configurations: list[Configuration]) -> dict[str, list[Configuration]]:
    return _grouped(configurations, "model")


def by_strategy(configurations: list[Configuration]) -> dict[str, list[Configuration]]:
    return _grouped(configurations, "strategy")


def strategy_summary(configurations: list[Configuration], tasks: list[str], thresholds=PB_THRESHOLDS) -> dict:
    """PBx of one model and strategy over every configuration tried (block lengths, thresholds...).

    Runs made with `--limit` count (each listed configuration carries its `limit`, and `limited`
    says whether any did), so that a quick limited sweep still gets numbers.
    """
    points, listed = [], []
    for configuration in configurations:
        point = average_point(configuration, tasks)
        if point is None:
            missing = sorted(set(tasks) - set(configuration.tasks))
            logger.warning("%s %s (%s) lacks %s: left out of the averages",
                           configuration.model, configuration.strategy, configuration.label, ", ".join(missing))
            continue
        points.append(point)
        listed.append({"config": configuration.label, "options": configuration.options,
                       "tokens_per_step": point[0], "accuracy": point[1], "limit": configuration.limit})
    listed.sort(key=lambda entry: (entry["tokens_per_step"], tuple(entry["options"].items())))  # 0.9 before 1
    adaptive = any(is_adaptive(configuration.options) for configuration in configurations)
    public_rule = pb_score_interpolated if adaptive else pb_score
    return {
        **{f"PB{x}": pb_score(points, x) for x in thresholds},
        # the public leaderboard's numbers: interpolated between configurations for adaptive strategies
        "leaderboard": {str(x): public_rule(points, x) for x in thresholds},
        "limited": any(entry["limit"] is not None for entry in listed),
        "configurations": listed,
    }


def best_accuracies(configurations: list[Configuration]) -> dict[str, float]:
    """AUP's y_max per task: the best accuracy (%) any configuration of the report reached on it,
    whatever its model or strategy (the reference takes the best of every method it compares)."""
    best: dict[str, float] = {}
    for configuration in configurations:
        for task, result in configuration.tasks.items():
            if not math.isnan(result.accuracy):
                best[task] = max(100 * result.accuracy, best.get(task, -math.inf))
    return best


def strategy_aup(configurations: list[Configuration], tasks: list[str], best: dict[str, float]) -> dict:
    """AUP of one model and strategy: per task over its configurations that ran every task (as
    PBx), then the unweighted mean over the tasks (as d3LLM's leaderboard averages its tasks)."""
    complete = [c for c in configurations if tasks and all(task in c.tasks for task in tasks)]
    per_task = {
        task: aup([(c.tasks[task].tokens_per_step, 100 * c.tasks[task].accuracy) for c in complete],
                  best.get(task, math.nan))
        for task in tasks
    } if complete else {}
    return {"AUP": mean(per_task.values()), "AUP_tasks": per_task}


def oracle_point(configurations: list[Configuration], tasks: list[str]) -> dict | None:
    """Fig. 7's star for one model's sweep of an adaptive strategy (thresholds in the paper):
    per-task oracles, then their unweighted mean."""
    per_task = {}
    for task in tasks:
        runs = [c.tasks[task].item_scores() for c in configurations if task in c.tasks]
        if runs:
            accuracy, tps, items = oracle_items(runs)
            per_task[task] = {"accuracy": 100 * accuracy, "tokens_per_step": tps, "items": items}
    if not per_task:
        return None
    return {
        "accuracy": mean(entry["accuracy"] for entry in per_task.values()),
        "tokens_per_step": mean(entry["tokens_per_step"] for entry in per_task.values()),
        "configurations": sorted(c.label for c in configurations),
        "tasks": per_task,
    }


def _topk_runs(configurations: list[Configuration]) -> dict[tuple[str, str], list[Configuration]]:
    """(model, strategy) -> the fixed-k any-order configurations of the four top-k strategies."""
    grouped = defaultdict(list)
    for c in configurations:
        if c.strategy in TOPK_STRATEGIES.values() and not is_adaptive(c.options):
            grouped[(c.model, c.strategy)].append(c)
    return grouped


def characterize_tasks(configurations: list[Configuration]) -> dict[str, dict]:
    """Fig. 6 coordinates per task, averaged over models and the four top-k strategies.

    parallelizability: center of mass of accuracy over k (any-order top-k runs; k as configured,
    not as measured, so that models whose canvas is not in tokens, like the ideal model, compare). order_preference: minus the slope of accuracy (%) against block length at k = 2
    (the whole canvas counts as one block), so that positive means shorter blocks, i.e. a more
    left-to-right order, help, as the paper's y-axis reads.
    """
    collected: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"parallelizability": [], "slope": []})
    for runs in _topk_runs(configurations).values():
        for task in sorted({t for c in runs for t in c.tasks}):
            with_task = [c for c in runs if task in c.tasks]
            any_order = {c.nominal_k(task): c.tasks[task].accuracy for c in with_task if not c.semi_autoregressive}
            if len(any_order) >= 2:
                com = center_of_mass(list(any_order), list(any_order.values()))
                if not math.isnan(com):
                    collected[task]["parallelizability"].append(com)
            at_two = {c.block_length(task): 100 * c.tasks[task].accuracy for c in with_task if c.nominal_k(task) == 2}
            fitted = slope(list(at_two), list(at_two.values()))
            if not math.isnan(fitted):
                collected[task]["slope"].append(fitted)
    characterization = {}
    for task, values in collected.items():
        fitted = mean(values["slope"])
        characterization[task] = {
            "parallelizability": mean(values["parallelizability"]),
            "slope": fitted,
            "order_preference": 0.0 - fitted,  # no "-0.0" for a flat line
            "runs": len(values["parallelizability"]),
        }
    return characterization
