"""`parallelbench theory`: the paper's Table 1 and Fig. 2, closed forms next to the ideal model
decoded by the engine's unmasking loop (many independent trials decoded as one batch).

With `--generated`: the same closed forms next to the ideal model run by lm-eval on generated
tasks of every size (`theory/generated.py`): accuracy against n at a fixed k, and against k at a
fixed n."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch
from matplotlib.figure import Figure

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.generate.cli import seed, sizes
from parallelbench_lmeval.ideal import accuracy, waiting_line_problem
from parallelbench_lmeval.theory import closed_forms as cf
from parallelbench_lmeval.theory.answer_sets import waiting_line_answers
from parallelbench_lmeval.theory.brute_force import total_correlation

# thresholds of Fig. 2e, chosen off every boundary 1/m and (m-1)/m (the >= rule decides ties)
GAMMAS = tuple(round(0.02 + 0.05 * i, 2) for i in range(20))
K_CHOICES = ("1", "2", "n")
FIGURE_TASKS = ("shuffle", "replace_random")
BRUTE_FORCE_MAX_N = 7


def _items(n: int) -> list[str]:
    return [f"Person {i}" for i in range(n)]


def paper_problem(task: str, n: int):
    """Shuffle over all n! orders and Replace Random, as Section 4 states them."""
    return waiting_line_problem(task, _items(n), word="New Person", exclude_input_order=False)


def closed_form_topk(task: str, temperature: float) -> Callable[[tuple[int, ...]], float]:
    if task == "shuffle":
        return cf.shuffle_topk_accuracy
    return cf.replace_random_sampled_topk_accuracy if temperature else cf.replace_random_greedy_topk_accuracy


def closed_form_threshold(task: str) -> Callable[[int, float], float]:
    return cf.shuffle_threshold_accuracy if task == "shuffle" else cf.replace_random_threshold_accuracy


def topk_curve(task: str, k: str, temperature: float, ns: list[int], trials: int, generator) -> list[tuple]:
    """(n, simulated, standard error, closed form) with random top-k (Fig. 2a-d)."""
    rows = []
    for n in ns:
        config = DecodingConfig.from_options(gen_length=n, unmasking="random", k=n if k == "n" else int(k), temperature=temperature)
        simulated, error = accuracy(paper_problem(task, n), config, trials, generator)
        rows.append((n, simulated, error, closed_form_topk(task, temperature)(cf.step_sizes_of(config))))
    return rows


def threshold_curve(task: str, n: int, trials: int, generator) -> list[tuple]:
    """(gamma, simulated, standard error, closed form) with a greedy confidence threshold (Fig. 2e)."""
    rows = []
    for gamma in GAMMAS:
        config = DecodingConfig.from_options(gen_length=n, unmasking="confidence", threshold=gamma)
        simulated, error = accuracy(paper_problem(task, n), config, trials, generator)
        rows.append((gamma, simulated, error, closed_form_threshold(task)(n, gamma)))
    return rows


def _table(header: list[str], rows: list[list], title: str) -> str:
    cells = [[f"{c:.4f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = [header, ["-" * w for w in widths], *cells]
    return "\n".join([title, *("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in lines), ""])


def table1(n: int, trials: int, generator) -> str:
    """Table 1 at one n: C(Y|X) and greedy accuracies (top-k with k = 2 and k = n, threshold
    just below and just above the task's boundary), simulated / closed form."""
    rows = []
    for label, task in (("Copy & Replace Index", "copy"), ("Replace Random", "replace_random"), ("Shuffle", "shuffle")):
        problem = paper_problem(task, n)
        cells = [label, cf.TOTAL_CORRELATION[task](n)]
        for k in (2, n):
            config = DecodingConfig.from_options(gen_length=n, unmasking="confidence", k=k)
            closed = 1.0 if task == "copy" else closed_form_topk(task, 0)(cf.step_sizes_of(config))
            cells.append(f"{accuracy(problem, config, trials, generator)[0]:.3f} / {closed:.3f}")
        boundary = 0.5 if task == "shuffle" else (n - 1) / n
        for gamma in (round(boundary - 0.01, 4), round(boundary + 0.01, 4)):
            config = DecodingConfig.from_options(gen_length=n, unmasking="confidence", threshold=gamma)
            closed = 1.0 if task == "copy" else closed_form_threshold(task)(n, gamma)
            cells.append(f"{accuracy(problem, config, trials, generator)[0]:.3f} / {closed:.3f}")
        rows.append(cells)
    header = ["task", "C(Y|X) bits", "top-k k=2", f"top-k k={n}", "thr boundary-0.01", "thr boundary+0.01"]
    title = (
        f"Table 1 at n = {n} (greedy, confidence; accuracy simulated over {trials} trials / closed form; "
        "threshold boundary: 1/2 for Shuffle, (n-1)/n otherwise)"
    )
    return _table(header, rows, title)


def total_correlation_rows(ns: list[int]) -> list[list]:
    rows = []
    for n in ns:
        row = [n, *(cf.TOTAL_CORRELATION[t](n) for t in ("replace_random", "shuffle", "insert_random", "remove_random"))]
        if n <= BRUTE_FORCE_MAX_N:
            error = max(
                abs(total_correlation(waiting_line_answers(t, _items(n), "New Person", 0, exclude_input_order=False)) - cf.TOTAL_CORRELATION[t](n))
                for t in cf.TOTAL_CORRELATION
            )
            row.append(f"{error:.1e}")
        else:
            row.append("-")
        rows.append(row)
    return rows


PANELS = (
    ("shuffle", 1.0, "(a) Shuffle, τ=1"),
    ("shuffle", 0.0, "(b) Shuffle, τ=0"),
    ("replace_random", 1.0, "(c) Replace Random, τ=1"),
    ("replace_random", 0.0, "(d) Replace Random, τ=0"),
)


def figure2(curves: dict, thresholds: dict, threshold_n: int) -> Figure:
    """Fig. 2: top-k accuracy against n (panels a-d, one legend below them: it covered points inside a
    panel) and the threshold sweep (panel e)."""
    figure = Figure(figsize=(22, 4.8))
    axes = figure.subplots(1, 5)
    for axis, (task, temperature, title) in zip(axes, PANELS):
        for k in K_CHOICES:
            rows = curves[task, temperature, k]
            ns = [r[0] for r in rows]
            line = axis.plot(ns, [r[3] for r in rows], "-", label=f"k={k} closed form")[0]
            axis.errorbar(ns, [r[1] for r in rows], yerr=[2 * r[2] for r in rows], fmt="o", color=line.get_color(),
                          label=f"k={k} ideal model")
        axis.set(title=title, xlabel="n (list length)", ylabel="accuracy", ylim=(-0.05, 1.05))
    for task in FIGURE_TASKS:
        rows = thresholds[task]
        line = axes[4].plot([r[0] for r in rows], [r[3] for r in rows], "-", label=f"{task} closed form")[0]
        axes[4].errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[2 * r[2] for r in rows], fmt="o",
                         color=line.get_color(), label=f"{task} ideal model")
    axes[4].set(title=f"(e) Confidence threshold, n={threshold_n}", xlabel="threshold γ", ylabel="accuracy",
                ylim=(-0.05, 1.05))
    legend_space = 0.16  # of the figure's height, below the panels and their labels
    figure.tight_layout(rect=(0, legend_space, 1, 1))
    for first, last, columns in ((axes[0], axes[3], 6), (axes[4], axes[4], 2)):
        middle = (first.get_position().x0 + last.get_position().x1) / 2
        figure.legend(*first.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(middle, legend_space),
                      ncol=columns, fontsize=8, frameon=False)
    return figure


