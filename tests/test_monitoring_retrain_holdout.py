"""A retrain compares champion and challenger on rows neither trained on: the newest labelled
batch, or (one batch only) the newest rows of it in time / file order."""

import numpy as np
import pandas as pd
import pytest

from lablift.core import datasets, monitoring, registry, training
from lablift.core.evaluation import compute_metrics


def fresh(sample_csv, n, seed, first_id):
    """n rows the champion never saw: new applicant ids, shifted values, some outcomes flipped."""
    b = pd.read_csv(sample_csv).sample(n, random_state=seed).reset_index(drop=True)
    b["applicant_id"] = first_id + np.arange(n)
    b["income"] = b["income"] * 1.3
    b["age"] = b["age"] + 5
    flip = np.arange(n) % 4 == 0
    b.loc[flip, "approved"] = 1 - b.loc[flip, "approved"]
    return b


def trained_ids(store, out):
    ch = registry.resolve_version(store, out["challenger"]["ref"])
    ds = datasets.get(store, ch["lineage"]["retrain_dataset"]["id"])
    return set(datasets.load_frame(store, ds)["applicant_id"].astype(int)), ch


def metrics_on(store, run_id, rows):
    run = training.get_run(store, run_id)
    model = training.load_pipeline(store, run)
    spec = run["spec"]
    pred, proba = training._predict(model, rows[spec["features"]], "classification",
                                    spec.get("classes"))
    return compute_metrics("classification", rows["approved"].to_numpy(), pred, proba,
                           spec.get("classes"))


def test_newest_labelled_batch_is_held_out(store, version, sample_csv, tmp_path):
    p1, p2 = tmp_path / "b1.csv", tmp_path / "b2.csv"
    old, new = fresh(sample_csv, 200, 1, 900_000), fresh(sample_csv, 150, 2, 910_000)
    old.to_csv(p1, index=False)
    new.to_csv(p2, index=False)
    b1 = monitoring.ingest(store, "loans:1", p1, label="approved")
    b2 = monitoring.ingest(store, "loans:1", p2, label="approved")
    out = monitoring.retrain(store, "loans:1")
    ids, ch = trained_ids(store, out)
    # the challenger trained on the reference and the older batch, never on the held-out rows
    assert not ids & set(new["applicant_id"])
    assert set(old["applicant_id"]) <= ids and len(ids) == 2000 + 200
    assert out["batches"] == ch["lineage"]["batches"] == [b1["id"]]
    comp = out["comparison"]
    assert comp["batch_id"] == b2["id"] and comp["rows"] == 150
    assert comp["method"] == "newest_batch" and comp["row_ranges"] == [[0, 150]]
    assert f"#{b2['id']}" in comp["note"] and f"#{b1['id']}" in comp["note"]
    # the figures are those of both models on exactly these rows
    assert comp["champion"]["accuracy"] == pytest.approx(
        metrics_on(store, version["run_id"], new)["accuracy"])
    assert comp["challenger"]["roc_auc"] == pytest.approx(
        metrics_on(store, ch["run_id"], new)["roc_auc"])
    # stored with the challenger, in its lineage
    assert ch["lineage"]["comparison"]["batch_id"] == b2["id"]
    assert ch["lineage"]["holdout"]["rows"] == 150


def test_one_batch_split_by_time(store, version, sample_csv, tmp_path, cli):
    b = fresh(sample_csv, 100, 3, 920_000)
    # one day, rows out of time order in the file
    minutes = np.random.default_rng(0).permutation(100)
    b["when"] = [f"2026-05-04 {m // 60 + 8:02d}:{m % 60:02d}" for m in minutes]
    path = tmp_path / "one.csv"
    b.to_csv(path, index=False)
    batch = monitoring.ingest(store, "loans:1", path, label="approved", timestamp="when")
    code, text, err = cli("admin", "monitor", "retrain", "loans:1")
    assert code == 0, err
    ch = registry.resolve_version(store, "loans:2")
    hold = ch["lineage"]["holdout"]
    assert hold["method"] == "ordered_split" and hold["order_by"] == "when"
    assert hold["batch_id"] == batch["id"] and hold["rows"] == 30
    newest = set(b.sort_values("when")["applicant_id"].iloc[-30:])
    stored = monitoring.load_batch_frame(store, batch["id"])
    held = pd.concat([stored.iloc[a:z] for a, z in hold["row_ranges"]])
    assert set(held["applicant_id"]) == newest  # the ranges name exactly the newest rows
    assert hold["from"] <= hold["to"] and hold["to"].startswith(max(b["when"]))
    ds = datasets.get(store, ch["lineage"]["retrain_dataset"]["id"])
    ids = set(datasets.load_frame(store, ds)["applicant_id"].astype(int))
    assert not ids & newest and (set(b["applicant_id"]) - newest) <= ids
    assert len(ids) == 2000 + 70
    assert ch["lineage"]["comparison"]["rows"] == 30
    assert f"held-out labelled rows of batch {batch['id']}" in text
    assert "newest 30 of the 100 labelled rows" in text and "timestamp column 'when'" in text


def test_one_batch_without_time_holds_out_its_last_rows(store, version, sample_csv, tmp_path):
    b = fresh(sample_csv, 50, 4, 930_000)
    b.loc[3, "approved"] = np.nan  # an unlabelled row is neither trained on nor compared
    path = tmp_path / "plain.csv"
    b.to_csv(path, index=False)
    monitoring.ingest(store, "loans:1", path, label="approved")
    out = monitoring.retrain(store, "loans:1")
    comp = out["comparison"]
    assert comp["method"] == "ordered_split" and comp["rows"] == 15  # ceil(0.3 * 49)
    assert comp["row_ranges"] == [[35, 50]]
    assert "row order" in comp["note"]
    ids, _ = trained_ids(store, out)
    assert not ids & set(b["applicant_id"].iloc[35:])
    assert set(b["applicant_id"].iloc[:35]) - {b["applicant_id"].iloc[3]} <= ids
    assert b["applicant_id"].iloc[3] not in ids


def test_retrain_dialog_names_the_held_out_rows(qtbot, store, version, sample_csv, tmp_path):
    from lablift.gui.panes.monitoring.dialogs import RetrainDialog
    path = tmp_path / "b.csv"
    fresh(sample_csv, 60, 5, 940_000).to_csv(path, index=False)
    batch = monitoring.ingest(store, "loans:1", path, label="approved")
    out = monitoring.retrain(store, "loans:1")
    dialog = RetrainDialog(None, out)
    qtbot.addWidget(dialog)
    text = dialog.holdout_label.text()
    assert f"18 held-out rows</b> of batch #{batch['id']}" in text
    assert "newest 18 of the 60 labelled rows" in text and "row order" in text
    assert dialog.table.model().rowCount() == len(out["comparison"]["champion"])
