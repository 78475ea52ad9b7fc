"""Information measures of a uniform distribution over an enumerated answer set.

These check the closed forms: C(Y|X) = sum_i H(Y_i|X) - H(Y|X) and the T-step bound of
Theorem 1, L_T = sum_t E[C(S_t | X, S_<t)], for answers drawn uniformly from the set.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from parallelbench_lmeval.theory.answer_sets import Answer


def _entropy_of_counts(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def _total_correlation_of(answers: Sequence[Answer], positions: Sequence[int]) -> float:
    """C of the given positions under the uniform distribution over `answers` (with repeats
    weighting the answers they repeat, as a conditional slice of a uniform set does)."""
    marginals = sum(_entropy_of_counts(Counter(a[p] for a in answers)) for p in positions)
    joint = _entropy_of_counts(Counter(tuple(a[p] for p in positions) for a in answers))
    return marginals - joint


def total_correlation(answers: Sequence[Answer]) -> float:
    """C(Y|X) in bits for Y uniform over the distinct `answers` (all of one length)."""
    if len(set(answers)) != len(answers):
        raise ValueError("answers must be distinct (each valid answer once)")
    return _total_correlation_of(answers, range(len(answers[0])))


def step_bound(answers: Sequence[Answer], partition: Sequence[Sequence[int]]) -> float:
    """Theorem 1's L_T for positions committed as `partition` (a list of position sets)."""
    if sorted(p for step in partition for p in step) != list(range(len(answers[0]))):
        raise ValueError(f"partition {partition!r} must cover each of the {len(answers[0])} positions once")
    bound = 0.0
    committed: list[int] = []
    for step in partition:
        groups: dict[tuple, list[Answer]] = defaultdict(list)
        for answer in answers:
            groups[tuple(answer[p] for p in committed)].append(answer)
        bound += sum(len(g) / len(answers) * _total_correlation_of(g, step) for g in groups.values())
        committed.extend(step)
    return bound
