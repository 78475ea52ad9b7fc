"""Two lm-eval warnings that our use of lm-eval causes are dropped, and only those (lm_eval_logs.py)."""

import logging

from parallelbench_lmeval import lm_eval_logs


def test_only_the_notices_we_cause_are_dropped(caplog):
    lm_eval_logs.quiet_custom_dataset_notice()
    lm_eval_logs.quiet_custom_dataset_notice()  # installed once however often asked
    lm_eval_logs.quiet_gen_kwargs_notice()
    task, evaluator = logging.getLogger(lm_eval_logs.TASK_LOGGER), logging.getLogger(lm_eval_logs.EVALUATOR_LOGGER)
    assert len(task.filters) == 1
    with caplog.at_level(logging.WARNING):
        task.warning("parallelbench_copy: Custom kwargs can be passed to `--metadata` in console (as json string)")
        task.warning("ruler_niah: Custom kwargs can be passed to `--metadata` in console (as json string)")
        evaluator.warning("generation_kwargs: %s specified through cli, these settings will update set parameters "
                          "in yaml tasks. Ensure 'do_sample=True' for non-greedy decoding!", {"k": 2})
        evaluator.warning("model_args not specified. Using defaults.")
    assert [record.getMessage()[:20] for record in caplog.records] == ["ruler_niah: Custom k", "model_args not speci"]
