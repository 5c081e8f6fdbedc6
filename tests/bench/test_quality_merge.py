"""bench/_quality_merge: result files of different PhraseBank splits, or of different
MovieLens seeds, join into one table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _quality_merge import MergeError, merge_seeds, merge_task

ROWS = ("karpa, own pretraining (random init)", "TF-IDF + logistic regression")


def results(
    seeds: list[int],
    epochs: int = 10,
    steps: int = 30,
    preset: str = "small",
    quick: bool = False,
    starts: tuple[str, ...] = ("own-init", "MiniLM-init"),
    rows: tuple[str, ...] = ROWS,
) -> dict:
    """A result file as bench/quality.py writes it, with the fields merging reads; `starts`:
    the pipelines of each split (--inits)."""

    def run(seed: int, start: str) -> dict:
        scale = 0.25 if start == "own-init" else 0.025
        return {
            "label": f"phrasebank split {seed} {start}",
            "pretrain_steps": steps,
            "report": {
                "protocol": {
                    "classifier": {"epochs": epochs, "seed": seed, "encoder_lr_scale": scale}
                }
            },
        }

    figures = {
        row: [{"accuracy": seed / 10 + i, "macro_f1": seed / 10} for seed in seeds]
        for i, row in enumerate(rows)
    }
    runs = [run(seed, start) for seed in seeds for start in starts]
    return {
        "seeds": seeds,
        "preset": preset,
        "quick": quick,
        "tasks": {"phrasebank": {"figures": figures, "runs": runs}},
    }


def test_splits_of_two_files_join_in_seed_order():
    found = merge_task(
        "phrasebank", [(Path("b.json"), results([3, 4])), (Path("a.json"), results([0, 1, 2]))]
    )
    assert found.seeds == [0, 1, 2, 3, 4]
    assert [f["macro_f1"] for f in found.figures[ROWS[0]]] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert [f["accuracy"] for f in found.figures[ROWS[1]]] == [1.0, 1.1, 1.2, 1.3, 1.4]
    assert [r["label"] for r in found.runs[:3]] == [
        "phrasebank split 0 own-init",
        "phrasebank split 0 MiniLM-init",
        "phrasebank split 1 own-init",
    ]
    assert found.preset == "small"


MINILM_ONLY = {"starts": ("MiniLM-init",), "rows": ("karpa, MiniLM start + in-domain pretraining",)}


def test_files_of_the_minilm_start_alone_join_one_run_per_split():
    found = merge_task(
        "phrasebank",
        [
            (Path("b.json"), results([1], **MINILM_ONLY)),
            (Path("a.json"), results([0, 2], **MINILM_ONLY)),
        ],
    )
    assert found.seeds == [0, 1, 2]
    assert [r["label"] for r in found.runs] == [
        "phrasebank split 0 MiniLM-init",
        "phrasebank split 1 MiniLM-init",
        "phrasebank split 2 MiniLM-init",
    ]


def test_a_file_of_one_start_does_not_join_a_file_of_both():
    with pytest.raises(MergeError, match=r"b\.json: phrasebank's table rows differ"):
        merge_task(
            "phrasebank",
            [(Path("a.json"), results([0])), (Path("b.json"), results([1], **MINILM_ONLY))],
        )


def test_a_split_in_two_files_is_refused_with_both_files():
    with pytest.raises(MergeError, match=r"b\.json: split seed 2 is also in a\.json"):
        merge_task(
            "phrasebank", [(Path("a.json"), results([0, 1, 2])), (Path("b.json"), results([2, 3]))]
        )


@pytest.mark.parametrize(
    ("other", "what"),
    [
        (results([3], epochs=3), "epochs"),
        (results([3], steps=300), "pretrain_steps"),
        (results([3], preset="base"), "model preset 'base'"),
        (results([3], quick=True), "--quick run"),
    ],
)
def test_runs_of_another_recipe_are_refused_naming_what_differs(other, what):
    with pytest.raises(MergeError, match=f"b.json: .*{what}"):
        merge_task("phrasebank", [(Path("a.json"), results([0])), (Path("b.json"), other)])


def test_one_split_tasks_and_missing_tasks_are_refused():
    with pytest.raises(MergeError, match=r"banking77: only split tasks merge"):
        merge_task("banking77", [(Path("a.json"), results([0]))])
    with pytest.raises(MergeError, match=r"a\.json: has no results for task 'phrasebank_allagree'"):
        merge_task("phrasebank_allagree", [(Path("a.json"), results([0]))])


def rec_results(
    seeds: list[tuple[int, int]],
    foundations: dict[int, str] | None = None,
    recipe: dict | None = None,
    steps: int = 100,
) -> dict:
    """A MovieLens result file with the fields merging reads; `recipe` as a report's
    protocol holds it (a file of an older karpa lacks later settings)."""
    foundations = foundations or {0: "aaa", 1: "bbb"}

    def run(pre: int, fine: int) -> dict:
        protocol = {
            "recommender": {"attention": "causal", "epochs": 100, "seed": fine, **(recipe or {})},
            "foundation": f"/scratch/store/foundations/{foundations[pre]}/foundation.pt",
        }
        return {
            "label": f"movielens pretrain {pre} finetune {fine}",
            "pretrain_steps": steps,
            "report": {"protocol": protocol},
        }

    return {
        "preset": "small",
        "quick": False,
        "tasks": {"movielens": {"runs": [run(p, f) for p, f in seeds]}},
    }


def test_movielens_seeds_of_several_files_join_in_seed_order():
    found = merge_seeds(
        "movielens",
        [
            (Path("c.json"), rec_results([(1, 0), (1, 1)])),
            # Written before id dropout existed: its runs ran with the default, so they join.
            (Path("a.json"), rec_results([(0, 0)])),
            (Path("b.json"), rec_results([(0, 1)], recipe={"id_dropout": 0.0})),
        ],
    )
    assert found.seeds == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [r["label"] for r in found.runs][:2] == [
        "movielens pretrain 0 finetune 0",
        "movielens pretrain 0 finetune 1",
    ]
    assert (found.preset, found.pretrain_steps) == ("small", 100)


@pytest.mark.parametrize(
    ("other", "what"),
    [
        (rec_results([(1, 0)], recipe={"attention": "bidirectional"}), "attention 'bidirectional'"),
        (rec_results([(1, 0)], recipe={"id_dropout": 0.5}), "id_dropout 0.5"),
        (rec_results([(1, 0)], steps=300), "pretrain_steps 300"),
        (rec_results([(0, 0)]), "pretraining seed 0, fine-tune seed 0 is also in a.json"),
        (
            rec_results([(0, 1)], {0: "zzz"}),
            "pretraining seed 0's foundation zzz is not a.json's aaa",
        ),
    ],
)
def test_movielens_runs_that_do_not_belong_together_are_refused(other, what):
    with pytest.raises(MergeError, match=f"b.json: .*{what}"):
        merge_seeds("movielens", [(Path("a.json"), rec_results([(0, 0)])), (Path("b.json"), other)])


def test_two_pretraining_seeds_of_one_foundation_are_refused():
    one = rec_results([(0, 0), (1, 0)], {0: "aaa", 1: "aaa"})
    with pytest.raises(MergeError, match="two pretraining seeds share one foundation"):
        merge_seeds("movielens", [(Path("a.json"), one)])
