"""Section 4 on generated items of any size: the ideal model run by lm-eval on the generated tasks
(`parallelbench_gen_<task>_n<n>`, scored by the tasks' own metrics), next to the closed forms.

Accuracy against n at a fixed k, and against k at a fixed n, with random top-k (Fig. 2's
strategy) at temperature 1 and 0. Closed forms: Copy and Replace Index 1; Replace Random Eq. 3's
companions (`replace_random_sampled_topk_accuracy`, `replace_random_greedy_topk_accuracy`);
Shuffle as the benchmark scores it, without the input order
(`shuffle_benchmark_topk_accuracy`; the paper's Eq. 5 counts all n! orders, a gap of order 1/n!
per step that is visible for n <= 4). Each generated item is a fresh list, so the items of a
task are the trials; the standard errors are lm-eval's.
"""

from __future__ import annotations

from collections.abc import Sequence

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.generate.families import family
from parallelbench_lmeval.theory import closed_forms as cf

SWEEP_TASKS = ("shuffle", "replace_random", "copy", "replace_index")
TEMPERATURES = (1.0, 0.0)


def closed_form(task: str, n: int, k: int, temperature: float) -> float:
    """Accuracy of the ideal model with random top-k on `task` with n people."""
    config = DecodingConfig.from_options(gen_length=n, unmasking="random", k=k, temperature=temperature)
    steps = cf.step_sizes_of(config)
    if task == "shuffle":
        return cf.shuffle_benchmark_topk_accuracy(steps, sampled=temperature > 0)
    if task == "replace_random":
        return (cf.replace_random_sampled_topk_accuracy if temperature > 0 else cf.replace_random_greedy_topk_accuracy)(steps)
    if cf.TOTAL_CORRELATION[task](n) == 0.0:
        return 1.0
    raise ValueError(f"no closed form for {task!r}; allowed: {', '.join(SWEEP_TASKS)}")


def task_manager(num_items: int):
    """One TaskManager for every run: our tasks only (indexing lm-eval's own takes long), `num_items` each."""
    from lm_eval.tasks import TaskManager

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    return TaskManager(include_defaults=False, metadata={"num_items": num_items})


def ideal_accuracies(tasks: Sequence[str], k: int, temperature: float, manager, seed: int = 0) -> dict[str, tuple[float, float]]:
    """{task: (accuracy, standard error)} of the ideal model, random top-k, through lm_eval.simple_evaluate."""
    import lm_eval

    model_args = f"pretrained=ideal,unmasking=random,k={k},temperature={temperature:g},seed={seed}"
    results = lm_eval.simple_evaluate(
        model="dllm", model_args=model_args, tasks=list(tasks), task_manager=manager, device="cpu", batch_size=4096
    )["results"]
    return {task: (results[task]["score,none"], results[task]["score_stderr,none"]) for task in tasks}


def task_name(task: str, n: int, item_seed: int) -> str:
    return family(task).task_name(n, item_seed)


def n_sweep(tasks: Sequence[str], ns: Sequence[int], k: int, temperature: float, manager, item_seed: int = 0, seed: int = 0) -> dict:
    """{task: [(n, accuracy, standard error, closed form)]} at a fixed k (one lm-eval run)."""
    names = {(task, n): task_name(task, n, item_seed) for task in tasks for n in ns}
    measured = ideal_accuracies(list(names.values()), k, temperature, manager, seed)
    return {task: [(n, *measured[names[task, n]], closed_form(task, n, k, temperature)) for n in ns] for task in tasks}


def k_sweep(tasks: Sequence[str], n: int, ks: Sequence[int], temperature: float, manager, item_seed: int = 0, seed: int = 0) -> dict:
    """{task: [(k, accuracy, standard error, closed form)]} at a fixed n (one lm-eval run per k)."""
    rows: dict[str, list] = {task: [] for task in tasks}
    names = {task: task_name(task, n, item_seed) for task in tasks}
    for k in ks:
        measured = ideal_accuracies(list(names.values()), k, temperature, manager, seed)
        for task in tasks:
            rows[task].append((k, *measured[names[task]], closed_form(task, n, k, temperature)))
    return rows


def plot(path, n_curves: dict, k_curves: dict, k: int, n: int):
    """Rows: temperature 1 and 0; columns: accuracy against n (k fixed) and against k (n fixed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(TEMPERATURES), 2, figsize=(12, 4.2 * len(TEMPERATURES)), squeeze=False)
    for row, temperature in enumerate(TEMPERATURES):
        for column, (curves, label, fixed) in enumerate(((n_curves, "n (people)", f"k={k}"), (k_curves, "k (items per step)", f"n={n}"))):
            axis = axes[row][column]
            for task, points in curves[temperature].items():
                xs = [p[0] for p in points]
                line = axis.plot(xs, [p[3] for p in points], "-", label=f"{task} closed form")[0]
                axis.errorbar(xs, [p[1] for p in points], yerr=[2 * p[2] for p in points], fmt="o", color=line.get_color(),
                              label=f"{task} ideal model (lm-eval)")
            axis.set(title=f"random top-k, {fixed}, τ={temperature:g}", xlabel=label, ylabel="accuracy", ylim=(-0.05, 1.05))
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