def plot(directory: Path, curves: dict, thresholds: dict, correlation: list[list], threshold_n: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "figure2_accuracy.png", directory / "total_correlation.png"]
    figure2(curves, thresholds, threshold_n).savefig(paths[0], dpi=120, bbox_inches="tight")

    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    ns = [r[0] for r in correlation]
    for column, task in enumerate(("Replace Random", "Shuffle", "Insert Random", "Remove Random"), start=1):
        axis.plot(ns, [r[column] for r in correlation], "o-", label=task)
    axis.axhline(math.log2(math.e), linestyle=":", color="gray", label="log2 e")
    axis.set(xlabel="n (list length)", ylabel="C(Y|X) (bits)", title="Conditional total correlation (Copy, *Index: 0)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(paths[1], dpi=120)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parallelbench theory", description=__doc__)
    parser.add_argument("--max-n", type=int, default=10, help="longest list in the curves (default 10)")
    parser.add_argument("--trials", type=int, default=500, help="decodings per point, as one batch (default 500)")
    parser.add_argument("--table-n", type=int, default=6, help="list length of Table 1 (default 6)")
    parser.add_argument("--threshold-n", type=int, default=10, help="list length of the threshold sweep (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, metavar="DIR", help="also write the figures as PNG files into DIR")
    generated = parser.add_argument_group("--generated: the ideal model through lm-eval on generated tasks")
    generated.add_argument("--generated", action="store_true", help="run this report instead of Table 1 and Fig. 2")
    generated.add_argument("--n", type=sizes, default=sizes("2-12"), help="list lengths of the n sweep (default 2-12)")
    generated.add_argument("--k", type=int, default=2, help="items per step of the n sweep (default 2)")
    generated.add_argument("--ks", type=sizes, default=sizes("1-8"), help="items per step of the k sweep (default 1-8)")
    generated.add_argument("--k-n", type=int, default=8, help="list length of the k sweep (default 8)")
    generated.add_argument("--items", type=int, default=200, help="generated items per task and size (default 200)")
    generated.add_argument("--item-seed", type=seed, default=0, help="seed of the generated items (default 0)")
    return parser


def checked_generated_report(parser: argparse.ArgumentParser, args) -> int:
    from parallelbench_lmeval.generate.families import family
    from parallelbench_lmeval.theory.generated import SWEEP_TASKS

    try:
        for task in SWEEP_TASKS:
            for n in [*args.n, args.k_n]:
                family(task).check_size(n)
    except ValueError as error:
        parser.error(f"--n / --k-n: {error}")
    for name, values in (("k", [args.k]), ("ks", args.ks), ("items", [args.items])):
        if min(values) < 1:
            parser.error(f"--{name} must be at least 1, got {min(values)}")
    return generated_report(args)


def generated_report(args) -> int:
    """Tables (and with --plot a figure) of the generated sweep; `args` already checked."""
    from parallelbench_lmeval.theory import generated

    manager = generated.task_manager(args.items)
    n_curves, k_curves = {}, {}
    for temperature in generated.TEMPERATURES:
        n_curves[temperature] = generated.n_sweep(generated.SWEEP_TASKS, args.n, args.k, temperature, manager, args.item_seed, args.seed)
        k_curves[temperature] = generated.k_sweep(generated.SWEEP_TASKS, args.k_n, args.ks, temperature, manager, args.item_seed, args.seed)
        for curves, axis, title in ((n_curves, "n", f"k = {args.k}"), (k_curves, "k", f"n = {args.k_n}")):
            tasks = list(curves[temperature])
            rows = [
                [points[0][0], *(f"{p[1]:.3f}±{p[2]:.3f} / {p[3]:.3f}" for p in points)]
                for points in zip(*(curves[temperature][task] for task in tasks))
            ]
            title = f"generated items, random top-k, {title}, temperature {temperature:g}: ideal model via lm-eval ± s.e. / closed form ({args.items} items per point)"
            print(_table([axis, *tasks], rows, title))
    if args.plot:
        args.plot.mkdir(parents=True, exist_ok=True)
        print(f"wrote {generated.plot(args.plot / 'generated_sweep.png', n_curves, k_curves, args.k, args.k_n)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.generated:
        return checked_generated_report(parser, args)
    for name in ("max_n", "trials", "table_n", "threshold_n"):
        if getattr(args, name) < (3 if name != "trials" else 1):
            parser.error(f"--{name.replace('_', '-')} must be at least {3 if name != 'trials' else 1}, got {getattr(args, name)}")

    generator = torch.Generator().manual_seed(args.seed)
    ns = list(range(2, args.max_n + 1))
    print(table1(args.table_n, args.trials, generator))
    correlation = total_correlation_rows(ns)
    header = ["n", "replace_random", "shuffle", "insert_random", "remove_random", "|brute force - closed|"]
    latin = cf.total_correlation_latin_square(4)
    print(_table(header, correlation, f"C(Y|X) in bits (Copy, Sort, Reverse, *Index, Sudoku: 0; Latin Square 4x4: {latin:.4f})"))

    curves = {}
    for task in FIGURE_TASKS:
        for temperature in (1.0, 0.0):
            for k in K_CHOICES:
                curves[task, temperature, k] = topk_curve(task, k, temperature, ns, args.trials, generator)
            rows = [
                [n, *(f"{r[1]:.3f}±{r[2]:.3f} / {r[3]:.3f}" for r in (curves[task, temperature, k][i] for k in K_CHOICES))]
                for i, n in enumerate(ns)
            ]
            title = f"{task}, random top-k, temperature {temperature:g}: ideal model ± s.e. / closed form (Fig. 2)"
            print(_table(["n", *(f"k={k}" for k in K_CHOICES)], rows, title))
    thresholds = {task: threshold_curve(task, args.threshold_n, args.trials, generator) for task in FIGURE_TASKS}
    rows = [[gamma, *(f"{thresholds[t][i][1]:.3f} / {thresholds[t][i][3]:.3f}" for t in FIGURE_TASKS)] for i, gamma in enumerate(GAMMAS)]
    print(_table(["gamma", *FIGURE_TASKS], rows, f"greedy confidence threshold, n = {args.threshold_n}: ideal model / closed form (Fig. 2e)"))

    if args.plot:
        for path in plot(args.plot, curves, thresholds, correlation, args.threshold_n):
            print(f"wrote {path}")
    return 0
