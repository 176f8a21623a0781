"""`lablift monitor watch DIR --model REF`: the real command line as a subprocess, files
dropped into a folder, SIGTERM."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

APP = Path(__file__).resolve().parents[1] / "app"
INTERVAL = 0.25


def shifted(sample_csv, n, seed):
    b = pd.read_csv(sample_csv).sample(n, random_state=seed).reset_index(drop=True)
    for col, f in (("age", 1.5), ("income", 2.0), ("employment_years", 3.0),
                   ("credit_score", 0.8), ("loan_amount", 2.0)):
        b[col] = b[col] * f
    b["home_ownership"] = "rent"
    return b


class Watch:
    """The watcher subprocess and its stdout, one JSON event per line."""

    def __init__(self, store, folder, *extra):
        env = {**os.environ, "PYTHONPATH": str(APP), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lablift.cli", "--store", store, "--user", "alice",
             "monitor", "watch", str(folder), "--model", "loan:1", "--label", "approved",
             "--interval", str(INTERVAL), "--json", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.events: list[dict] = []
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pred, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if pred(e):
                    return e
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"watcher ended: {self.proc.wait()} "
                                     f"{self.proc.stderr.read()} {self.events}")
            self.events.append(json.loads(line))  # every line is one JSON event
        raise AssertionError(f"no such event within {timeout} s; events: {self.events}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        code = self.proc.wait(timeout=30)
        took = time.monotonic() - t0
        while (line := self.lines.get(timeout=5)) is not None:
            self.events.append(json.loads(line))
        return code, took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_watch_ingests_once_after_growth_skips_copies_and_stops_on_sigterm(
        cli, trained, sample_csv, tmp_path, store_arg):
    code, out, err = cli("admin", "monitor", "settings", "--set", "retrain_on_alert=true")
    assert code == 0, err
    folder = tmp_path / "drop"
    folder.mkdir()
    w = Watch(store_arg("alice"), folder)
    try:
        w.wait_for(lambda e: e["event"] == "watching")
        first = shifted(sample_csv, 300, 1)
        first.to_csv(folder / "a.csv", index=False)
        a = w.wait_for(lambda e: e["event"] == "ingested" and e["file"] == "a.csv")
        assert a["rows"] == 300 and a["dataset_drift"] is True
        w.wait_for(lambda e: e["event"] == "alert" and e["batch"] == a["batch"])
        # the retrain policy trains a pending challenger, compared on held-out rows
        ch = w.wait_for(lambda e: e["event"] in ("challenger", "retrain_failed"), timeout=120)
        assert ch["event"] == "challenger" and ch["challenger"] == "loan:2", ch

        # a file written slowly, in chunks: taken once, whole, after it stops growing
        slow = shifted(sample_csv, 400, 2)
        text = slow.to_csv(index=False)
        chunks = [text[i:i + len(text) // 8 + 1] for i in range(0, len(text), len(text) // 8 + 1)]
        with open(folder / "slow.csv", "w") as f:
            for chunk in chunks:
                f.write(chunk)
                f.flush()
                time.sleep(INTERVAL * 0.8)
        s = w.wait_for(lambda e: e["event"] == "ingested" and e["file"] == "slow.csv")
        assert s["rows"] == 400
        # a copy under another name (and a hidden partial file) are not ingested
        (folder / ".b.csv.part").write_text(text[:100])
        shutil.copy(folder / "a.csv", folder / "copy-of-a.csv")
        skip = w.wait_for(lambda e: e["event"] == "skipped")
        assert skip["file"] == "copy-of-a.csv" and skip["batches"] == [a["batch"]]
        # the next alert finds the challenger still pending: no second one
        w.wait_for(lambda e: e["event"] == "retrain_skipped")
        # a serve.py prediction log is watched too; a broken file is an event, not an exit
        rows = first.head(5)
        (folder / "p.jsonl").write_text("".join(json.dumps({
            "timestamp": "2026-04-01T10:00:00.000+00:00", "request_id": f"r{i}", "row": 0,
            "model": "loan:1", "inputs": json.loads(r.drop("approved").to_json()),
            "prediction": 1, "latency_ms": 3.0}) + "\n" for i, r in rows.iterrows()))
        (folder / "broken.parquet").write_bytes(b"not parquet at all")
        log = w.wait_for(lambda e: e["event"] == "ingested" and e["file"] == "p.jsonl")
        assert log["rows"] == 5
        bad = w.wait_for(lambda e: e["event"] == "error" and e["file"] == "broken.parquet")
        assert "broken.parquet" in bad["message"]

        # a big file: SIGTERM as soon as it is being ingested
        big = pd.concat([shifted(sample_csv, 2000, k) for k in range(20)], ignore_index=True)
        big.to_csv(folder / "big.csv", index=False)
        w.wait_for(lambda e: e["event"] == "ingesting" and e["file"] == "big.csv")
        code, took = w.stop()
    finally:
        w.kill()
    assert code == 0, w.proc.stderr.read()
    assert took < 10, f"SIGTERM took {took:.1f} s"
    assert w.events[-1]["event"] == "stopped"
    outcome = [e for e in w.events if e.get("file") == "big.csv"
               and e["event"] in ("ingested", "abandoned")]
    assert len(outcome) == 1, w.events

    # the store holds each file once, and big.csv whole or not at all
    code, out, err = cli("alice", "monitor", "report", "loan:1", "--json")
    assert code == 0, err
    batches = json.loads(out)["batches"]
    by_rows = sorted(b["rows"] for b in batches)
    want = [5, 300, 400] + ([40000] if outcome[0]["event"] == "ingested" else [])
    assert by_rows == sorted(want)
    assert len({b["id"] for b in batches}) == len(batches)
    code, out, err = cli("admin", "audit", "verify")
    assert code == 0, err + out
    code, out, err = cli("alice", "model", "show", "loan:3")  # one challenger, not one per alert
    assert code == 1

    # restarting on the same folder skips everything already ingested (big.csv, settled
    # above, goes: an abandoned one would be ingested anew first, 40000 rows in name order
    # before slow.csv, and prove nothing here)
    (folder / "big.csv").unlink()
    w2 = Watch(store_arg("alice"), folder)
    try:
        w2.wait_for(lambda e: e["event"] == "skipped" and e["file"] == "slow.csv")
        w2.wait_for(lambda e: e["event"] == "skipped" and e["file"] == "a.csv")
        code, _ = w2.stop()
    finally:
        w2.kill()
    assert code == 0
    assert not [e for e in w2.events if e["event"] == "ingested"
                and e["file"] in ("a.csv", "slow.csv", "copy-of-a.csv", "p.jsonl")]


def test_watch_refuses_a_missing_folder_and_unknown_model(cli, trained, tmp_path):
    # refused before it watches anything (in process: no loop is entered)
    code, out, err = cli("alice", "monitor", "watch", str(tmp_path / "nope"), "--model", "loan:1")
    assert code == 1 and err.startswith("error: ") and "is not a folder" in err
    code, out, err = cli("alice", "monitor", "watch", str(tmp_path), "--model", "loan:7")
    assert code == 1 and err.count("\n") == 1 and "loan" in err
    code, out, err = cli("alice", "monitor", "watch", str(tmp_path), "--model", "loan:1",
                         "--interval", "0")
    assert code == 1 and "--interval" in err
    code, out, err = cli("admin", "monitor", "settings", "--set", "retrain_on_alert=maybe")
    assert code == 1 and "retrain_on_alert" in err and "true or false" in err
