"""core/lineage.py and `lablift lineage`: from any item of a lifecycle (dataset, sweep, run,
version, alias, bundle, batch, a retrain's challenger) the same lineage is reached, as a tree
rooted at the dataset version, with who approved, what was exported and what drifted."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bundle_helpers import build_world
from lablift.cli import main
from lablift.core import bundles, datasets, lineage, monitoring, registry, sweeps, training
from lablift.core.errors import LabliftError, NotFound


def drifted(frame: pd.DataFrame, n: int = 200) -> pd.DataFrame:
    """A labelled batch whose numbers moved: drift, and alerts."""
    b = frame.sample(n, random_state=1).reset_index(drop=True)
    for column in ("age", "income", "employment_years", "credit_score", "loan_amount"):
        b[column] = b[column] * 1.8 + 10
    b["home_ownership"] = "rent"
    b["approved"] = 1 - b["approved"]
    return b


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """build_world (loans:1 approved by rita and exported by oscar, loans:2 pending) plus: a
    drifting labelled batch on loans:1, production → loans:1, a retrain (challenger loans:3 on
    dataset loans-retrain) and a one-run sweep."""
    root = tmp_path_factory.mktemp("lineage")
    w = build_world(root)
    store = w["store"]
    path = root / "batch.csv"
    drifted(w["frame"]).to_csv(path, index=False)
    w["batch"] = monitoring.ingest(store, "loans:1", path, label="approved")
    registry.set_alias(w["oscar"], "loans:1", "production")
    w["retrain"] = monitoring.retrain(store, "loans:1")
    w["sweep"] = sweeps.sweep(w["ana"], {"dataset": "loans", "target": "approved",
                                         "algorithm": "decision_tree", "cv": 2},
                              grid={"max_depth": [2]})
    yield w
    for s in (store, w["ana"], w["oscar"]):
        s.close()


def ids(graph) -> set[str]:
    return {n["id"] for n in graph["nodes"]}


def node(graph, node_id: str) -> dict:
    return next(n for n in graph["nodes"] if n["id"] == node_id)


def test_every_item_reaches_the_same_lineage(world):
    store, run_id = world["store"], world["run"]["id"]
    v1 = registry.resolve_version(store, "loans:1")
    challenger = world["retrain"]["challenger"]
    retrain_ds = world["retrain"]["dataset"]["id"]
    bundle_id = world["exported"]["id"]
    asked = {
        ("dataset", "loans"): "dataset:1", ("dataset", "loans:1"): "dataset:1",
        ("dataset", "loans@1"): "dataset:1", ("dataset", 1): "dataset:1",
        ("run", run_id): f"run:{run_id}", ("run", f"#{run_id}"): f"run:{run_id}",
        ("version", "loans:1"): f"version:{v1['id']}",
        ("version", "loans:production"): f"version:{v1['id']}",
        ("model", v1["id"]): f"version:{v1['id']}",
        ("bundle", str(world["bundle"])): f"bundle:{bundle_id}",
        ("export", bundle_id): f"bundle:{bundle_id}",
        ("batch", world["batch"]["id"]): f"batch:{world['batch']['id']}",
        ("version", challenger["ref"]): f"version:{challenger['id']}",
        ("dataset", retrain_ds): f"dataset:{retrain_ds}",
        ("sweep", world["sweep"]["id"]): f"sweep:{world['sweep']['id']}",
    }
    graphs = {key: lineage.lineage(store, *key) for key in asked}
    first = ids(graphs[("dataset", "loans")])
    for key, graph in graphs.items():
        assert ids(graph) == first, key
        assert graph["focus"] == asked[key] and node(graph, asked[key])["focus"], key
        assert [n["id"] for n in graph["nodes"] if n["focus"]] == [asked[key]]
        assert graph["roots"] == ["dataset:1"], key
    kinds = sorted(n["kind"] for n in graphs[("dataset", "loans")]["nodes"])
    # loans v1 and loans-retrain v1; runs 1, 2, the retrain's and the sweep's; loans:1-3
    assert kinds == sorted(["dataset"] * 2 + ["run"] * 4 + ["version"] * 3 + ["sweep"]
                           + ["approval", "alias", "bundle", "batch"])


def test_the_tree_runs_from_the_dataset_to_what_derives_from_it(world):
    store = world["store"]
    run_id = world["run"]["id"]
    v1 = registry.resolve_version(store, "loans:1")
    v2 = registry.resolve_version(store, "loans:2")
    ch = world["retrain"]["challenger"]
    bundle_id, batch_id = world["exported"]["id"], world["batch"]["id"]
    graph = lineage.lineage(store, "bundle", bundle_id)
    parent = {n["id"]: n["parent"] for n in graph["nodes"]}
    assert parent["dataset:1"] is None
    assert parent[f"run:{run_id}"] == "dataset:1"
    assert parent[f"version:{v1['id']}"] == f"run:{run_id}"
    for child in (f"bundle:{bundle_id}", f"batch:{batch_id}", "alias:loans:production",
                  f"dataset:{world['retrain']['dataset']['id']}"):
        assert parent[child] == f"version:{v1['id']}", child
    assert parent[f"version:{ch['id']}"] == f"run:{ch['run_id']}"
    assert parent[f"run:{ch['run_id']}"] == f"dataset:{world['retrain']['dataset']['id']}"
    sweep_runs = [r["id"] for r in world["sweep"]["runs"]]
    assert parent[f"run:{sweep_runs[0]}"] == f"sweep:{world['sweep']['id']}"
    # tree order: every node after its parent, one level deeper
    seen: dict[str, int] = {}
    for n in graph["nodes"]:
        assert n["depth"] == (0 if n["parent"] is None else seen[n["parent"]] + 1)
        seen[n["id"]] = n["depth"]
    relations = {(e["from"], e["to"]): e["relation"] for e in graph["edges"]}
    assert relations[(f"version:{v1['id']}", f"version:{ch['id']}")] == "challenger"
    assert relations[(f"batch:{batch_id}",
                      f"dataset:{world['retrain']['dataset']['id']}")] == "learned from"
    # the bundle's path: its dataset, run and version above it; the pending sibling is not
    on_path = {n["id"] for n in graph["nodes"] if n["on_path"]}
    assert {"dataset:1", f"run:{run_id}", f"version:{v1['id']}",
            f"bundle:{bundle_id}"} == on_path
    assert f"version:{v2['id']}" not in on_path
    b = node(graph, f"bundle:{bundle_id}")
    assert b["who"] == "oscar" and b["status"] == "exported"
    assert b["path"] == str(world["bundle"]) and b["version_ref"] == "loans:1"


def test_approvals_say_who_when_and_why(world):
    store = world["store"]
    graph = lineage.lineage(store, "run", world["run"]["id"])
    v1 = registry.resolve_version(store, "loans:1")
    decided = registry.approvals_of(store, v1["id"])[0]
    approval = node(graph, f"approval:{decided['id']}")
    assert approval["who"] == "rita" and approval["label"] == "approved by rita"
    assert approval["status"] == "approved" and approval["when"] == decided["at"]
    assert approval["comment"] == "fine by me" and "fine by me" in approval["detail"]
    assert approval["version_ref"] == "loans:1"
    version = node(graph, f"version:{v1['id']}")
    assert version["status"] == "approved" and version["who"] == "ana"
    pending = node(graph, f"version:{registry.resolve_version(store, 'loans:2')['id']}")
    assert pending["status"] == "pending"
    assert not [n for n in graph["nodes"] if n["kind"] == "approval" and n["parent"] ==
                pending["id"]]


def test_batches_carry_their_drift_verdict_and_alerts(world):
    graph = lineage.lineage(world["store"], "version", "loans:1")
    batch = node(graph, f"batch:{world['batch']['id']}")
    assert batch["dataset_drift"] is True and batch["status"].startswith("drift")
    assert batch["alerts"] and {a["kind"] for a in batch["alerts"]} >= {"drift"}
    assert f"{len(batch['alerts'])} alert" in batch["status"]
    assert batch["drift_share"] == pytest.approx(world["batch"]["drift_share"])
    alias = node(graph, "alias:loans:production")
    assert alias["who"] == "oscar" and alias["version_ref"] == "loans:1"


@pytest.mark.parametrize("kind, ref, words", [
    ("run", 9999, "run 9999 not found"),
    ("run", "abc", "run 'abc' not found"),
    ("version", "nope:1", "model 'nope' not found"),
    ("version", "loans:42", "loans:42"),
    ("dataset", "nope", "dataset 'nope' not found"),
    ("bundle", "/no/such/bundle", "bundle '/no/such/bundle' not found"),
    ("batch", 777, "monitoring batch 777 not found"),
    ("sweep", 555, "sweep 555 not found"),
    ("widget", 1, "'widget': the kind is not one of dataset"),
])
def test_an_unknown_item_is_named(world, kind, ref, words):
    with pytest.raises(LabliftError) as caught:
        lineage.lineage(world["store"], kind, ref)
    assert words in str(caught.value)
    if kind != "widget":
        assert isinstance(caught.value, NotFound)


def test_a_moved_bundle_is_found_by_its_manifest(world, tmp_path):
    import shutil
    moved = tmp_path / "moved"
    shutil.copytree(world["bundle"], moved)
    graph = lineage.lineage(world["store"], "bundle", moved)
    assert graph["focus"] == f"bundle:{world['exported']['id']}"


def test_cli_lineage_text_and_json(world, capsys):
    where = ["--store", str(world["root"] / "store"), "--user", "ana"]
    assert main([*where, "lineage", "version", "loans:1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("lineage of version loans:1: ") and "* marks version loans:1" in out[0]
    marked = [line for line in out if line.startswith("*")]
    assert len(marked) == 1 and "version loans:1" in marked[0] and "approved" in marked[0]
    dataset_line = next(line for line in out if "dataset loans v1" in line)
    approval = next(line for line in out if "approval approved by rita" in line)
    # indented under the version, which is under the run, which is under the dataset
    indent = lambda line: len(line[2:]) - len(line[2:].lstrip())  # noqa: E731
    assert indent(dataset_line) == 0 and indent(approval) == 6 and "“fine by me”" in approval
    assert any("bundle #" in line and "oscar" in line for line in out)

    assert main([*where, "lineage", "export", str(world["bundle"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["focus"] == f"bundle:{world['exported']['id']}" and doc["roots"] == ["dataset:1"]
    assert {"id", "kind", "ref", "label", "status", "when", "who", "parent", "on_path"} <= \
        set(doc["nodes"][0])
    assert {e["relation"] for e in doc["edges"]} >= {"trained", "registered", "approved",
                                                       "exported", "monitored"}

    assert main([*where, "lineage", "run", "4242"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "error: run 4242 not found" and captured.out == ""
    with pytest.raises(SystemExit) as usage:
        main([*where, "lineage", "widget", "1"])
    assert usage.value.code == 2
    capsys.readouterr()


def test_the_same_lineage_on_both_engines(store, make_store, sample_csv, tmp_path,
                                          store_engine):
    """Every statement of core/store/lineage.py, on the team store's engine too."""
    store.add_user("rita", "reviewer")
    ds = datasets.import_dataset(store, sample_csv, name="loans")
    run = training.train(store, {"dataset": ds["id"], "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 2})
    version = registry.register(store, run["id"], "loans")
    registry.approve(make_store("rita"), "loans:1", comment="checked on " + store_engine)
    out = tmp_path / "bundle"
    exported = bundles.export(store, "loans:1", out)
    registry.set_alias(store, "loans:1", "production")
    path = tmp_path / "batch.csv"
    drifted(datasets.load_frame(store, ds)).to_csv(path, index=False)
    batch = monitoring.ingest(store, "loans:1", path, label="approved")
    graphs = [lineage.lineage(store, "dataset", "loans"), lineage.lineage(store, "run", run["id"]),
              lineage.lineage(store, "version", "loans:production"),
              lineage.lineage(store, "bundle", out), lineage.lineage(store, "batch", batch["id"])]
    expected = {f"dataset:{ds['id']}", f"run:{run['id']}", f"version:{version['id']}",
                f"bundle:{exported['id']}", f"batch:{batch['id']}", "alias:loans:production"}
    for graph in graphs:
        approvals = [n for n in graph["nodes"] if n["kind"] == "approval"]
        assert ids(graph) == expected | {a["id"] for a in approvals} and len(approvals) == 1
        assert approvals[0]["who"] == "rita"
        assert approvals[0]["comment"] == "checked on " + store_engine
    assert node(graphs[-1], f"batch:{batch['id']}")["alerts"]
    with pytest.raises(NotFound, match="bundle 'nowhere' not found"):
        lineage.lineage(store, "bundle", "nowhere")
