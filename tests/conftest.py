import os

import pytest
from tasks_helpers import offline_scoring_env

# Everything runs offline: no hub look-ups, even for names that look like hub ids.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests' models are tiny: intra-op threads gain nothing, and on a shared machine threads that
# wait on each other made decoding about 12x slower (also for the lm_eval subprocesses: inherited).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Text Writing tasks start their scorers when built: offline ones here (Harper, packaged MiniLM)
for _name, _value in offline_scoring_env().items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_masked_lm_dir(tmp_path_factory):
    from parallelbench_lmeval.tiny_models import tiny_masked_lm

    return tiny_masked_lm(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_dream_dir(tmp_path_factory):
    from parallelbench_lmeval.tiny_models import tiny_dream_standin

    return tiny_dream_standin(tmp_path_factory.mktemp("tiny_dream"))


@pytest.fixture(scope="session")
def tiny_llada_dir(tmp_path_factory):
    from parallelbench_lmeval.tiny_models import tiny_llada_standin

    return tiny_llada_standin(tmp_path_factory.mktemp("tiny_llada"))


@pytest.fixture
def no_weights(monkeypatch):
    """Fails the test if any model's weights are loaded (options must be refused before)."""
    from parallelbench_lmeval.models import transformer_backend

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(transformer_backend, "load_model", refuse)


@pytest.fixture(scope="session")
def tiny_block_diffusion_dir(tmp_path_factory):
    """The block-diffusion stand-in decoded as SDAR (blocks of 4)."""
    from parallelbench_lmeval.tiny_models import tiny_block_diffusion_standin

    return tiny_block_diffusion_standin(tmp_path_factory.mktemp("tiny_sdar"))


@pytest.fixture(scope="session")
def tiny_shifted_block_diffusion_dir(tmp_path_factory):
    """The block-diffusion stand-in decoded as Fast-dLLM v2 (shifted, attention blocks of 8)."""
    from parallelbench_lmeval.tiny_models import tiny_block_diffusion_standin

    return tiny_block_diffusion_standin(tmp_path_factory.mktemp("tiny_fast_dllm_v2"), block_size=8, shifted=True)
