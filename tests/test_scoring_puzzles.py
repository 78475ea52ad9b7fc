"""Latin Square and Sudoku on hand-made outputs (SPEC §3)."""

import pytest

from parallelbench_lmeval.scoring.puzzles import latin_square_score, sudoku_score

SYMBOLS = ["H", "4", "C", "A"]
SQUARE = "H,4,A,C\n4,C,H,A\nC,A,4,H\nA,H,C,4"
SOLUTION = "1342\n2431\n4123\n3214"
PUZZLE = "0042\n2031\n4023\n3214"


@pytest.mark.parametrize(
    "text, expected",
    [
        (SQUARE, 1.0),
        ("4,C,H,A\nH,4,A,C\nC,A,4,H\nA,H,C,4", 1.0),  # any valid square counts
        ("Here it is:\n" + SQUARE.replace(",", ", ") + "\nDone.", 1.0),  # prose lines and spaces ignored
        ("H,4,A,C\nH,4,A,C\nC,A,4,H\nA,H,C,4", 0.0),  # repeated column symbols
        ("H,4,A,C\n4,C,H,A\nC,A,4,H", 0.0),  # three rows
        ("H,4,A,C\n4,C,H,A\nC,A,4,H\nA,H,C,B", 0.0),  # wrong symbol: row dropped, only three left
        (SQUARE + "\nH,4,A,C", 1.0),  # only the first four rows count
        ("H,4,A,C\nH,4,A,C\n" + SQUARE, 0.0),  # ... so extra leading rows spoil it
        (SQUARE.replace("\n", " "), 0.0),  # not on lines
        ("", 0.0),
    ],
)
def test_latin_square(text, expected):
    assert latin_square_score(text, SYMBOLS) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (SOLUTION, 1.0),
        ("1 3 4 2\n2,4,3,1\n4, 1, 2, 3\n3214\n", 1.0),  # spaces and commas removed
        ("Output:\n" + SOLUTION + "\nThat is all.", 1.0),
        (PUZZLE, 0.0),  # the input echoed
        (PUZZLE + "\n" + SOLUTION, 0.0),  # input echoed before the answer: eight digit rows
        ("1342\n2431\n4123", 0.0),
        ("1342\n2431\n4123\n3241", 0.0),  # wrong digits
        ("13422431\n41233214", 0.0),
        ("", 0.0),
    ],
)
def test_sudoku(text, expected):
    assert sudoku_score(text, SOLUTION) == expected


def test_sudoku_rows_count_digits_whatever_surrounds_them():
    from parallelbench_lmeval.scoring.puzzles import sudoku_score

    solution = "1342\n2431\n4123\n3214"
    assert sudoku_score("| 1 | 3 | 4 | 2 |\n| 2 | 4 | 3 | 1 |\n| 4 | 1 | 2 | 3 |\n| 3 | 2 | 1 | 4 |", solution) == 1.0
    assert sudoku_score("[1,3,4,2]\n[2,4,3,1]\n[4,1,2,3]\n[3,2,1,4]", solution) == 1.0
    # only newlines separate rows
    assert sudoku_score("1342\r2431\r4123\r3214", solution) == 0.0


def test_latin_square_rows_are_split_on_newlines_only():
    from parallelbench_lmeval.scoring.puzzles import latin_square_score

    assert latin_square_score("H,4,C,A\nA,\rH,4,C\nC,A,H,4\n4,C,A,H", ["H", "4", "C", "A"]) == 1.0
