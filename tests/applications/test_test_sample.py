"""The gate judges a model on the very test examples its evaluation scored (issue 21,
item 14): the same selection, cap and seed, for the text applications and the recommender."""

from __future__ import annotations

import numpy as np
import pytest

from karpa.applications.data import load_recommendation, load_text_task
from karpa.manifests import HeldOutSample
from karpa.promotion import evidence


@pytest.mark.parametrize("task", ["intent", "sentiment"])
@pytest.mark.parametrize("cap", [None, 17])
def test_the_gate_judges_the_examples_the_evaluation_scored(views_dir, task, cap):
    evaluated = load_text_task(views_dir, task, max_test=cap, seed=3).test
    judged = evidence.test_set(task, views_dir, HeldOutSample(max_examples=cap, seed=3))
    assert sorted(zip(judged.requests["text"], judged.truth, strict=True)) == sorted(
        zip(evaluated.texts, evaluated.labels, strict=True)
    )
    if cap is not None:
        assert len(evaluated) < load_text_task(views_dir, task, seed=3).n_test_total
        # another seed draws other examples: the sample, not the cap, decides which
        other = evidence.test_set(task, views_dir, HeldOutSample(max_examples=cap, seed=4))
        assert sorted(other.requests["text"]) != sorted(judged.requests["text"])


@pytest.mark.parametrize("cap", [None, 9])
def test_the_recommender_is_judged_on_the_users_it_was_evaluated_on(views_dir, cap):
    evaluated = load_recommendation(views_dir, cap, seed=5)
    judged = evidence.test_set("recommendation", views_dir, HeldOutSample(max_examples=cap, seed=5))
    ids = np.array(evaluated.catalogue.item_ids)
    assert [list(h) for h in judged.requests["history"]] == [
        list(ids[h]) for h in evaluated.test_histories
    ]
    assert list(judged.truth) == list(ids[evaluated.test_targets])
    assert len(judged.truth) == (cap or evaluated.n_test_total)
