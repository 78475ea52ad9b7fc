"""The report's figures (PNG): accuracy versus tokens per step (paper Figs. 3 and 7), accuracy versus
block length (Fig. 5) and the task characterization scatter (Fig. 6).

Each figure is built by a `*_figure` function that returns the matplotlib Figure (for inspection),
and written by a thin function that saves it.

Every strategy of a report has its own colour and marker, the same in every figure: colours never
repeat for up to len(PALETTE) strategies, (colour, marker) pairs for many more; models differ by
line style. Curves that coincide (the top-k scores of the ideal model, tasks at 100%) are drawn
side by side, OVERLAP_OFFSET_PT apart; a figure with points below one token per step draws a
dotted line at one. Both are said in the legend.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import offset_copy

from parallelbench_lmeval.report.analysis import average_point, by_model
from parallelbench_lmeval.report.runs import (
    AUTOREGRESSIVE,
    DLLM_ENGINE,
    LEADERBOARD_TASK_IDS,
    Configuration,
    is_adaptive,
    model_slug,
    short_task_name,
)

# the paper's strategies keep their colours in every report; the others take the next free ones
STRATEGY_COLORS = {
    "random": "#6b7280",
    "l2r": "#dc2626",
    "confidence-topk": "#2563eb",
    "entropy-topk": "#059669",
    "topk-margin": "#d97706",
    "confidence-threshold": "#7c3aed",
    "confidence-factor": "#db2777",
}
# none of them close to another, to black (autoregressive markers) or to white
EXTRA_COLORS = ("#0891b2", "#65a30d", "#92400e", "#facc15", "#1e3a8a", "#0f766e", "#c026d3", "#38bdf8",
                "#7f1d1d", "#fb7185", "#334155", "#d6a77a", "#ea580c", "#a5b4fc", "#6ee7b7", "#4d7c0f")
PALETTE = (*STRATEGY_COLORS.values(), *EXTRA_COLORS)
# 11 markers, coprime with the 23 colours: (colour, marker) pairs stay unique for 23 x 11 strategies;
# none is a star (oracles) or an autoregressive marker
MARKERS = ("o", "s", "^", "D", "<", ">", "d", "8", "H", "x", "+")
LINE_STYLES = ("-", "--", ":", "-.")  # one per model
AR_MARKERS = ["P", "X", "h", "v", "p"]  # no star: stars are the oracles
OVERLAP_OFFSET_PT = 1.5
# curves closer than this at every point would hide each other: within 1% in x and half a percentage point in y
OVERLAP_X_RATIO, OVERLAP_Y = 0.01, 0.5
# legend entries, where no note can cover a point
OVERLAP_NOTE = f"coinciding curves drawn {OVERLAP_OFFSET_PT:g} pt apart"
BELOW_ONE_NOTE = "1 token per step (left of it: more forward passes than tokens)"
# Drawn bottom to top: curves, hollow oracle stars, autoregressive markers (never hidden under a star).
CURVE_ZORDER, ORACLE_ZORDER, AR_ZORDER = 2, 4, 6
FAMILY_COLORS = {"waitingline": "#2563eb", "textwriting": "#059669", "puzzles": "#d97706", "other": "#6b7280"}
DPI = 150
# A log2 axis labels the measured values too when at most this many distinct ones are not powers of two.
MAX_MEASURED_TICKS = 6
# Room left on either side of the points, as a fraction of the axis' log2 span.
AXIS_MARGIN = 0.05
# Width of a digit in ems (DejaVu Sans: 0.64); a 10-point label on a 5-inch axis: 1.8% of it per digit.
DIGIT_EMS = 0.64
DIGIT_WIDTH = DIGIT_EMS * 10 / 72 / 5


def tick_label(value: float) -> str:
    """Compact tick text: `1`, `16` for whole numbers, `1.79`, `3.25` otherwise."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _label_digits(value: float) -> float:
    """A tick label's width in digits (a point is about half a digit)."""
    text = tick_label(value)
    return len(text) - 0.5 * text.count(".")


