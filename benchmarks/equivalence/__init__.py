"""Reference adapters of `benchmarks/reference_equivalence.py`: one module per reference implementation
(see `common.py` for the interface every adapter implements)."""
