"""`lablift monitor report` carries the shadow block: champion vs challenger agreement,
latency and (once labels arrived) metrics on live traffic, over every shadow log ingested
for the version, one comparison per challenger; text and --json."""

import json

import numpy as np
import pandas as pd
import pytest

from lablift.core.evaluation import compute_metrics
from test_monitor_shadow import _log


def report(cli):
    code, out, err = cli("olga", "monitor", "report", "loan:1", "--json")
    assert code == 0, err
    return json.loads(out)


def ingest(cli, path, *extra):
    code, out, err = cli("olga", "monitor", "ingest", "loan:1", str(path), "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_report_shadow_block_over_batches_then_labels(cli, trained, sample_csv, tmp_path):
    assert report(cli)["shadow"] == []  # nothing ingested: no block
    t1, c1, s1 = _log(sample_csv, tmp_path / "a.jsonl", n=40, seed=3)
    t2, c2, s2 = _log(sample_csv, tmp_path / "b.jsonl", n=10, seed=9)
    b_log = tmp_path / "b.jsonl"  # its own request ids: the labels below are a's only
    b_log.write_text(b_log.read_text().replace('"request_id": "req-', '"request_id": "b-'))
    b1, b2 = ingest(cli, tmp_path / "a.jsonl"), ingest(cli, tmp_path / "b.jsonl")
    # a third log compares another challenger: its own comparison
    _log(sample_csv, tmp_path / "c.jsonl", n=6, seed=5)
    text = (tmp_path / "c.jsonl").read_text().replace('"model": "loan:2"', '"model": "loan:3"')
    (tmp_path / "c.jsonl").write_text(text)
    b3 = ingest(cli, tmp_path / "c.jsonl")

    rep = report(cli)
    per_batch = {b["id"]: b["shadow"] for b in rep["batches"]}
    assert per_batch[b1["id"]] == b1["shadow"] and per_batch[b3["id"]] == b3["shadow"]
    assert [s["challenger"] for s in rep["shadow"]] == ["loan:2", "loan:3"]
    s, other = rep["shadow"]
    assert s["champion"] == "loan:1" and s["batch_ids"] == sorted([b1["id"], b2["id"]])
    assert other["batch_ids"] == [b3["id"]] and other["rows"] == 6
    truth = pd.concat([t1, t2], ignore_index=True)
    ok = truth[~truth["failed"]]
    assert s["rows"] == 50 and s["compared_rows"] == 48 and s["errors"] == 2
    assert s["agreement"] == pytest.approx(float((ok["pred"] == ok["spred"]).mean()))
    assert s["disagreements"] == int((ok["pred"] != ok["spred"]).sum())
    assert s["probabilities"]["mean_abs_diff"] == pytest.approx(
        float(np.abs(ok["p1"] - ok["q1"]).mean()), abs=1e-9)
    # per request over both logs
    champ = list(c1.values()) + list(c2.values())
    shadow = list(s1.values()) + list(s2.values())
    lat = s["latency_ms"]
    assert lat["champion"]["requests"] == len(champ) == 25
    for q in (50, 95):
        assert lat["champion"][f"p{q}"] == pytest.approx(np.percentile(champ, q))
        assert lat["challenger"][f"p{q}"] == pytest.approx(np.percentile(shadow, q))
    assert s["metrics"] is None and s["label_column"] is None

    # labels for the first log arrive: metrics on the labelled live rows, both models
    labels = tmp_path / "labels.csv"
    t1[["request_id", "row", "approved"]].to_csv(labels, index=False)
    ingest(cli, labels, "--label", "approved")
    s = report(cli)["shadow"][0]
    ok1 = t1[~t1["failed"]]
    m = s["metrics"]
    assert m["rows"] == 39 and s["label_column"] == "approved"
    want_c = compute_metrics("classification", ok1["approved"].to_numpy(),
                             ok1["pred"].to_numpy(), np.c_[1 - ok1["p1"], ok1["p1"]], [0, 1])
    want_s = compute_metrics("classification", ok1["approved"].to_numpy(),
                             ok1["spred"].to_numpy(), np.c_[1 - ok1["q1"], ok1["q1"]], [0, 1])
    for k in ("accuracy", "roc_auc", "f1"):
        assert m["champion"][k] == pytest.approx(want_c[k])
        assert m["challenger"][k] == pytest.approx(want_s[k])
    assert s["rows"] == 50  # the unlabelled log is still compared

    code, out, err = cli("olga", "monitor", "report", "loan:1")
    assert code == 0, err
    assert "shadow traffic (champion vs challenger, all batches):" in out
    assert "shadow loan:2 beside loan:1: 48 of 50 rows compared, 2 shadow errors" in out
    assert f"agreement {s['agreement']:.1%}" in out
    assert f"challenger latency p50 {s['latency_ms']['challenger']['p50']:.1f} ms" in out
    assert f"on 39 labelled rows (champion / challenger): accuracy " \
           f"{m['champion']['accuracy']:.3f} / {m['challenger']['accuracy']:.3f}" in out
    assert "shadow loan:3 beside loan:1: 6 of 6 rows compared" in out
    head = next(line for line in out.splitlines() if line.startswith("BATCH"))
    assert "SHADOW_AGREE" in head
    row = next(line for line in out.splitlines() if line.startswith(f"{b3['id']} "))
    assert row.rstrip().endswith(f"{b3['shadow']['agreement']:.1%}")


def test_report_without_shadow_logs_has_no_block(cli, trained, sample_csv, tmp_path):
    batch = pd.read_csv(sample_csv).sample(200, random_state=1)
    batch.to_csv(tmp_path / "b.csv", index=False)
    ingest(cli, tmp_path / "b.csv", "--label", "approved")
    rep = report(cli)
    assert rep["shadow"] == [] and rep["batches"][0]["shadow"] is None
    code, out, err = cli("olga", "monitor", "report", "loan:1")
    assert code == 0 and "shadow" not in out
