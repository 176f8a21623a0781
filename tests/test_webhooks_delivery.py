"""Webhook retries against real receivers on 127.0.0.1: Retry-After (seconds and HTTP date,
capped) on 503/429, pending deliveries sent by `lablift webhooks deliver` and by the desktop
app as soon as it opens, and a CLI's exit wait bounded when the receiver never answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from webhook_receiver import receiver  # noqa: F401 (a fixture)

from lablift.core import audit, training, webhook_http, webhooks
from lablift.core.datasets import import_dataset
from lablift.resources import SAMPLE_LOANS

APP = str(Path(__file__).resolve().parents[1] / "app")


def event(store, message="drift"):
    """One webhook event (an alert on a version), as monitoring appends it."""
    with store.transaction():
        return audit.append(store, "version.attention", "model_version:loan:1",
                            {"message": message})


def only(store) -> dict:
    (d,) = webhooks.delivery_log(store)
    return d


def seconds_ahead(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds()


def test_retry_after_values_are_read_and_capped():
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert webhook_http.retry_after_s("120", now) == 120
    assert webhook_http.retry_after_s(format_datetime(now + timedelta(seconds=90),
                                                      usegmt=True), now) == 90
    assert webhook_http.retry_after_s("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0  # past
    assert webhook_http.retry_after_s("86400", now) == webhook_http.RETRY_AFTER_CAP_S == 3600
    for bad in (None, "", "soon", "-5", "1.5"):
        assert webhook_http.retry_after_s(bad, now) is None


def test_a_503_with_retry_after_is_retried_no_sooner(make_store, receiver, monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "0.05")  # our own backoff: far shorter
    admin = make_store("admin")
    r = receiver([(503, {"Retry-After": "2"})])
    webhooks.add(admin, r.url, "version.attention")
    event(admin)
    webhooks.wait_idle(15)
    first = only(admin)
    assert (first["state"], first["attempts"], first["last_status"]) == ("pending", 1, 503)
    assert 1.0 < seconds_ahead(first["next_attempt_at"]) <= 2.1
    assert webhooks.deliver(admin) == []  # not due yet
    done = webhooks.deliver(admin, wait_s=10)
    assert [d["state"] for d in done] == ["delivered"]
    assert len(r.requests) == 2 and r.requests[1]["at"] - r.requests[0]["at"] >= 1.9
    assert r.requests[0]["body"] == r.requests[1]["body"]


def test_a_429_with_an_http_date_or_a_huge_delay(make_store, receiver, monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "0.05")
    admin = make_store("admin")
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=4), usegmt=True)
    dated = receiver([(429, {"Retry-After": soon})])
    parked = receiver([(429, {"Retry-After": "999999"})])
    plain = receiver([(503, {})])
    for r in (dated, parked, plain):
        webhooks.add(admin, r.url, "version.attention")
    event(admin)
    webhooks.wait_idle(15)
    log = sorted(webhooks.delivery_log(admin), key=lambda d: d["webhook_id"])
    assert [d["last_status"] for d in log] == [429, 429, 503]
    ahead = [seconds_ahead(d["next_attempt_at"]) for d in log]
    assert 2.0 < ahead[0] <= 4.1  # the date (whole seconds)
    assert 3500 < ahead[1] <= 3600  # capped at an hour
    assert ahead[2] <= 0.1  # no Retry-After: our backoff


def test_webhooks_deliver_sends_what_is_pending(make_store, receiver, cli, monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "0.2")
    admin = make_store("admin")
    r = receiver([(500, {})])
    webhooks.add(admin, r.url, "version.attention")
    event(admin)
    webhooks.wait_idle(15)
    assert only(admin)["state"] == "pending"
    time.sleep(0.3)
    code, out, err = cli("admin", "webhooks", "deliver", "--json")
    assert code == 0, err
    assert [(d["state"], d["attempts"]) for d in json.loads(out)] == [("delivered", 2)]
    code, out, err = cli("admin", "webhooks", "deliver")
    assert code == 0 and out.strip() == "0 attempts: nothing was due"


EXIT_SCRIPT = """
import sys, time
from lablift.cli import main
code = main(sys.argv[1:])
print(f"MAIN_DONE {time.time()}", file=sys.stderr, flush=True)
sys.exit(code)
"""


def timed_cli(store_dir, *argv) -> tuple[int, float, str]:
    """Run the CLI in its own process: (exit code, seconds from main()'s return to the
    process's end, stderr)."""
    env = {**os.environ, "PYTHONPATH": APP}
    p = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, "--store", str(store_dir),
                        "--user", "admin", *argv], env=env, capture_output=True, text=True,
                       timeout=120)
    ended = time.time()
    done = [line for line in p.stderr.splitlines() if line.startswith("MAIN_DONE ")]
    assert done, p.stderr
    return p.returncode, ended - float(done[0].split()[1]), p.stderr


