"""The runs table's columns (gui/panes/experiments/runs_data, runs_arrange) without Qt: a
reload patches what changed and gives what a fresh read gives; rows diff into the model
signals that say only what moved."""

from __future__ import annotations

import json

import numpy as np

from lablift.gui.panes.experiments.runs_arrange import arrange, diff_rows, shown_rows
from lablift.gui.panes.experiments.runs_data import build

NAMES = ("id", "dataset_id", "sweep_id", "reproduces", "status", "task", "algorithm", "target",
         "seed", "params", "metrics", "error", "created_by", "created_at", "finished_at",
         "duration_s")


def row(rid, status="finished", auc=None, algorithm="knn", params=None, sweep=None):
    metrics = {} if auc is None else {"holdout": {"roc_auc": auc},
                                      "cv": {"roc_auc": {"mean": auc - 0.01, "std": 0.0}}}
    return (rid, 1, sweep, None, status, "classification", algorithm, "y", 0,
            json.dumps(params or {"k": rid % 3}), json.dumps(metrics), None, "ana",
            f"2026-01-01T00:00:{rid:02d}", None, 1.0 + rid)


def ids(arrangement):
    return [int(arrangement.data.ids[p]) for p in arrangement.top]


def test_a_reload_patches_changed_runs_in_place_and_matches_a_fresh_read():
    first = [row(1, auc=0.7), row(2, auc=0.9, algorithm="forest"), row(3, status="running")]
    data, change = build(NAMES, first, {1: "d:1"})
    assert len(change.added) == 3 and data.metric_keys() == {"m.roc_auc", "cv.roc_auc"}
    assert ids(arrange(data, "m.roc_auc", True, "roc_auc>0.5")) == [2, 1]
    data.text()  # built once, then kept (patched) by the reload below
    assert data.running == (3,)

    later = [row(3, auc=0.95, params={"k": 2, "depth": 4}), row(4, auc=0.6)]
    again, change = build(NAMES, later, {1: "d:1"}, base=data)
    assert change.changed.tolist() == [2] and change.added.tolist() == [3]
    assert again.position(3) == 2 and again.running == () and again.last_id == 4
    assert again.param_names >= {"k", "depth"} and "depth" in again.known_fields()
    fresh, _ = build(NAMES, first[:2] + later, {1: "d:1"})
    for text in ("roc_auc>0.5", "depth=4", "forest", "status=finished k=2", "cv.roc_auc<0.7"):
        assert ids(arrange(again, "m.roc_auc", True, text)) == \
            ids(arrange(fresh, "m.roc_auc", True, text)), text
    assert ids(arrange(again, "m.roc_auc", True, "roc_auc>0.5")) == [3, 2, 1, 4]
    assert data.status[2] == "running"  # the data shown before is left as it was
    same, nothing = build(NAMES, [row(4, auc=0.6)], {1: "d:1"}, base=again)
    assert same is again and not len(nothing.codes())


def test_missing_values_sort_last_either_way_and_ties_go_newest_first():
    data, _ = build(NAMES, [row(1, auc=0.5), row(2), row(3, auc=0.5), row(4, auc=0.8)], {})
    assert ids(arrange(data, "m.roc_auc", True, "")) == [4, 3, 1, 2]
    assert ids(arrange(data, "m.roc_auc", False, "")) == [3, 1, 4, 2]
    assert ids(arrange(data, "algorithm", False, "roc_auc=none")) == []  # 2 has no roc_auc
    undefined = row(5)[:10] + (json.dumps({"holdout": {"roc_auc": None}}),) + row(5)[11:]
    data, _ = build(NAMES, [undefined], {}, base=data)
    assert ids(arrange(data, None, True, "roc_auc=none")) == [5]
    assert ids(arrange(data, None, True, "roc_auc!=none")) == [4, 3, 1]
    assert arrange(data, None, True, "nosuch>1").unknown == ["nosuch"]


def test_a_sweeps_runs_follow_its_row_while_it_is_open():
    data, _ = build(NAMES, [row(1, auc=0.6), row(2, auc=0.9, sweep=7), row(3, auc=0.7, sweep=7)],
                    {})
    data.grouped[:] = [False, True, True]  # as group_sweeps marks a listed sweep's runs
    arranged = arrange(data, "m.roc_auc", True, "")
    assert arranged.top.tolist() == [-7, 0] and arranged.children[7].tolist() == [1, 2]
    assert shown_rows(arranged, set()).tolist() == [-7, 0]
    assert shown_rows(arranged, {7}).tolist() == [-7, 1, 2, 0]


def test_row_diffs_say_what_changed_came_or_went():
    old = np.array([5, 4, 3, 2, 1])
    same = diff_rows(old, old.copy(), np.array([3]))
    assert (same.removed, same.inserted, same.changed) == ([], [], [(2, 2)])
    came = diff_rows(old, np.array([6, 5, 4, 3, 2, 1]), np.array([6]))
    assert (came.removed, came.inserted, came.changed) == ([], [(0, 0)], [])
    moved = diff_rows(old, np.array([5, 3, 2, 4, 1]), np.array([4]))  # 4's value changed
    assert (moved.removed, moved.inserted) == ([(1, 1)], [(3, 3)])
    assert diff_rows(old, old[::-1].copy(), np.array([], np.int64)) is None  # a re-sort
    went = diff_rows(old, np.array([5, 1]), np.array([], np.int64))  # a filter
    assert (went.removed, went.inserted) == ([(1, 3)], [])
