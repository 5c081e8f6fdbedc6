"""bench/_lp_ft_merge: the printed output of bench/lp_ft.py runs at different seeds joins
into the one table a run of all the seeds would print; runs that are not the same bench
are refused with the file and the reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _lp_ft_merge import MergeError, merge_runs, read_run

COMMAND = "python bench/lp_ft.py --start mpnet --threads 1 --seeds {seeds} --set a=1"
RECIPE = "# curve recipe: 10 epochs, at least 60 steps, patience 6, batch 32"


def printed(
    tmp_path: Path, name: str, rows: list[str], command: str = COMMAND, seeds: str = ""
) -> Path:
    """A log as `bench/lp_ft.py … > log 2>&1` leaves it: header, recipe, the fine-tunes'
    progress lines, the per-seed summary lines and the table."""
    seeds = seeds or " ".join(r.split("|")[1].strip() for r in rows if "mean" not in r)
    text = "\n".join(
        [
            "# 10-shot: self-trained probe vs LP-FT from all-mpnet-base-v2, Banking77",
            "# date: 2026-12-07",
            f"# command: {command.format(seeds=seeds)}",
            "# machine: Linux x86_64 (x86_64), 2 cores, Python 3.11.7",
            RECIPE,
            "Loading weights: 100%|██████████| 199/199 [00:00<00:00, 2447.85it/s]",
            "02:31:42 seed 0 LP-FT 0.0001 fine-tune: step 125/250 (50%), val accuracy 0.876",
            "# 0: 0.873, 0.880, 0.885 (step 150), 0.893, 0.893, 3530",
            "| subset seed | probe: val | test | LP-FT 0.0001: val | test | chosen on val: test"
            " | s |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    path = tmp_path / name
    path.write_text(text + "\n")
    return path


ROW = {
    0: "| 0 | 0.873 | 0.880 | 0.885 (step 150) | 0.893 | 0.893 | 3530 |",
    1: "| 1 | 0.884 | 0.887 | 0.894 (step 150) | 0.895 | 0.895 | 3718 |",
    2: "| 2 | 0.850 | 0.860 | 0.870 (step 100) | 0.880 | 0.880 | 3600 |",
    10: "| 10 | 0.800 | 0.810 | 0.820 (step 75) | 0.831 | 0.831 | 3000 |",
}


def test_runs_of_one_seed_each_join_sorted_with_the_mean_of_their_figures(tmp_path):
    logs = [
        printed(tmp_path, "s10.log", [ROW[10]]),
        printed(tmp_path, "s2.log", [ROW[2]]),
        # A run of two seeds prints its own mean row: merging recomputes it over all.
        printed(tmp_path, "s01.log", [ROW[0], ROW[1], "| mean | 1 | 1 | 1 | 1 | 1 | |"]),
    ]
    merged, mean = merge_runs([read_run(p) for p in logs])
    assert merged.seeds == ("0", "1", "2", "10")
    assert merged.command == "python bench/lp_ft.py --start mpnet --threads 1 --set a=1"
    assert merged.recipe == RECIPE and merged.date == "2026-12-07"
    assert merged.rows[0][3] == "0.885 (step 150)"
    # The notes in cells ("(step 150)") are not figures; seconds have no mean.
    assert mean == ("mean", "0.852", "0.859", "0.867", "0.875", "0.875", "")


def test_a_seed_in_two_logs_is_refused_naming_both(tmp_path):
    first = printed(tmp_path, "a.log", [ROW[0]])
    again = printed(tmp_path, "b.log", [ROW[0]])
    with pytest.raises(MergeError, match=r"b\.log: seed 0 is also in .*a\.log"):
        merge_runs([read_run(first), read_run(again)])


def test_runs_of_another_command_are_refused(tmp_path):
    one = printed(tmp_path, "a.log", [ROW[0]])
    other = printed(tmp_path, "b.log", [ROW[1]], command=COMMAND.replace("mpnet", "minilm"))
    with pytest.raises(MergeError, match=r"b\.log: its command differs"):
        merge_runs([read_run(one), read_run(other)])


def test_an_unfinished_run_or_a_table_of_other_seeds_is_named(tmp_path):
    unfinished = tmp_path / "running.log"
    unfinished.write_text(
        printed(tmp_path, "x.log", [ROW[0]]).read_text().split("| subset seed")[0]
    )
    with pytest.raises(MergeError, match=r"running\.log: no table"):
        read_run(unfinished)
    wrong = printed(tmp_path, "wrong.log", [ROW[1]], seeds="3")
    with pytest.raises(MergeError, match=r"wrong\.log: the table's seeds \('1',\) are not"):
        read_run(wrong)
