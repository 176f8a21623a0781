"""`lablift monitor watch DIR --recursive`: files dropped into subfolders (one per day) are
ingested once each after they stop growing; hidden files and folders and partial copies are
ignored; a symbolic link loop does not stop the scans. The real command as a subprocess."""

import json
import os
import time

from lablift.core.monitoring.watch import Watcher
from test_monitor_watch import INTERVAL, Watch, shifted


def test_recursive_watch_takes_daily_subfolders_and_ignores_the_rest(
        cli, trained, sample_csv, tmp_path, store_arg):
    folder = tmp_path / "drop"
    day1, day2 = folder / "2026-12-01", folder / "2026-12-02"
    day1.mkdir(parents=True)
    (folder / ".hidden").mkdir()
    # a link loop and a link to a file, there before the first scan
    os.symlink(folder, day1 / "loop", target_is_directory=True)
    w = Watch(store_arg("alice"), folder, "--recursive")
    try:
        start = w.wait_for(lambda e: e["event"] == "watching")
        assert start["recursive"] is True and "subfolders" in start["message"]
        # written slowly: taken once, whole, after it stops growing
        text = shifted(sample_csv, 300, 11).to_csv(index=False)
        step = len(text) // 6 + 1
        with open(day1 / "batch.csv", "w") as f:
            for i in range(0, len(text), step):
                f.write(text[i:i + step])
                f.flush()
                time.sleep(INTERVAL * 0.8)
        a = w.wait_for(lambda e: e["event"] == "ingested" and e["file"] == "2026-12-01/batch.csv")
        assert a["rows"] == 300
        # ignored: hidden folder and file, partial copies, a link to a file
        other = shifted(sample_csv, 50, 12).to_csv(index=False)
        day2.mkdir()
        (folder / ".hidden" / "secret.csv").write_text(other)
        (day2 / ".dot.csv").write_text(other)
        (day2 / "up.csv.part").write_text(other)
        (day2 / "up.csv.tmp").write_text(other)
        (day2 / "up.csv~").write_text(other)
        os.symlink(day1 / "batch.csv", day2 / "link.csv")
        # a deeper folder, created after the start
        (day2 / "eu").mkdir()
        (day2 / "eu" / "b.csv").write_text(shifted(sample_csv, 120, 13).to_csv(index=False))
        b = w.wait_for(lambda e: e["event"] == "ingested" and e["file"] == "2026-12-02/eu/b.csv")
        assert b["rows"] == 120
        # a copy in another subfolder is recognised by its bytes
        (day2 / "again.csv").write_text(text)
        skip = w.wait_for(lambda e: e["event"] == "skipped")
        assert skip["file"] == "2026-12-02/again.csv" and skip["batches"] == [a["batch"]]
        time.sleep(INTERVAL * 4)  # a few more scans: nothing else is taken
        code, took = w.stop()
    finally:
        w.kill()
    assert code == 0, w.proc.stderr.read()
    assert took < 10
    files = {e["file"] for e in w.events if e.get("file")}
    assert files == {"2026-12-01/batch.csv", "2026-12-02/eu/b.csv", "2026-12-02/again.csv"}, \
        w.events
    assert not [e for e in w.events if e["event"] == "error"], w.events
    assert [e["event"] for e in w.events].count("ingested") == 2
    code, out, err = cli("alice", "monitor", "report", "loan:1", "--json")
    assert code == 0, err
    assert sorted(b["rows"] for b in json.loads(out)["batches"]) == [120, 300]


def test_without_recursive_subfolders_are_not_scanned(store, trained, tmp_path):
    folder = tmp_path / "drop"
    (folder / "2026-12-01").mkdir(parents=True)
    (folder / "2026-12-01" / "batch.csv").write_text("a,b\n1,2\n")
    (folder / "top.csv").write_text("a,b\n1,2\n")
    os.symlink(folder, folder / "2026-12-01" / "loop", target_is_directory=True)
    flat = Watcher(store, "loan:1", folder, lambda e: None)
    assert set(flat.scan()) == {"top.csv"}
    deep = Watcher(store, "loan:1", folder, lambda e: None, recursive=True)
    assert set(deep.scan()) == {"top.csv", "2026-12-01/batch.csv"}
