"""The lineage of any item: the dataset version it descends from and everything derived from
that dataset, as one graph.

    dataset version ─▶ (sweep ─▶) run ─▶ model version ─▶ approvals, aliases, bundles,
                                                          monitoring batches
                                           model version ─▶ retrain dataset ─▶ run ─▶ ...

`lineage(store, kind, ref)` returns every node of the item's connected lineage (the same set
whichever of its items is asked for), its edges, and for display a tree: each node names its
`parent` and `depth`, and the nodes come in tree order, roots (dataset versions) first.
`focus` is the node asked for; `on_path` marks its ancestors and descendants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bundles import manifest_sha256
from .errors import LabliftError, NotFound
from .store import Store
from .store.sql import repository

lineage_sql = repository("lineage")  # statements: core/store/lineage.py
registry_sql = repository("registry")

KINDS = ("dataset", "sweep", "run", "version", "bundle", "batch")
SYNONYMS = {"export": "bundle", "model": "version", "model_version": "version"}
# children in the tree come in this order of kinds, then by id
ORDER = {k: i for i, k in enumerate(("sweep", "version", "approval", "alias", "bundle", "batch",
                                     "run", "dataset"))}
MAX_DATASETS = 200  # a chain of retrains longer than this is cut (and says so)


def lineage(store: Store, kind: str, ref: Any) -> dict[str, Any]:
    """The lineage graph of item `ref` of `kind` (one of KINDS, or export/model)."""
    kind = normalise_kind(kind)
    ref = str(ref) if isinstance(ref, Path) else ref
    focus, dataset_id = _locate(store, kind, ref)
    graph = _Graph()
    queue, seen = [dataset_id], set()
    while queue and len(seen) < MAX_DATASETS:
        d = queue.pop(0)
        if d in seen:
            continue
        seen.add(d)
        _read_dataset(store, graph, d)
        for statement in (lineage_sql.CHALLENGER_DATASETS, lineage_sql.CHAMPION_DATASETS):
            queue += [r["dataset_id"] for r in store.rows(statement, dataset_id=d)]
    graph.link_retrains()
    return graph.result(kind, ref, focus, truncated=any(d not in seen for d in queue))


def normalise_kind(kind: str) -> str:
    k = str(kind).strip().lower()
    k = SYNONYMS.get(k, k)
    if k not in KINDS:
        raise LabliftError(f"lineage of {kind!r}: the kind is not one of "
                           f"{', '.join(KINDS)} (or export, model)")
    return k


# -- finding the item and its dataset ----------------------------------------------------------
def _number(kind: str, ref: Any) -> int:
    text = str(ref).strip().lstrip("#")
    if not text.isdigit():
        raise NotFound(f"{kind} {ref!r} not found (a {kind} is named by its number)")
    return int(text)


def _locate(store: Store, kind: str, ref: Any) -> tuple[str, int]:
    """(focus node id, id of the dataset version it descends from)."""
    if kind == "dataset":
        from . import datasets  # (pyarrow: only when a dataset is named)
        text = str(ref).strip()
        name, at, version = text.rpartition("@")
        row = datasets.resolve(store, f"{name}:{version}" if at and version.isdigit() else text)
        return f"dataset:{row['id']}", row["id"]
    if kind == "version":
        from . import registry
        version_id = registry.resolve_version(store, ref)["id"]
        return f"version:{version_id}", store.value(lineage_sql.DATASET_OF_VERSION,
                                                    id=version_id)
    if kind == "bundle":
        bundle_id = _bundle_id(store, ref)
        version_id = store.value(lineage_sql.VERSION_OF_BUNDLE, id=bundle_id)
        return f"bundle:{bundle_id}", store.value(lineage_sql.DATASET_OF_VERSION, id=version_id)
    number = _number(kind, ref)
    if kind == "batch":
        version_id = store.value(lineage_sql.VERSION_OF_BATCH, id=number)
        if version_id is None:
            raise NotFound(f"monitoring batch {number} not found")
        return f"batch:{number}", store.value(lineage_sql.DATASET_OF_VERSION, id=version_id)
    statement = lineage_sql.DATASET_OF_RUN if kind == "run" else lineage_sql.DATASET_OF_SWEEP
    dataset_id = store.value(statement, id=number)
    if dataset_id is None:
        raise NotFound(f"{kind} {number} not found")
    return f"{kind}:{number}", dataset_id


def _bundle_id(store: Store, ref: Any) -> int:
    """A bundle by its id, the folder it was exported to, or (moved) that folder's manifest."""
    text = str(ref).strip()
    if text.lstrip("#").isdigit() and store.value(lineage_sql.VERSION_OF_BUNDLE,
                                                  id=int(text.lstrip("#"))) is not None:
        return int(text.lstrip("#"))
    folder = Path(text).expanduser()
    for path in dict.fromkeys((str(folder.absolute()), str(folder.resolve()), text)):
        found = store.value(lineage_sql.BUNDLE_AT_PATH, path=path)
        if found is not None:
            return found
    manifest = folder / "lablift.json"
    if manifest.is_file():
        found = store.value(lineage_sql.BUNDLE_BY_MANIFEST,
                            manifest_sha256=manifest_sha256(folder))
        if found is not None:
            return found
    raise NotFound(f"bundle {text!r} not found: no export has that id or path"
                   + ("" if manifest.is_file() or not folder.is_dir()
                      else " (and the folder has no lablift.json)"))


