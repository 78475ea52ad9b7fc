"""The ideal (unbiased) model of the paper's Section 4, at the level of list items."""

from parallelbench_lmeval.ideal.model import IdealBackend, accuracy, decode, item_config
from parallelbench_lmeval.ideal.problems import Problem, latin_square_problem, sudoku_problem, waiting_line_problem
from parallelbench_lmeval.ideal.prompts import SUPPORTED_TASKS, parse_prompt

__all__ = [
    "SUPPORTED_TASKS",
    "IdealBackend",
    "Problem",
    "accuracy",
    "decode",
    "item_config",
    "latin_square_problem",
    "parse_prompt",
    "sudoku_problem",
    "waiting_line_problem",
]
