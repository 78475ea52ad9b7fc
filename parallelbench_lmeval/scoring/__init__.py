"""ParallelBench scoring, as the released benchmark computes it (SPEC §3).

Every function takes decoded text and the item's gold data and returns a score in [0, 1];
unparseable text scores 0 and never raises.

- `lists`: Waiting Line list parsing (lenient and strict) and the per-task rules.
- `puzzles`: Latin Square and Sudoku.
- `text`: ROUGE, sentence BLEU, BERTScore, Words-to-Sentence inclusion, and the length bound
  of Text Writing outputs.
- `grammar`: the grammar score and its two backends (LanguageTool, Harper).
- `checker_worker`: runs a grammar checker in a worker process, so that its crash or hang cannot
  take the run down.
- `scorers`: the `PARALLELBENCH_SCORERS` switch (`paper` or `offline`) and the record of the scorers in use.
"""
