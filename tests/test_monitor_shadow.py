"""`lablift monitor ingest` of a `serve.py serve --shadow` log: champion vs challenger
agreement, latency and (once labels arrive) metrics on live traffic."""

import json

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from lablift.core import monitoring
from lablift.core.evaluation import compute_metrics

FEATURES = ["age", "income", "employment_years", "credit_score", "loan_amount",
            "home_ownership", "purpose", "region", "gender", "has_cosigner"]


def _inputs(r):
    return {f: (r[f].item() if hasattr(r[f], "item") else r[f]) for f in FEATURES}


def _log(sample_csv, path, n=40, seed=3):
    """n scored rows as serve.py --log writes them with --shadow, in 20 two-row requests;
    the shadow disagrees on every 5th row and fails on row 7. Returns the expected figures."""
    rng = np.random.default_rng(seed)
    rows = pd.read_csv(sample_csv).sample(n, random_state=seed).reset_index(drop=True)
    lines, truth = [], []
    champ_lat, shadow_lat = {}, {}
    for i, r in rows.iterrows():
        rid = f"req-{i // 2}"
        p1 = float(rng.uniform(0.05, 0.95))
        pred = int(p1 >= 0.5)
        disagree = i % 5 == 0
        q1 = (1 - p1) if disagree else min(max(p1 + 0.01, 0.0), 1.0)
        spred = int(q1 >= 0.5) if disagree else pred
        if disagree and spred == pred:
            spred = 1 - pred
        champ_lat.setdefault(rid, 2.0 + i)
        shadow_lat.setdefault(rid, 5.0 + 2 * i)
        line = {"timestamp": f"2026-04-01T10:{i:02d}:00.000+00:00", "request_id": rid,
                "row": i % 2, "model": "loan:1",
                "inputs": _inputs(r),
                "prediction": pred, "latency_ms": champ_lat[rid],
                "probabilities": {"0": 1 - p1, "1": p1}}
        if i == 7:
            line["shadow"] = {"model": "loan:2", "prediction": None, "latency_ms": shadow_lat[rid],
                              "error": "ValueError: shadow bundle refused the row"}
        else:
            line["shadow"] = {"model": "loan:2", "prediction": spred,
                              "probabilities": {"0": 1 - q1, "1": q1},
                              "latency_ms": shadow_lat[rid]}
        lines.append(json.dumps(line))
        truth.append({"request_id": rid, "row": i % 2, "approved": int(r["approved"]),
                      "pred": pred, "spred": spred, "p1": p1, "q1": q1, "failed": i == 7})
    path.write_text("\n".join(lines) + "\n")
    return pd.DataFrame(truth), champ_lat, shadow_lat