# -- reading one dataset's lineage ---------------------------------------------------------------
def _read_dataset(store: Store, graph: "_Graph", dataset_id: int) -> None:
    d = store.row(registry_sql.DATASET_SUMMARY, id=dataset_id)
    if d is None:
        return
    graph.add("dataset", d["id"], d["id"], f"{d['name']} v{d['version']}", "",
              d["created_at"], d["created_by"],
              detail=f"{d['rows']:,} rows, {d['columns']} columns, sha256 {d['sha256'][:12]}",
              name=d["name"], dataset_version=d["version"])
    node = f"dataset:{d['id']}"
    for s in store.rows(lineage_sql.SWEEPS_OF_DATASET, dataset_id=dataset_id):
        spec = s["spec"] if isinstance(s["spec"], dict) else {}
        best = s["best_run_id"]
        graph.add("sweep", s["id"], s["id"], f"#{s['id']} {spec.get('algorithm') or ''}"
                  .rstrip(), s["status"], s["created_at"], s["created_by"],
                  detail=f"best run #{best}" if best else "", run=best)
        graph.edge(node, f"sweep:{s['id']}", "swept", primary=True)
    for r in store.rows(lineage_sql.RUNS_OF_DATASET, dataset_id=dataset_id):
        graph.add("run", r["id"], r["id"], f"#{r['id']} {r['algorithm'] or ''}".rstrip(),
                  r["status"], r["created_at"], r["created_by"],
                  detail=_parts(r["target"] and f"target {r['target']}",
                                r["reproduces"] and f"reproduces run #{r['reproduces']}"),
                  reproduces=r["reproduces"])
        me = f"run:{r['id']}"
        if r["sweep_id"] is not None:
            graph.edge(f"sweep:{r['sweep_id']}", me, "trained", primary=True)
        graph.edge(node, me, "trained", primary=r["sweep_id"] is None)
        if r["reproduces"] is not None:
            graph.edge(f"run:{r['reproduces']}", me, "reproduced", primary=True)
    for v in store.rows(lineage_sql.VERSIONS_OF_DATASET, dataset_id=dataset_id):
        ref = f"{v['model']}:{v['version']}"
        recorded = v["lineage"] if isinstance(v["lineage"], dict) else {}
        graph.versions[v["id"]] = {"ref": ref, "dataset_id": dataset_id,
                                   "challenger_of": v["challenger_of"], "lineage": recorded}
        graph.add("version", v["id"], ref, ref, v["status"], v["created_at"], v["created_by"],
                  detail=_parts(v["attention"] and f"needs attention: {v['attention']}",
                                recorded.get("supersedes")
                                and f"supersedes {recorded['supersedes']} (rejected)"),
                  version_ref=ref)
        graph.edge(f"run:{v['run_id']}", f"version:{v['id']}", "registered", primary=True)
    _read_version_items(store, graph, dataset_id)


