"""The report's figures (PNG): accuracy versus tokens per step (paper Figs. 3 and 7), accuracy versus
block length (Fig. 5) and the task characterization scatter (Fig. 6)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter  # noqa: E402

from parallelbench_lmeval.report.analysis import average_point, benchmark_tasks, by_model  # noqa: E402
from parallelbench_lmeval.report.runs import (  # noqa: E402
    AUTOREGRESSIVE,
    DLLM_ENGINE,
    LEADERBOARD_TASK_IDS,
    Configuration,
    is_adaptive,
    model_slug,
    short_task_name,
)

STRATEGY_COLORS = {
    "random": "#6b7280",
    "l2r": "#dc2626",
    "confidence-topk": "#2563eb",
    "entropy-topk": "#059669",
    "topk-margin": "#d97706",
    "confidence-threshold": "#7c3aed",
    "confidence-factor": "#db2777",
}
MODEL_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
AR_MARKERS = ["*", "P", "X", "h", "v"]
FAMILY_COLORS = {"waitingline": "#2563eb", "textwriting": "#059669", "puzzles": "#d97706", "other": "#6b7280"}
DPI = 150


def _color(strategy: str, fallback: dict) -> str:
    return STRATEGY_COLORS.get(strategy) or fallback.setdefault(strategy, f"C{len(fallback) % 10}")


def _log2_axis(ax, values) -> None:
    """Tokens per step on a log2 axis with plain-number ticks at the powers of two it spans."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    ax.set_xscale("log", base=2)
    if finite:
        low, high = math.floor(math.log2(min(finite))), math.ceil(math.log2(max(finite)))
        ax.xaxis.set_major_locator(FixedLocator([2.0**e for e in range(low, max(high, low + 1) + 1)]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())


class _Styles:
    """Colours by strategy, line styles by model, markers for autoregressive models: stable per report."""

    def __init__(self, configurations: list[Configuration]):
        models = list(by_model([c for c in configurations if c.engine == DLLM_ENGINE]))
        ar_models = list(by_model([c for c in configurations if c.engine != DLLM_ENGINE]))
        self.model_style = {m: MODEL_STYLES[i % len(MODEL_STYLES)] for i, m in enumerate(models)}
        self.ar_marker = {m: AR_MARKERS[i % len(AR_MARKERS)] for i, m in enumerate(ar_models)}
        self.several_models = len(models) > 1
        self.extra_colors: dict = {}

    def line_label(self, model: str, strategy: str) -> str:
        return f"{model} · {strategy}" if self.several_models else strategy


def _curves(configurations: list[Configuration], point_of) -> tuple[dict, list]:
    """{(model, strategy): sorted [(tps, acc)]} for any-order dLLM runs; [(model, tps, acc)] for the others."""
    curves, references = defaultdict(list), []
    for c in configurations:
        point = point_of(c)
        if point is None or math.isnan(point[0]) or math.isnan(point[1]):
            continue
        if c.engine != DLLM_ENGINE:
            references.append((c.model, *point))
        elif not c.semi_autoregressive:
            curves[(c.model, c.strategy)].append(point)
    return {key: sorted(points) for key, points in curves.items()}, references


def _draw(ax, styles: _Styles, curves: dict, references: list) -> list[float]:
    xs = []
    for (model, strategy), points in sorted(curves.items()):
        linestyle, marker = styles.model_style[model]
        ax.plot([p[0] for p in points], [p[1] for p in points], linestyle=linestyle, marker=marker, markersize=4,
                color=_color(strategy, styles.extra_colors), label=styles.line_label(model, strategy))
        xs += [p[0] for p in points]
    for model, tps, accuracy in references:
        ax.scatter([tps], [accuracy], marker=styles.ar_marker[model], s=90, color="black", zorder=5,
                   label=f"{model} ({AUTOREGRESSIVE})")
        xs.append(tps)
    _log2_axis(ax, xs)
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    return xs


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _task_point(task: str):
    def point_of(c: Configuration):
        result = c.tasks.get(task)
        return None if result is None else (result.tokens_per_step, 100 * result.accuracy)

    return point_of


def _all_tasks(configurations: list[Configuration]) -> list[str]:
    present = {t for c in configurations for t in c.tasks}
    return [t for t in LEADERBOARD_TASK_IDS if t in present] + sorted(present - set(LEADERBOARD_TASK_IDS))


def accuracy_vs_tokens_per_step(out: Path, configurations: list[Configuration]) -> list[Path]:
    """One PNG per task, and one grid of every task (paper Fig. 3)."""
    styles, written = _Styles(configurations), []
    tasks = _all_tasks(configurations)
    for task in tasks:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        _draw(ax, styles, *_curves(configurations, _task_point(task)))
        ax.set(title=short_task_name(task), xlabel="tokens per step", ylabel="accuracy (%)")
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        written.append(_save(fig, out / f"accuracy_vs_tps_{short_task_name(task)}.png"))
    if tasks:
        columns = min(4, len(tasks))
        rows = math.ceil(len(tasks) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.0 * rows), squeeze=False)
        legend = {}
        for ax, task in zip(axes.flat, tasks):
            _draw(ax, styles, *_curves(configurations, _task_point(task)))
            ax.set_title(short_task_name(task), fontsize=10)
            legend.update(zip(*reversed(ax.get_legend_handles_labels())))
        for ax in axes.flat:
            ax.set_xlabel("tokens per step", fontsize=9)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy (%)")
        for ax in list(axes.flat)[len(tasks):]:
            ax.set_visible(False)
        legend_rows = math.ceil(len(legend) / 4)
        fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(4, len(legend)), frameon=False)
        # keep the bottom free for the legend
        fig.tight_layout(rect=(0, 0.3 * legend_rows / (3.0 * rows), 1, 1))
        written.append(_save(fig, out / "accuracy_vs_tps_all_tasks.png"))
    return written