def log2_limits(values) -> tuple[float, float]:
    """The x range showing `values` on a log2 axis, with a margin on either side."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if not finite:
        return 0.5, 2.0
    low, high = min(finite), max(finite)
    pad = 2 ** (AXIS_MARGIN * max(math.log2(high / low), 1.0))
    return low / pad, high * pad


def log2_ticks(values, digit_width: float = DIGIT_WIDTH) -> list[float]:
    """Tick positions for `values` on a log2 axis: the powers of two in view, plus the measured values
    (rounded as their labels are) when few are not powers of two, except those whose label would
    touch one already placed. `digit_width`: a label digit's width as a fraction of the axis width."""
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if not finite:
        return []
    low, high = log2_limits(finite)
    powers = [2.0**e for e in range(math.ceil(math.log2(low)), math.floor(math.log2(high)) + 1)]
    measured = sorted({float(tick_label(v)) for v in finite} - set(powers))
    if len(measured) > MAX_MEASURED_TICKS:
        return powers or [measured[0], measured[-1]]  # no power of two in view: label the ends

    def apart(a: float, b: float) -> bool:
        # centres at least half of both labels plus a digit apart, in fractions of the axis
        distance = abs(math.log2(a / b)) / math.log2(high / low)
        return distance >= digit_width * ((_label_digits(a) + _label_digits(b)) / 2 + 1)

    ticks = list(powers)
    for value in measured:
        if all(apart(value, tick) for tick in ticks):
            ticks.append(value)
    return sorted(ticks)


def _log2_axis(ax, values) -> None:
    """Tokens per step (or block lengths) on a log2 x axis, ticks from `log2_ticks` for this axis' size and font."""
    ax.set_xscale("log", base=2)
    ax.set_xlim(*log2_limits(values))
    axis_inches = ax.get_position().width * ax.get_figure().get_figwidth()
    digit_inches = DIGIT_EMS * ax.xaxis.get_major_ticks(1)[0].label1.get_fontsize() / 72
    ax.xaxis.set_major_locator(FixedLocator(log2_ticks(values, digit_inches / axis_inches)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: tick_label(value)))
    ax.xaxis.set_minor_locator(NullLocator())


def strategy_styles(strategies) -> dict[str, tuple[str, str]]:
    """strategy -> (colour, marker), distinct for every strategy: the paper's seven at their fixed
    places of PALETTE, the others (sorted) at the next places."""
    places = {strategy: i for i, strategy in enumerate(STRATEGY_COLORS)}
    others = sorted(set(strategies) - set(places))
    places.update({strategy: len(STRATEGY_COLORS) + i for i, strategy in enumerate(others)})
    return {strategy: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]) for strategy, i in places.items()}


class _Styles:
    """Colours and markers by strategy, line styles by model, markers for autoregressive models: stable per report."""

    def __init__(self, configurations: list[Configuration]):
        models = list(by_model([c for c in configurations if c.engine == DLLM_ENGINE]))
        ar_models = list(by_model([c for c in configurations if c.engine != DLLM_ENGINE]))
        self.line_style = {m: LINE_STYLES[i % len(LINE_STYLES)] for i, m in enumerate(models)}
        self.ar_marker = {m: AR_MARKERS[i % len(AR_MARKERS)] for i, m in enumerate(ar_models)}
        self.limits = defaultdict(set)  # (model, strategy) -> the --limit values of its runs
        for c in configurations:
            if c.limit is not None:
                self.limits[(c.model, c.strategy)].add(c.limit)
        self.strategy = strategy_styles(c.strategy for c in configurations)

    def color(self, strategy: str) -> str:
        return self.strategy[strategy][0]

    def marker(self, strategy: str) -> str:
        return self.strategy[strategy][1]

    def label(self, model: str, strategy: str, tasks: int | None = None, kind: str = "") -> str:
        """`model · strategy`, then in brackets the number of tasks averaged and any `--limit` of its runs."""
        notes = [] if tasks is None else [f"{tasks} task{'s' if tasks != 1 else ''}"]
        limits = sorted(self.limits.get((model, strategy), ()))
        if limits:
            notes.append("--limit " + ", ".join(f"{limit:g}" for limit in limits))
        return f"{model} · {strategy}{kind}" + (f" ({', '.join(notes)})" if notes else "")


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