def _read_version_items(store: Store, graph: "_Graph", dataset_id: int) -> None:
    """The approvals, aliases, bundles and batches of the dataset's versions."""
    ref = lambda version_id: graph.versions[version_id]["ref"]  # noqa: E731
    for a in store.rows(lineage_sql.APPROVALS_OF_DATASET, dataset_id=dataset_id):
        comment = a["comment"] or ""
        detail = _parts(comment and f"“{comment}”",
                        a["override_reason"] and f"override: {a['override_reason']}")
        graph.add("approval", a["id"], a["id"], f"{a['decision']} by {a['user']}",
                  a["decision"] + (" (override)" if a["override_reason"] else ""), a["at"],
                  a["user"], detail=detail, version_ref=ref(a["version_id"]), comment=comment)
        graph.edge(f"version:{a['version_id']}", f"approval:{a['id']}", a["decision"],
                   primary=True)
    for a in store.rows(lineage_sql.ALIASES_OF_DATASET, dataset_id=dataset_id):
        key = f"{a['model']}:{a['alias']}"
        graph.add("alias", key, key, a["alias"], "current", a["set_at"],
                  a["set_by"], detail=f"{a['alias']} → {ref(a['version_id'])}",
                  version_ref=ref(a["version_id"]))
        graph.edge(f"version:{a['version_id']}", f"alias:{key}", "alias", primary=True)
    for b in store.rows(lineage_sql.BUNDLES_OF_DATASET, dataset_id=dataset_id):
        graph.add("bundle", b["id"], b["id"], f"#{b['id']} {b['path']}",
                  b["status"] or "exported", b["created_at"], b["created_by"],
                  detail=f"manifest sha256 {b['manifest_sha256'][:12]}", path=b["path"],
                  version_ref=ref(b["version_id"]))
        graph.edge(f"version:{b['version_id']}", f"bundle:{b['id']}", "exported", primary=True)
    alerts: dict[int, list[dict]] = {}
    for a in store.rows(lineage_sql.ALERTS_OF_DATASET, dataset_id=dataset_id):
        alerts.setdefault(a["batch_id"], []).append(a)
    for b in store.rows(lineage_sql.BATCHES_OF_DATASET, dataset_id=dataset_id):
        mine = alerts.get(b["id"], [])
        status = "drift" if b["dataset_drift"] else "no drift"
        if mine:
            status += f", {len(mine)} alert{'s' if len(mine) > 1 else ''}"
        source = Path(b["source_path"]).name if b["source_path"] else "batch"
        window = f" [{b['window']}]" if b["window"] else ""
        share = b["drift_share"]
        graph.add("batch", b["id"], b["id"],
                  f"#{b['id']} {source}{window} ({b['rows'] or 0:,} rows)", status,
                  b["created_at"], b["created_by"],
                  detail=_parts(share is not None and f"drift share {share:.2f}",
                                *(a["message"] for a in mine)),
                  version_ref=ref(b["version_id"]), drift_share=share,
                  dataset_drift=bool(b["dataset_drift"]),
                  alerts=[{"kind": a["kind"], "message": a["message"],
                           "acknowledged_by": a["acknowledged_by"]} for a in mine])
        graph.edge(f"version:{b['version_id']}", f"batch:{b['id']}", "monitored", primary=True)