def average_accuracy_vs_tokens_per_step(out: Path, configurations: list[Configuration], summary: dict) -> Path | None:
    """Mean over the leaderboard tasks per configuration, with each threshold sweep's oracle (paper Fig. 7)."""
    styles = _Styles(configurations)
    curves, references = {}, []
    for configs in by_model(configurations).values():
        tasks = benchmark_tasks(configs)
        model_curves, model_references = _curves(configs, lambda c, tasks=tasks: average_point(c, tasks))
        curves.update(model_curves)
        references += model_references
    if not curves and not references:
        return None
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    xs = _draw(ax, styles, curves, references)
    for model, entry in summary["models"].items():
        for strategy, oracle in entry["oracle"].items():
            if oracle and oracle["tokens_per_step"] is not None:
                ax.scatter([oracle["tokens_per_step"]], [oracle["accuracy"]], marker="*", s=260, zorder=6,
                           color=_color(strategy, styles.extra_colors), edgecolors="black",
                           label=f"{styles.line_label(model, strategy)} oracle")
                xs.append(oracle["tokens_per_step"])
    _log2_axis(ax, xs)
    tasks_note = {len(entry["tasks"]) for entry in summary["models"].values()}
    count = f"{tasks_note.pop()} tasks" if len(tasks_note) == 1 else "the leaderboard tasks"
    ax.set(title=f"Mean accuracy over {count}", xlabel="tokens per step", ylabel="mean accuracy (%)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return _save(fig, out / "accuracy_vs_tps_avg.png")


def accuracy_vs_block_length(out: Path, configurations: list[Configuration]) -> list[Path]:
    """Per model: accuracy against the semi-AR block length at k = 2, one panel per strategy (paper Fig. 5)."""
    written = []
    for model, configs in by_model(configurations).items():
        panels = defaultdict(lambda: defaultdict(dict))  # strategy -> task -> {block length: accuracy}
        for c in configs:
            if c.engine == DLLM_ENGINE and not is_adaptive(c.options):
                for task, result in c.tasks.items():
                    if c.nominal_k(task) == 2:
                        panels[c.strategy][task][c.block_length(task)] = 100 * result.accuracy
        panels = {s: tasks for s, tasks in panels.items() if any(len(v) >= 2 for v in tasks.values())}
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
        for ax, (strategy, tasks) in zip(axes[0], sorted(panels.items())):
            lengths = []
            for i, task in enumerate(t for t in _all_tasks(configs) if t in tasks):
                points = sorted(tasks[task].items())
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=4,
                        color=plt.get_cmap("tab20")(i % 20), label=short_task_name(task))
                lengths += [p[0] for p in points]
            _log2_axis(ax, lengths)
            ax.set(title=f"{model} · {strategy} · k = 2", xlabel="block length (tokens)", ylabel="accuracy (%)",
                   ylim=(-3, 103))
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        fig.tight_layout()
        written.append(_save(fig, out / f"accuracy_vs_block_length_{model_slug(model)}.png"))
    return written


def task_characterization(out: Path, characterization: dict[str, dict]) -> Path | None:
    """Tasks by parallelizability (x) and order preference (y) (paper Fig. 6)."""
    points = {
        task: (entry["parallelizability"], entry["order_preference"])
        for task, entry in characterization.items()
        if entry["parallelizability"] is not None and entry["order_preference"] is not None
        and not (math.isnan(entry["parallelizability"]) or math.isnan(entry["order_preference"]))
    }
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    shown, at_point = set(), defaultdict(list)
    xs, ys = [x for x, _ in points.values()], [y for _, y in points.values()]
    # points closer than 3% of the axis ranges would print their labels over each other: one label
    near_x, near_y = 0.03 * ((max(xs) - min(xs)) or 1), 0.03 * ((max(ys) - min(ys)) or 1)
    for task, (x, y) in sorted(points.items()):
        family = LEADERBOARD_TASK_IDS.get(task, "other-").split("-")[0]
        ax.scatter([x], [y], s=50, color=FAMILY_COLORS[family], label=None if family in shown else family, zorder=3)
        shown.add(family)
        spot = next(((px, py) for px, py in at_point if abs(px - x) <= near_x and abs(py - y) <= near_y), (x, y))
        at_point[spot].append(short_task_name(task))
    middle = (min(x for x, _ in at_point) + max(x for x, _ in at_point)) / 2
    for (x, y), names in at_point.items():
        # tasks at the same spot share one label, three names a line, kept inside the axes
        text = "\n".join(", ".join(names[i:i + 3]) for i in range(0, len(names), 3))
        right = x > middle
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(-6 if right else 6, 4), fontsize=8,
                    ha="right" if right else "left", va="bottom")
    ax.margins(x=0.12, y=0.25)  # room for the labels
    ax.axhline(0, color="black", linewidth=0.8, alpha=0.5)
    ax.set(title="Task characterization",
           xlabel="parallelizability: center of mass of accuracy over k (top-k)",
           ylabel="order preference: −slope of accuracy (%) vs block length at k = 2")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, frameon=False)
    return _save(fig, out / "task_characterization.png")