def _coincide(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return len(a) == len(b) and all(abs(xa - xb) <= OVERLAP_X_RATIO * max(abs(xa), abs(xb)) and abs(ya - yb) <= OVERLAP_Y
                                    for (xa, ya), (xb, yb) in zip(a, b))


def overlap_offsets(series: list[list[tuple[float, float]]]) -> list[float]:
    """Vertical offsets (points) that draw coinciding series (`_coincide` with a group's first) side by
    side, centred on their place; 0 for a series that coincides with no other."""
    groups: list[list[int]] = []
    for index, points in enumerate(series):
        group = next((g for g in groups if _coincide(series[g[0]], points)), None)
        if group is None:
            groups.append([index])
        else:
            group.append(index)
    offsets = [0.0] * len(series)
    for members in groups:
        for rank, index in enumerate(members):
            offsets[index] = (rank - (len(members) - 1) / 2) * OVERLAP_OFFSET_PT
    return offsets


def _plot_series(ax, series: list[list[tuple[float, float]]], styles: list[dict]) -> None:
    """Lines, each with its matplotlib style; identical ones offset (`overlap_offsets`) and noted."""
    offsets = overlap_offsets(series)
    for points, style, offset in zip(series, styles, offsets):
        transform = offset_copy(ax.transData, fig=ax.get_figure(), y=offset, units="points") if offset else ax.transData
        ax.plot([p[0] for p in points], [p[1] for p in points], transform=transform, **style)
    if any(offsets):
        ax.plot([], [], linestyle="none", label=OVERLAP_NOTE)  # a legend line without a handle


def _mark_below_one(ax, xs: list[float]) -> None:
    """A dotted line at one token per step when a point lies left of it (more steps than tokens)."""
    if min(xs, default=1.0) < 1:
        ax.axvline(1.0, color="dimgray", linestyle=":", linewidth=0.8, zorder=1, label=BELOW_ONE_NOTE)


def _draw(ax, styles: _Styles, curves: dict, references: list, task_counts: dict | None = None) -> list[float]:
    """The curves and the autoregressive markers; returns their x values. `task_counts`: model -> tasks
    averaged, shown in the legend (when the models' task sets differ)."""
    counts = task_counts or {}
    keys = sorted(curves)
    _plot_series(ax, [curves[key] for key in keys], [
        {"linestyle": styles.line_style[model], "marker": styles.marker(strategy), "markersize": 4,
         "color": styles.color(strategy), "zorder": CURVE_ZORDER, "label": styles.label(model, strategy, counts.get(model))}
        for model, strategy in keys])
    xs = [p[0] for key in keys for p in curves[key]]
    _mark_below_one(ax, xs)
    for model, tps, accuracy in references:
        # white-edged so that it stands out on whatever lies under it
        ax.scatter([tps], [accuracy], marker=styles.ar_marker[model], s=90, color="black", edgecolors="white",
                   linewidths=0.8, zorder=AR_ZORDER, label=styles.label(model, AUTOREGRESSIVE, counts.get(model)))
        xs.append(tps)
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    return xs


def _draw_oracles(ax, styles: _Styles, summary: dict, task_counts: dict | None = None) -> list[float]:
    """Each threshold sweep's oracle as a hollow star (what lies under it stays visible); returns their x values.
    Its label counts its tasks where the curves' do, or where it has fewer than its model's."""
    xs = []
    for model, entry in summary["models"].items():
        for strategy, oracle in entry["oracle"].items():
            if oracle and oracle["tokens_per_step"] is not None:
                tasks = len(oracle["tasks"])
                shown = tasks if task_counts is not None or tasks != len(entry["tasks"]) else None
                ax.scatter([oracle["tokens_per_step"]], [oracle["accuracy"]], marker="*", s=260, zorder=ORACLE_ZORDER,
                           facecolors="none", edgecolors=styles.color(strategy), linewidths=1.5,
                           label=styles.label(model, strategy, shown, kind=" oracle"))
                xs.append(oracle["tokens_per_step"])
    return xs


def _side_legend(ax) -> None:
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _task_point(task: str):
    def point_of(c: Configuration):
        result = c.tasks.get(task)
        return None if result is None else (result.tokens_per_step, 100 * result.accuracy)

    return point_of


def _all_tasks(configurations: list[Configuration]) -> list[str]:
    """Tasks with a measured tokens per step (likelihood tasks decode nothing, so they have no curve)."""
    present = {t for c in configurations for t, result in c.tasks.items() if not math.isnan(result.tokens_per_step)}
    return [t for t in LEADERBOARD_TASK_IDS if t in present] + sorted(present - set(LEADERBOARD_TASK_IDS))


def task_figure(configurations: list[Configuration], task: str) -> Figure:
    """Accuracy against tokens per step on one task: a line per model and strategy (paper Fig. 3)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    _log2_axis(ax, _draw(ax, _Styles(configurations), *_curves(configurations, _task_point(task))))
    ax.set(title=short_task_name(task), xlabel="tokens per step", ylabel="accuracy (%)")
    _side_legend(ax)
    return fig


def all_tasks_figure(configurations: list[Configuration]) -> Figure | None:
    """Every task's `task_figure` panel in one grid, with one legend below."""
    tasks = _all_tasks(configurations)
    if not tasks:
        return None
    styles = _Styles(configurations)
    columns = min(4, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    fig = Figure(figsize=(3.6 * columns, 3.0 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    legend, xs = {}, []
    for ax, task in zip(axes.flat, tasks):
        xs.append(_draw(ax, styles, *_curves(configurations, _task_point(task))))
        ax.set_title(short_task_name(task), fontsize=10)
        ax.tick_params(labelsize=8)
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
    for ax, values in zip(axes.flat, xs):
        _log2_axis(ax, values)  # after the layout: the ticks are spaced for the panels' final width
    return fig


def average_title(task_sets: list[list[str]]) -> str:
    """What the average plot averages over: named when every model shares one task set, else per curve."""
    distinct = {tuple(tasks) for tasks in task_sets}
    if len(distinct) != 1:
        return "Mean accuracy over each model's tasks (task counts in the legend)"
    (tasks,) = distinct
    every = " the" if set(tasks) == set(LEADERBOARD_TASK_IDS) else ""
    return f"Mean accuracy over{every} {len(tasks)} task{'s' if len(tasks) != 1 else ''}"


def average_figure(configurations: list[Configuration], summary: dict) -> Figure | None:
    """Mean accuracy against mean tokens per step, over each model's tasks as in `summary`, with each threshold
    sweep's oracle (paper Fig. 7). Every curve's label says over how many tasks it averages."""
    styles = _Styles(configurations)
    curves, references, task_sets = {}, [], []
    for model, configs in by_model(configurations).items():
        tasks = summary["models"][model]["tasks"]
        model_curves, model_references = _curves(configs, lambda c, tasks=tasks: average_point(c, tasks))
        curves.update(model_curves)
        references += model_references
        if model_curves or model_references:
            task_sets.append(tasks)
    if not curves and not references:
        return None
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    # one task set: its count is in the title; several: each curve's is in the legend
    shared = len({tuple(tasks) for tasks in task_sets}) == 1
    task_counts = None if shared else {model: len(entry["tasks"]) for model, entry in summary["models"].items()}
    xs = _draw(ax, styles, curves, references, task_counts) + _draw_oracles(ax, styles, summary, task_counts)
    _log2_axis(ax, xs)
    ax.set(title=average_title(task_sets), xlabel="tokens per step", ylabel="mean accuracy (%)")
    _side_legend(ax)
    return fig


def block_length_figure(model: str, configurations: list[Configuration]) -> Figure | None:
    """One model's accuracy against the semi-AR block length at k = 2, one panel per strategy (paper Fig. 5);
    None without two block lengths of a task to compare."""
    panels = defaultdict(lambda: defaultdict(dict))  # strategy -> task -> {block length: accuracy}
    for c in configurations:
        if c.engine == DLLM_ENGINE and not is_adaptive(c.options):
            for task, result in c.tasks.items():
                if c.nominal_k(task) == 2:
                    panels[c.strategy][task][c.block_length(task)] = 100 * result.accuracy
    panels = {s: tasks for s, tasks in panels.items() if any(len(v) >= 2 for v in tasks.values())}
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (strategy, tasks) in zip(axes[0], sorted(panels.items())):
        shown = [t for t in _all_tasks(configurations) if t in tasks]
        series = [sorted(tasks[task].items()) for task in shown]
        _plot_series(ax, series, [
            {"marker": MARKERS[i % len(MARKERS)], "markersize": 4, "color": PALETTE[i % len(PALETTE)],
             "label": short_task_name(task)} for i, task in enumerate(shown)])
        _log2_axis(ax, [length for points in series for length, _ in points])
        ax.set(title=f"{model} · {strategy} · k = 2", xlabel="block length (tokens)", ylabel="accuracy (%)",
               ylim=(-3, 103))
        ax.grid(alpha=0.3)
    _side_legend(axes[0][-1])
    fig.tight_layout()
    return fig


def task_characterization_figure(characterization: dict[str, dict]) -> Figure | None:
    """Tasks by parallelizability (x) and order preference (y) (paper Fig. 6)."""
    points = {
        task: (entry["parallelizability"], entry["order_preference"])
        for task, entry in characterization.items()
        if entry["parallelizability"] is not None and entry["order_preference"] is not None
        and not (math.isnan(entry["parallelizability"]) or math.isnan(entry["order_preference"]))
    }
    if not points:
        return None
    fig = Figure(figsize=(7.0, 5.0))
    ax = fig.subplots()
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
    return fig


# ---------------------------------------------------------------- writing the files


def accuracy_vs_tokens_per_step(out: Path, configurations: list[Configuration]) -> list[Path]:
    """One PNG per task, and one grid of every task (paper Fig. 3)."""
    written = [_save(task_figure(configurations, task), out / f"accuracy_vs_tps_{short_task_name(task)}.png")
               for task in _all_tasks(configurations)]
    grid = all_tasks_figure(configurations)
    if grid is not None:
        written.append(_save(grid, out / "accuracy_vs_tps_all_tasks.png"))
    return written


def average_accuracy_vs_tokens_per_step(out: Path, configurations: list[Configuration], summary: dict) -> Path | None:
    fig = average_figure(configurations, summary)
    return None if fig is None else _save(fig, out / "accuracy_vs_tps_avg.png")


def accuracy_vs_block_length(out: Path, configurations: list[Configuration]) -> list[Path]:
    written = []
    for model, configs in by_model(configurations).items():
        fig = block_length_figure(model, configs)
        if fig is not None:
            written.append(_save(fig, out / f"accuracy_vs_block_length_{model_slug(model)}.png"))
    return written


def task_characterization(out: Path, characterization: dict[str, dict]) -> Path | None:
    fig = task_characterization_figure(characterization)
    return None if fig is None else _save(fig, out / "task_characterization.png")
