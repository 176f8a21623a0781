"""`lablift bundle export | verify | list`."""

from __future__ import annotations

from ..bundle_runtime import serve as runtime
from ..core import bundles
from ..core.errors import LabliftError
from .common import Text, add_json, emit, table


def register(sub) -> None:
    p = sub.add_parser("bundle", help="export and verify deployable bundles")
    b = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    exp = b.add_parser("export", help="export an approved version as a standalone, "
                       "MLflow-compatible folder")
    exp.add_argument("ref", metavar="NAME:VERSION", help="model version (NAME:VERSION or "
                     "NAME:ALIAS)")
    exp.add_argument("--out", required=True, metavar="DIR", help="new folder to create (an "
                     "existing path is refused)")
    add_json(exp)
    exp.set_defaults(handler=cmd_export)
    ver = b.add_parser("verify", help="check a bundle's SHA256SUMS, manifest and lineage")
    ver.add_argument("path", metavar="DIR")
    add_json(ver)
    ver.set_defaults(handler=cmd_verify)
    ls = b.add_parser("list", help="list exported bundles")
    ls.add_argument("ref", nargs="?", help="only this model version")
    add_json(ls)
    ls.set_defaults(handler=cmd_list)


def cmd_export(store, args):
    row = bundles.export(store, args.ref, args.out)
    if args.json:
        return row
    onnx = row.get("onnx") or {}
    fast = (f"ONNX fast path: shipped (exact on {onnx.get('rows_checked')} holdout and probe "
            f"rows)" if onnx.get("verdict") == "passed" else
            f"ONNX fast path: not shipped ({onnx.get('verdict')}): {onnx.get('reason')}")
    return Text(f"exported {row['ref']} to {row['path']} ({len(row['files'])} files, manifest "
                f"sha256 {row['manifest_sha256'][:12]})\n{fast}\n"
                f"score a file:  python -I {row['path']}/serve.py predict IN.csv -o OUT.csv\n"
                f"serve HTTP:    python -I {row['path']}/serve.py serve --port 8080")


def cmd_verify(store, args):
    result = bundles.verify(args.path, store=store)
    if not result["ok"]:
        if args.json:
            emit(result, True)
        # one line naming a few files and counting the rest, however many there are
        raise LabliftError(f"bundle {args.path} failed verification: "
                           + runtime.summarize_problems(result["problems"]))
    if args.json:
        return result
    lines = [f"ok: {result['path']} ({result['model']}): {result['files']} files match "
             f"SHA256SUMS, manifest parses"
             + (", lineage matches the store" if result["lineage_checked"] else "")]
    lines += [f"warning: {w}" for w in result["warnings"]]
    if result["unlisted"]:
        n = len(result["unlisted"])
        lines.append(f"note: {n:,} item{'s' if n > 1 else ''} in the folder "
                     f"{'are' if n > 1 else 'is'} not part of the bundle and not checked "
                     f"(they cannot change what runs): " + runtime.name_some(result["unlisted"]))
    return Text("\n".join(lines))


def cmd_list(store, args):
    rows = bundles.list_bundles(store, args.ref)
    if args.json:
        return rows
    for r in rows:
        r["ref"] = f"{r['name']}:{r['version']}"
        r["manifest"] = r["manifest_sha256"][:12]
    return Text(table(rows, ["id", "ref", "path", "manifest", "created_by", "created_at"],
                      empty="no bundles exported yet"))
