"""The error rate of prediction logs where latency is shown: CLI text and the latency chart."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from test_monitoring import _log_with_failures  # noqa: E402

from lablift.cli import main  # noqa: E402
from lablift.core import datasets, monitoring, registry, training  # noqa: E402
from lablift.gui.monitoring_charts import DRIFT_RED, plot_latency  # noqa: E402


@pytest.fixture
def logged(store, store_dir, sample_csv, tmp_path):
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    run = training.train(store, {"dataset": ds["id"], "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 2})
    registry.register(store, run["id"], "loans")
    log = tmp_path / "predictions.jsonl"
    _log_with_failures(log, pd.read_csv(sample_csv), 20, 5)  # 5 of 25 requests fail
    return log


def test_cli_ingest_and_report_show_the_error_rate(logged, store_arg, capsys):
    code = main(["--store", store_arg("admin"), "--user", "admin", "monitor", "ingest", "loans:1",
                 str(logged)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "requests 25, errors 5 (20.0%)" in out
    assert "ALERT errors: error rate 20.0% (5 of 25 requests failed)" in out
    code = main(["--store", store_arg("admin"), "--user", "admin", "monitor", "report", "loans:1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    header, row = next((line, nxt) for line, nxt in zip(out.splitlines(), out.splitlines()[1:])
                       if "P99_MS" in line)
    assert header.split()[-3:] == ["P99_MS", "REQUESTS", "ERROR_RATE"]
    assert row.split()[-2:] == ["25", "20.0%"]


def test_latency_chart_shows_failed_requests_and_the_rate(store, logged):
    monitoring.ingest(store, "loans:1", logged)
    rep = monitoring.report(store, "loans:1")
    batches = rep["batches"]
    for budget, red in ((0.01, True), (0.5, False)):
        ax = Figure().add_subplot()
        assert plot_latency(ax, batches, rep["latency"], 100.0, budget)
        lat_ax, volume_ax = ax.figure.axes
        assert [p.get_height() for p in volume_ax.patches] == [25, 5]  # requests, failed
        assert volume_ax.patches[1].get_y() == 20  # the failed part tops the bar
        texts = {t.get_text(): t for t in lat_ax.get_legend().get_texts()}
        label = texts["requests (20.0% failed)"]
        assert (label.get_color() == DRIFT_RED) is red
        assert "failed" in texts


def test_pane_draws_a_day_where_every_request_failed(qtbot, store, logged):
    import json

    from lablift.gui.panes import monitoring as mpane
    with open(logged, "a") as f:  # an outage the next day: only failed requests
        for i in range(3):
            f.write(json.dumps({"timestamp": "2026-03-03T09:00:00.000+00:00",
                                "request_id": f"down-{i}", "model": "loans:1",
                                "error": {"status": 500, "message": "internal error"},
                                "latency_ms": 3.0}) + "\n")
    lines = [json.loads(x) for x in logged.read_text().splitlines()]
    for x in lines[:-3]:
        x["timestamp"] = "2026-03-02T10:00:00.000+00:00"
    logged.write_text("".join(json.dumps(x) + "\n" for x in lines))
    days = monitoring.ingest(store, "loans:1", logged, window="day")["batches"]
    assert [(b["rows"], b["ops"]["requests"], b["ops"]["errors"]) for b in days] == [
        (30, 25, 5), (0, 3, 3)]
    assert "no_rows" in {f["check"] for f in days[1]["quality"]}
    pane = mpane.Pane(store)
    qtbot.addWidget(pane)
    pane.resize(1120, 720)
    pane.show()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=60000)
    lat_ax, volume_ax = pane.performance_tab.latency_chart.figure.axes
    assert [p.get_height() for p in volume_ax.patches] == [25, 3, 5, 3]
    labels = [t.get_text() for t in lat_ax.get_legend().get_texts()]
    assert "requests (28.6% failed)" in labels  # 8 of 28 requests
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=60000)
