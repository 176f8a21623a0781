"""`lablift lineage KIND REF`: an item's lineage as an indented tree, or --json."""

from __future__ import annotations

from typing import Any

from ..core import lineage
from .common import Text, add_json

DETAIL_CHARS = 90  # of a node's detail in the text tree; --json has it whole
TREE_CHARS = 64  # the tree column is at most this wide (longer labels push the rest right)


def register(sub) -> None:
    p = sub.add_parser(
        "lineage", help="an item's lineage: its dataset version, runs, model versions, "
                        "approvals, aliases, bundles and monitoring batches",
        description="Show the lineage an item belongs to, as a tree rooted at the dataset "
                    "version it descends from: sweeps and runs trained on it, the model "
                    "versions registered from them, their approvals, aliases, exported "
                    "bundles and monitoring batches, and the datasets and challengers of "
                    "retrains. The item asked for is marked with *.")
    p.add_argument("kind", metavar="KIND", type=str.lower,
                   choices=lineage.KINDS + tuple(lineage.SYNONYMS),
                   help="what REF names: " + ", ".join(lineage.KINDS)
                   + " (export = bundle, model = version)")
    p.add_argument("ref", metavar="REF",
                   help="dataset: id, NAME (latest), NAME:VERSION or NAME@VERSION; sweep, run, "
                        "batch: id; version: NAME:VERSION, NAME:ALIAS, NAME or id; bundle: id "
                        "or the folder it was exported to")
    add_json(p)
    p.set_defaults(handler=cmd_lineage)


def cmd_lineage(store, args):
    graph = lineage.lineage(store, args.kind, args.ref)
    if args.json:
        return graph
    return Text(render(graph))


def render(graph: dict[str, Any]) -> str:
    """The tree as aligned text lines: item, status, who, when, then the detail."""
    nodes = graph["nodes"]
    trees = [f"{'  ' * n['depth']}{n['kind']} {n['label']}" for n in nodes]
    width = min(max(map(len, trees), default=0), TREE_CHARS)
    status_width = max((len(n["status"]) for n in nodes), default=0)
    who_width = max((len(n["who"] or "") for n in nodes), default=0)
    focus = next((n for n in nodes if n["focus"]), None)
    lines = [f"lineage of {graph['kind']} {graph['ref']}: {len(nodes)} items"
             + (f", * marks {focus['kind']} {focus['label']}" if focus else "")]
    for node, tree in zip(nodes, trees):
        detail = node["detail"]
        if len(detail) > DETAIL_CHARS:
            detail = detail[:DETAIL_CHARS - 1] + "…"
        line = (f"{'*' if node['focus'] else ' '} {tree.ljust(width)}  "
                f"{node['status'].ljust(status_width)}  {(node['who'] or '').ljust(who_width)}  "
                f"{_when(node['when'])}" + (f"  {detail}" if detail else ""))
        lines.append(line.rstrip())
    if graph.get("truncated"):
        lines.append(f"(cut at {lineage.MAX_DATASETS} dataset versions)")
    return "\n".join(lines)


def _when(iso: str | None) -> str:
    """'2026-12-01T14:36:45.352+00:00' -> '2026-12-01 14:36' (UTC, as stored)."""
    return (iso or "")[:16].replace("T", " ")
