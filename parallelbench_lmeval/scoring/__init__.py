"""ParallelBench scoring, as the released benchmark computes it (SPEC §3).

Every function takes decoded text and the item's gold data and returns a score in [0, 1];
unparseable text scores 0 and never raises.

- `lists`: Waiting Line list parsing (lenient and strict) and the per-task rules.
- `puzzles`: Latin Square and Sudoku.
- `text`: ROUGE, sentence BLEU, BERTScore and Words-to-Sentence inclusion.
- `grammar`: the grammar score and its two backends (LanguageTool, Harper).
"""