def _parts(*texts: Any) -> str:
    """The non-empty texts, joined into one detail line."""
    return "; ".join(str(t) for t in texts if t)


# -- the graph --------------------------------------------------------------------------------
class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, str]] = []
        self.parent: dict[str, str] = {}  # the tree's edge into each node
        self.versions: dict[int, dict[str, Any]] = {}

    def add(self, kind: str, key: Any, ref: Any, label: str, status: str | None, when: str | None,
            who: str | None, detail: str = "", **extra: Any) -> None:
        node_id = f"{kind}:{key}"
        self.nodes[node_id] = {"id": node_id, "kind": kind, "ref": ref, "label": label,
                               "status": status or "", "when": when, "who": who,
                               "detail": detail, **extra}

    def edge(self, source: str, target: str, relation: str, primary: bool = False) -> None:
        self.edges.append({"from": source, "to": target, "relation": relation})
        if primary:
            self.parent[target] = source

    def link_retrains(self) -> None:
        """A challenger registered from another dataset's run: its champion → that dataset
        (the retrain's), and the batches it learned from → that dataset too."""
        for vid, v in self.versions.items():
            champion = self.versions.get(v["challenger_of"] or -1)
            if champion is None:
                continue
            self.edge(f"version:{v['challenger_of']}", f"version:{vid}", "challenger")
            node = self.nodes[f"version:{vid}"]
            node["detail"] = _parts(f"challenger of {champion['ref']}", node["detail"])
            if champion["dataset_id"] != v["dataset_id"]:
                target = f"dataset:{v['dataset_id']}"
                self.edge(f"version:{v['challenger_of']}", target, "retrained",
                          primary=target not in self.parent)
                for batch in v["lineage"].get("batches") or []:
                    if f"batch:{batch}" in self.nodes:
                        self.edge(f"batch:{batch}", target, "learned from")

    def result(self, kind: str, ref: Any, focus: str, truncated: bool) -> dict[str, Any]:
        edges = [e for e in self.edges if e["from"] in self.nodes and e["to"] in self.nodes]
        parent = {t: s for t, s in self.parent.items() if s in self.nodes and t in self.nodes}
        for e in edges:  # a tree parent outside this lineage: another edge into the node
            if e["to"] not in parent:
                parent[e["to"]] = e["from"]
        for node in list(parent):  # a parent chain that loops (hand-edited rows): cut it
            seen, up = {node}, parent.get(node)
            while up is not None and up not in seen:
                seen.add(up)
                up = parent.get(up)
            if up == node:
                del parent[node]
        on_path = {focus} | _reach(focus, edges, "from", "to") | _reach(focus, edges, "to", "from")
        children: dict[str | None, list[str]] = {}
        for node_id in self.nodes:
            children.setdefault(parent.get(node_id), []).append(node_id)
        ordered: list[dict[str, Any]] = []

        def visit(node_id: str, depth: int) -> None:
            node = self.nodes[node_id]
            node.update(parent=parent.get(node_id), depth=depth, focus=node_id == focus,
                        on_path=node_id in on_path)
            ordered.append(node)
            for child in sorted(children.get(node_id, []), key=_tree_order):
                visit(child, depth + 1)

        roots = sorted(children.get(None, []), key=_tree_order)
        for root in roots:
            visit(root, 0)
        return {"kind": kind, "ref": ref, "focus": focus, "roots": roots, "nodes": ordered,
                "edges": edges, "truncated": truncated}


def _tree_order(node_id: str) -> tuple:
    kind, _, key = node_id.partition(":")
    return ORDER.get(kind, 99), int(key) if key.isdigit() else 0, key


def _reach(start: str, edges: list[dict[str, str]], near: str, far: str) -> set[str]:
    """Nodes reachable from `start` along edges (near → far)."""
    out: dict[str, list[str]] = {}
    for e in edges:
        out.setdefault(e[near], []).append(e[far])
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in out.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    seen.discard(start)
    return seen
