"""A whole `parallelbench` run through lm_eval.simple_evaluate with a stand-in model that writes the stored answers."""

import pytest
from lm_eval.api.model import LM

from tasks_helpers import CORE_TASKS, offline_scoring_env


class StoredAnswerLM(LM):
    """Answers every prompt with the item's stored answer (the reference text for Text Writing)."""

    def generate_until(self, requests, disable_tqdm=False):
        return [request.doc["answer"] for request in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


@pytest.fixture
def offline_scorers(monkeypatch):
    for key, value in offline_scoring_env().items():
        monkeypatch.setenv(key, value)


def test_group_pb_acc_is_the_unweighted_mean_over_the_17_tasks(offline_scorers):
    from lm_eval import simple_evaluate

    results = simple_evaluate(model=StoredAnswerLM(), tasks=["parallelbench"], limit=4, log_samples=False)["results"]
    per_task = [results[name]["pb_acc,none"] for name in CORE_TASKS]
    assert all(results[name]["pb_acc,none"] == 1.0 for name in CORE_TASKS if CORE_TASKS[name][2] == 1)
    assert results["parallelbench"]["pb_acc,none"] == pytest.approx(sum(per_task) / 17)
    assert "tokens_per_step,none" not in results["parallelbench"]  # a model without decode statistics