@pytest.mark.embedded_only("the exit wait is the process's, whatever the engine")
def test_a_cli_waits_at_most_2_s_at_exit_for_a_receiver_that_never_answers(
        store, store_dir, receiver):
    import_dataset(store, SAMPLE_LOANS, name="loans")
    run = training.train(store, {"dataset": "loans", "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 2})
    r = receiver()
    r.hang.set()
    webhooks.add(store, r.url, "version.register")
    code, waited, err = timed_cli(store_dir, "model", "register", str(run["id"]),
                                  "--name", "loan")
    assert code == 0, err
    assert len(r.requests) == 1  # it was sent; the answer never came
    assert 1.5 <= waited <= 3.5, waited  # 2 s, and the interpreter's own exit (under load)
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert notes == ["note: 1 webhook delivery got no answer within 2 s; left in the outbox: "
                     "`lablift webhooks deliver` (or the desktop app) sends it (an "
                     "unanswered attempt is retried after 60 s)"]
    left = only(store)
    assert (left["state"], left["attempts"]) == ("pending", 1)
    assert "no outcome recorded" in left["last_error"]
    assert 50 < seconds_ahead(left["next_attempt_at"]) <= 60
    # when the receiver is back and the lease is over, the next deliver sends it, counted
    r.hang.clear()
    store.execute("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01'")
    (done,) = webhooks.deliver(store)
    assert (done["state"], done["attempts"], done["last_error"]) == ("delivered", 2, None)
    assert r.requests[0]["body"] == r.requests[1]["body"]
    # a command with nothing to send does not wait
    code, waited_idle, err = timed_cli(store_dir, "webhooks", "log")
    assert code == 0 and "note:" not in err and waited_idle < 1.0


@pytest.mark.embedded_only("the desktop app reads either engine the same way")
def test_the_desktop_app_sends_pending_deliveries_as_it_opens(store, receiver, qtbot,
                                                              monkeypatch):
    from lablift.gui import event_notifier
    from lablift.gui.main_window import MainWindow
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "30")
    r = receiver([(503, {})])
    webhooks.add(store, r.url, "version.attention")
    event(store)
    webhooks.wait_idle(15)
    assert only(store)["state"] == "pending" and len(r.requests) == 1
    store.execute("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01'")  # 30 s on
    w = MainWindow(store, restore_state=False, watch=False)
    qtbot.addWidget(w)
    event_notifier.install(w, poll_ms=600_000)  # no poll in this test: only the first read
    qtbot.waitUntil(lambda: len(r.requests) == 2, timeout=10000)
    webhooks.wait_idle(15)
    assert only(store)["state"] == "delivered"


@pytest.mark.embedded_only("moves a lease on by hand in lineage.db")
def test_an_attempt_whose_process_died_counts(store, receiver, monkeypatch):
    monkeypatch.setenv("LABLIFT_WEBHOOK_RETRY_S", "30")
    monkeypatch.setenv("LABLIFT_WEBHOOK_ATTEMPTS", "2")
    r = receiver([(503, {})])
    webhooks.add(store, r.url, "version.attention")
    event(store)
    webhooks.wait_idle(15)
    assert (only(store)["state"], only(store)["attempts"]) == ("pending", 1)
    store.execute("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01'")  # 30 s on
    assert webhooks._claim_next(store) is not None  # attempt 2 claimed; its process "dies"
    webhooks._inflight.clear()
    assert webhooks.deliver(store) == []  # leased: nobody sends it meanwhile
    store.execute("UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01'")
    (done,) = webhooks.deliver(store)
    assert (done["state"], done["attempts"]) == ("failed", 2) and len(r.requests) == 1
    assert done["last_error"].startswith("gave up after 2 attempts; the last: no outcome")
