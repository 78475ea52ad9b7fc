"""Closed forms of the paper's Section 4 (Table 1, Eqs. 3-5) for lists of n distinct items.

Accuracies are those of the ideal model (exact conditional marginals, ties broken at
random) decoded with a given partition of the positions into steps: `step_sizes[t]` is the
number of positions committed at step t. `step_sizes_of` gives the partition the decoding
engine uses for a fixed (top-k / steps / blocks) schedule, including a remainder step when
k does not divide n. Threshold rules follow the released "score >= gamma" comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.decoding.schedule import block_schedule

# number of Latin squares of order 1..5 (OEIS A002860)
LATIN_SQUARE_COUNTS = {1: 1, 2: 2, 3: 12, 4: 576, 5: 161280}


def log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def entropy_bits(probabilities: Sequence[float]) -> float:
    return -sum(p * math.log2(p) for p in probabilities if p > 0)


# ---------------------------------------------------------------- C(Y|X), Section 4.1
def total_correlation_replace_random(n: int) -> float:
    """Eq. 3: (n - 1)[log2 n - log2(n - 1)], which tends to log2 e."""
    return 0.0 if n == 1 else (n - 1) * (math.log2(n) - math.log2(n - 1))


def total_correlation_shuffle(n: int) -> float:
    """Eq. 4: n log2 n - log2 n!, uniform over all n! orders (the paper's Shuffle)."""
    return n * math.log2(n) - log2_factorial(n)


def total_correlation_insert_random(n: int) -> float:
    """The new item goes to one of n + 1 slots: output position i holds the item left of it
    with probability i/(n+1), the new one with 1/(n+1), the item at i with (n-i)/(n+1)."""
    slots = n + 1
    marginals = sum(entropy_bits((i / slots, 1 / slots, (n - i) / slots)) for i in range(slots))
    return marginals - math.log2(slots)


def total_correlation_remove_random(n: int) -> float:
    """One of n items leaves: output position i holds item i + 1 with probability (i+1)/n."""
    marginals = sum(entropy_bits(((i + 1) / n, (n - 1 - i) / n)) for i in range(n - 1))
    return marginals - math.log2(n)


def total_correlation_latin_square(size: int) -> float:
    """Uniform over all Latin squares: every cell is uniform over the symbols (by symmetry)."""
    return size * size * math.log2(size) - math.log2(LATIN_SQUARE_COUNTS[size])


def total_correlation_zero(n: int) -> float:
    """Tasks whose answer is a function of the input (Copy, Sort, Reverse, *Index, Sudoku)."""
    return 0.0


TOTAL_CORRELATION = {
    "copy": total_correlation_zero,
    "sort": total_correlation_zero,
    "reverse": total_correlation_zero,
    "replace_index": total_correlation_zero,
    "insert_index": total_correlation_zero,
    "remove_index": total_correlation_zero,
    "replace_random": total_correlation_replace_random,
    "insert_random": total_correlation_insert_random,
    "remove_random": total_correlation_remove_random,
    "shuffle": total_correlation_shuffle,
}


def shuffle_step_bound(step_sizes: Sequence[int]) -> float:
    """Theorem 1 for Shuffle: L_T = sum_t |S_t| log2 k_t - log2 n!, k_t = masks left at step t."""
    n = sum(step_sizes)
    left = n
    bound = 0.0
    for size in step_sizes:
        bound += size * math.log2(left)
        left -= size
    return bound - log2_factorial(n)


# ---------------------------------------------------------------- partitions the engine uses
def step_sizes_of(config: DecodingConfig) -> tuple[int, ...]:
    """Positions committed per step by a fixed schedule (top-k, steps, blocks, left-to-right)."""
    if config.adaptive:
        raise ValueError("a threshold or factor rule has no fixed partition; its step sizes depend on the data")
    return tuple(count for block in block_schedule(config) for count in block.step_counts)


# ---------------------------------------------------------------- accuracies, Section 4.2
def falling_factorial(m: int, k: int) -> int:
    return math.perm(m, k)


def shuffle_topk_accuracy(step_sizes: Sequence[int]) -> float:
    """Eq. 5 for any partition: prod_t P(m_t, s_t) / m_t^s_t, m_t = items left.

    Every committed position proposes an item uniformly among the m_t left (all are equally
    likely and equally confident), so the order of positions, the score and the temperature
    do not matter; the step succeeds when its s_t proposals are distinct.
    """
    left = sum(step_sizes)
    accuracy = 1.0
    for size in step_sizes:
        accuracy *= falling_factorial(left, size) / left**size
        left -= size
    return accuracy


def _injections_avoiding_own(positions: int, items: int) -> int:
    """Ways to give `positions` positions distinct items out of `items`, no position its own item
    (each position's own item is among the `items`): inclusion-exclusion over the positions that do."""
    return sum((-1) ** i * math.comb(positions, i) * math.perm(items - i, positions - i) for i in range(positions + 1))


def shuffle_benchmark_topk_accuracy(step_sizes: Sequence[int], sampled: bool) -> float:
    """Eq. 5 for the benchmark's Shuffle, whose score rejects the input order (uniform over the
    n! - 1 other orders), with random positions.

    While every committed position still holds its own input item, the m masked positions are
    not uniform: each gives its own item ((m-1)! - 1)/(m! - 1) and every other item left
    (m-1)!/(m! - 1). Greedy decoding then never proposes the own item (it ties the others,
    broken at random); sampling does. Once a committed position departs from the input order,
    every completion is valid again and the steps follow Eq. 5. The input order itself fails.
    """
    left = sum(step_sizes)
    follows, departed = 1.0, 0.0  # probability of a consistent partial answer that follows / left the input order
    for size in step_sizes:
        uniform = math.perm(left, size) / left**size
        if follows == 0.0 or left == 1:  # one item left after following the input: only the input order remains
            stay = leave = 0.0
        elif sampled:
            completions = math.factorial(left) - 1
            own, other = (math.factorial(left - 1) - 1) / completions, math.factorial(left - 1) / completions
            distinct = sum(
                math.comb(size, j) * own**j * other ** (size - j) * _injections_avoiding_own(size - j, left - j)
                for j in range(size + 1)
            )
            stay, leave = own**size, distinct - own**size
        else:
            stay, leave = 0.0, _injections_avoiding_own(size, left) / (left - 1) ** size
        follows, departed = follows * stay, follows * leave + departed * uniform
        left -= size
    return departed


def replace_random_greedy_topk_accuracy(step_sizes: Sequence[int]) -> float:
    """Greedy decoding: while m > 2 positions are masked every one proposes to keep its item
    ((m-1)/m > 1/m), so nothing is replaced before the last step. A last step of one position
    is forced to the replacement (1), of two picks keep/replace at random for each (1/2:
    exactly one replaced), of three or more keeps every item (0)."""
    return {1: 1.0, 2: 0.5}.get(step_sizes[-1], 0.0)


def replace_random_sampled_topk_accuracy(step_sizes: Sequence[int]) -> float:
    """Temperature 1 with random positions: with m masked and none replaced yet, each of the
    s committed positions samples the replacement with probability 1/m independently. The
    task succeeds at the first step that samples exactly one replacement (the rest is then
    forced) and fails when one samples two or more, or the last step samples none.
    One step (s = n) gives ((n-1)/n)^(n-1), which tends to 1/e."""
    left = sum(step_sizes)
    none_yet = 1.0
    accuracy = 0.0
    for size in step_sizes:
        keep = (left - 1) / left
        accuracy += none_yet * size * (1 / left) * keep ** (size - 1)
        none_yet *= keep**size
        left -= size
    return accuracy


def shuffle_threshold_accuracy(n: int, gamma: float) -> float:
    """Confidence threshold: with m masked every confidence is 1/m, so one position is
    committed per step until 1/m >= gamma, when all m are committed at once and succeed
    with probability m!/m^m. gamma > 1/2 gives 1 (one by one)."""
    left = n
    while left > 1 and 1 / left < gamma:
        left -= 1
    return math.factorial(left) / left**left


def replace_random_threshold_accuracy(n: int, gamma: float) -> float:
    """Greedy confidence threshold: every masked position proposes to keep with confidence
    (m-1)/m. If that reaches gamma all are committed unchanged (0; for m = 2 the two
    proposals are random, 1/2); otherwise one per step, and the last is forced (1).
    For n > 2: 1 if gamma > (n-1)/n else 0 (the paper's "gamma >= (n-1)/n" with a strict
    threshold)."""
    left = n
    while left > 2:
        if (left - 1) / left >= gamma:
            return 0.0
        left -= 1
    if left == 2 and 0.5 >= gamma:
        return 0.5
    return 1.0
