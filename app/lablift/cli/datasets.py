"""`lablift dataset import | list | show`."""

from __future__ import annotations

from ..core import datasets
from .common import Text, add_json, table


def register(sub) -> None:
    p = sub.add_parser("dataset", help="import and inspect datasets")
    ds = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    imp = ds.add_parser("import", help="import a CSV, TSV, Parquet or Excel file as a version")
    imp.add_argument("path")
    imp.add_argument("--name", help="dataset name (default: the file name)")
    add_json(imp)
    imp.set_defaults(handler=cmd_import)
    ls = ds.add_parser("list", help="list dataset versions")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)
    show = ds.add_parser("show", help="show a version with its profile")
    show.add_argument("ref", help="id, NAME (latest) or NAME:VERSION")
    add_json(show)
    show.set_defaults(handler=cmd_show)


def cmd_import(store, args):
    row = datasets.import_dataset(store, args.path, name=args.name)
    if args.json:
        return datasets.summary(row)
    verb = "already imported as" if row["existing"] else "imported"
    notes = "".join(f"\nnote: {n}" for n in row.get("notes", []))
    return Text(f"{verb} {row['name']}:{row['version']} (id {row['id']}, {row['rows']} rows x "
                f"{row['columns']} columns, sha256 {row['sha256'][:12]}){notes}")


def cmd_list(store, args):
    rows = datasets.list_datasets(store)
    if args.json:
        return [datasets.summary(r) for r in rows]
    for r in rows:
        r["sha256"] = r["sha256"][:12]
    return Text(table(rows, ["id", "name", "version", "rows", "columns", "sha256",
                             "created_by", "created_at"], empty="no datasets yet"))


def cmd_show(store, args):
    row = datasets.resolve(store, args.ref)
    if args.json:
        return {**datasets.summary(row), "schema": row["schema"], "profile": row["profile"]}
    prof = row["profile"]
    lines = [f"{row['name']}:{row['version']}  id {row['id']}  {row['rows']} rows x "
             f"{row['columns']} columns",
             f"sha256 {row['sha256']}", f"source {row['source_path']} ({row['source_format']})",
             ""]
    cols = []
    for c in prof["columns"]:
        stats = (f"{c['min']:.4g}..{c['max']:.4g} mean {c['mean']:.4g}"
                 if isinstance(c.get("mean"), float) else
                 ", ".join(f"{t['value']} ({t['count']})" for t in c.get("top", [])[:3]))
        cols.append({"column": c["name"], "kind": c["kind"], "missing": c["missing"],
                     "unique": c["unique"], "summary": stats})
    lines.append(table(cols, ["column", "kind", "missing", "unique", "summary"]))
    if prof["warnings"]:
        lines += ["", "warnings:"] + [f"  - {w}" for w in prof["warnings"]]
    return Text("\n".join(lines))
