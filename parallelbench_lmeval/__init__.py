"""ParallelBench tasks and the `dllm` diffusion-LLM decoding engine for lm-evaluation-harness.

This module is imported at every interpreter start (through the autoload hook), so it
must stay free of heavy imports.
"""

__version__ = "0.1.0"