def test_shadow_log_comparison_then_labels(cli, store, trained, sample_csv, tmp_path):
    path = tmp_path / "shadow.jsonl"
    truth, champ_lat, shadow_lat = _log(sample_csv, path)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--json")
    assert code == 0, err
    s = json.loads(out)["shadow"]
    ok = truth[~truth["failed"]]
    assert s["champion"] == "loan:1" and s["challenger"] == "loan:2"
    assert s["rows"] == 40 and s["compared_rows"] == 39 and s["errors"] == 1
    assert s["error_messages"] == ["ValueError: shadow bundle refused the row"]
    assert s["agreement"] == pytest.approx(float((ok["pred"] == ok["spred"]).mean()))
    assert s["disagreements"] == int((ok["pred"] != ok["spred"]).sum()) == 8
    diff = np.abs(ok["p1"] - ok["q1"]).mean()  # the two classes differ by the same amount
    assert s["probabilities"]["mean_abs_diff"] == pytest.approx(diff, abs=1e-9)
    assert s["latency_ms"]["champion"]["p50"] == pytest.approx(
        np.percentile(list(champ_lat.values()), 50))
    assert s["latency_ms"]["champion"]["p95"] == pytest.approx(
        np.percentile(list(champ_lat.values()), 95))
    # the failed shadow row's request still has a scored row with a shadow latency
    assert s["latency_ms"]["challenger"]["p95"] == pytest.approx(
        np.percentile(list(shadow_lat.values()), 95))
    assert s["metrics"] is None  # no labels yet
    batch_id = json.loads(out)["id"]

    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path))
    assert code == 1  # the same log twice is refused, as any batch

    # labels arrive: the comparison gets both models' metrics on live traffic
    labels = tmp_path / "labels.csv"
    truth[["request_id", "row", "approved"]].to_csv(labels, index=False)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(labels), "--label",
                         "approved", "--json")
    assert code == 0, err
    updated = json.loads(out)
    updated = updated[0] if isinstance(updated, list) else updated
    assert updated["id"] == batch_id
    m = updated["shadow"]["metrics"]
    assert m["rows"] == 39
    want_c = compute_metrics("classification", ok["approved"].to_numpy(), ok["pred"].to_numpy(),
                             np.c_[1 - ok["p1"], ok["p1"]], [0, 1])
    want_s = compute_metrics("classification", ok["approved"].to_numpy(),
                             ok["spred"].to_numpy(), np.c_[1 - ok["q1"], ok["q1"]], [0, 1])
    assert m["champion"]["accuracy"] == pytest.approx(want_c["accuracy"])
    assert m["challenger"]["accuracy"] == pytest.approx(want_s["accuracy"])
    assert m["challenger"]["roc_auc"] == pytest.approx(want_s["roc_auc"])

    # stored in the batch result; the human output shows it
    stored = monitoring.get_batch(store, batch_id)["result"]["shadow"]
    assert stored["metrics"]["rows"] == 39 and stored["agreement"] == s["agreement"]
    log2 = tmp_path / "shadow2.jsonl"
    _log(sample_csv, log2, n=10, seed=9)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(log2))
    assert code == 0, err
    assert "shadow loan:2 beside loan:1: 9 of 10 rows compared, 1 shadow errors" in out
    assert "agreement" in out and "challenger latency p50" in out


def test_log_without_shadow_has_no_comparison(cli, trained, sample_csv, tmp_path):
    path = tmp_path / "plain.jsonl"
    rows = pd.read_csv(sample_csv).head(5)
    path.write_text("".join(json.dumps({
        "timestamp": "2026-04-01T10:00:00.000+00:00", "request_id": f"r{i}", "row": 0,
        "model": "loan:1", "inputs": _inputs(r),
        "prediction": 1, "latency_ms": 3.0}) + "\n" for i, r in rows.iterrows()))
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--json")
    assert code == 0, err
    batch = json.loads(out)
    assert batch["shadow"] is None
    assert not [q for q in batch["quality"] if "shadow" in json.dumps(q)]


def test_batches_tab_shows_shadow_agreement(qtbot, cli, store, trained, sample_csv, tmp_path):
    from lablift.gui.panes.monitoring.batches_tab import BatchesTab
    from lablift.gui.panes.monitoring.data import load_monitoring
    path = tmp_path / "shadow.jsonl"
    _log(sample_csv, path)
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--json")
    assert code == 0, err
    s = json.loads(out)["shadow"]
    data = load_monitoring(store, "loan:1")  # what the pane's worker reads
    tab = BatchesTab()
    qtbot.addWidget(tab)
    tab.show_report(data["report"], data["report"]["batches"])
    tab.show_batch(0)
    model = tab.batches_model
    col = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    cell = model.index(0, col.index("Shadow")).data()
    assert cell == f"{s['agreement']:.1%} agree, 1 errors"
    assert not tab.shadow_label.isHidden()
    text = tab.shadow_label.text()
    assert "Shadow loan:2</b> beside <b>loan:1</b>: 39 of 40 rows compared" in text
    assert f"same prediction on {s['agreement']:.1%} (8 differ)" in text
    assert "challenger latency p50" in text
