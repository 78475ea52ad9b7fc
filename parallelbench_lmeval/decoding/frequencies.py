"""Token frequencies in a reference corpus, for PC-Sampler's calibration term.

`pc_frequencies` names a table: `llada` or `dream` (PC-Sampler's own corpora for those
tokenizers, shipped in `parallelbench_lmeval/data/pc_sampler/`), `uniform` (every token
equally frequent: the calibration then only rescales the score), or a JSON file in
PC-Sampler's format, `{"num_token": N, "p_baseline_dict": {"<token id>": count, ...}}`.
A token missing from the table has frequency 1/N, as in the reference.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import torch

PACKAGED = ("llada", "dream")
TABLES = (*PACKAGED, "uniform")
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "pc_sampler"


def check_table_name(name: str | None) -> None:
    """Raises before any model loads when `name` is neither a known table nor an existing file."""
    if name is None:
        raise ValueError(f"sampler=pc needs pc_frequencies: {', '.join(TABLES)} or a JSON file of token counts")
    if name not in TABLES and not Path(name).is_file():
        raise ValueError(f"pc_frequencies={name!r} is neither a file nor a known table; allowed: {', '.join(TABLES)} or a path")


@functools.cache
def token_counts(name: str) -> tuple[int, dict[int, int]]:
    """(tokens in the corpus, count of each token id) of a packaged table or a JSON file."""
    if name in PACKAGED:
        with gzip.open(DATA_DIR / f"{name}.json.gz", "rt", encoding="utf-8") as file:
            table = json.load(file)
        counts = table["counts"]
    else:
        table = json.loads(Path(name).read_text(encoding="utf-8"))
        counts = table.get("p_baseline_dict", table.get("token_frequency_dict"))
        if counts is None or "num_token" not in table:
            raise ValueError(f"{name}: expected PC-Sampler's format {{'num_token': N, 'p_baseline_dict': {{id: count}}}}")
    return int(table["num_token"]), {int(token): int(count) for token, count in counts.items()}


def token_frequencies(name: str | None, vocab_size: int, device) -> torch.Tensor:
    """[vocab_size] frequency of every token id (ids beyond the vocabulary are ignored)."""
    check_table_name(name)
    if name == "uniform":
        return torch.full((vocab_size,), 1.0 / vocab_size, device=device)
    total, counts = token_counts(name)
    frequencies = torch.full((vocab_size,), 1.0 / total)
    ids = torch.tensor([i for i in counts if i < vocab_size], dtype=torch.long)
    values = torch.tensor([counts[i] / total for i in ids.tolist()], dtype=torch.float32)
    return frequencies.index_put_((ids,), values).to(device)
