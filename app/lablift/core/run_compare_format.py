"""A run comparison (core/run_compare.py) as an aligned plain-text table or as GitHub-flavoured
Markdown for a pull-request comment or a CI job summary.

Numbers are formatted one way everywhere: metrics with 4 decimals, deltas signed (a nonzero
delta too small for 4 decimals in scientific notation, so it never reads +0.0000 beside
"better"), parameters as recorded.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .run_compare import shown_version

MISSING_TEXT = "-"
MISSING_MD = "—"
MD_VERDICT = {"better": "✅ better", "worse": "❌ worse", "same": "= same"}


# -- values --------------------------------------------------------------------------------------
def fmt_metric(value: float | None, missing: str = MISSING_TEXT) -> str:
    if value is None:
        return missing
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4e}"


def fmt_delta(delta: float | None, missing: str = MISSING_TEXT) -> str:
    if delta is None:
        return missing
    if delta == 0:
        return "+0.0000"
    if abs(delta) < 5e-5:
        return f"{delta:+.1e}"
    return f"{delta:+.4f}" if abs(delta) < 1e6 else f"{delta:+.4e}"


def fmt_value(value: Any) -> str:
    """A parameter or spec value as the catalogue spells it (None is 'none')."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value)
    return str(value)


def _version_text(v: dict[str, Any] | None) -> str:
    if v is None:
        return "not registered"
    aliases = f" [{', '.join(v['aliases'])}]" if v["aliases"] else ""
    return f"{v['ref']} {v['status']}{aliases}"


def _versions_text(run: dict[str, Any]) -> str:
    return "; ".join(_version_text(v) for v in run["versions"]) or "not registered"


def _holdout_text(run: dict[str, Any], base: dict[str, Any], same: bool | None) -> str:
    h = run["holdout"]
    if h["rows"] is None:
        return "none"
    text = f"{h['rows']} of {h['dataset']} (test size {fmt_value(h['test_size'])}, " \
           f"seed {fmt_value(h['seed'])})"
    if run is not base:
        text += ", same rows as A" if same else ", not A's rows"
    return text


def _feature_cells(values: list, missing: str) -> list[str]:
    """Features: A's count, then each run's count and what it adds or drops against A."""
    base = set(values[0] or [])
    cells = []
    for i, v in enumerate(values):
        if v is None:
            cells.append(missing)
            continue
        text = f"{len(v)} columns"
        if i:
            added, dropped = sorted(set(v) - base), sorted(base - set(v))
            change = [f"+{c}" for c in added] + [f"-{c}" for c in dropped]
            text += f" ({' '.join(change)})" if change else " (same as A, reordered)"
        cells.append(text)
    return cells


def _difference_cells(d: dict[str, Any], missing: str) -> list[str]:
    if d["name"] == "features":
        return _feature_cells(d["values"], missing)
    return [fmt_value(v) if present else missing for v, present in zip(d["values"], d["set"])]


def _check_cell(result: dict[str, Any] | None, missing: str) -> str:
    if result is None:
        return missing
    mark = "info" if result["informational"] else ("pass" if result["passed"] else "FAIL")
    return mark if result["value"] is None else f"{mark} {fmt_metric(result['value'])}"


def _metric_label(m: dict[str, Any]) -> str:
    return m["metric"] + (" (lower is better)" if m["direction"] == "lower" else "")


def summary_line(cmp: dict[str, Any], s: dict[str, Any]) -> str:
    if not s["compared"]:
        return f"{s['label']} vs A: no holdout metric to compare"
    text = (f"{s['label']} vs A: better on {s['better']}, worse on {s['worse']}, the same on "
            f"{s['same']} of {s['compared']} holdout metrics")
    p = s["primary"]
    if p and p["delta"] is not None:
        text += f"; {p['metric']} {fmt_delta(p['delta'])} ({p['verdict']})"
    return text


def _title_run(run: dict[str, Any]) -> str:
    v = shown_version(run)
    extra = f", {_version_text(v)}" if v else ""
    return f"run {run['id']} ({run['label']}{extra})"


# -- plain text ----------------------------------------------------------------------------------
def aligned(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """An aligned text table; columns in `right` are right-aligned (numbers)."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def sections(cmp: dict[str, Any], missing: str, verdict: Callable[[str | None], str]
              ) -> list[tuple[str, list[str], list[list[str]], set[int]]]:
    """(title, header, rows, right-aligned columns) of each table, shared by both formats."""
    runs = cmp["runs"]
    base = runs[0]
    heads = [f"{r['label']}: run {r['id']}" for r in runs]
    same = {p["label"]: p["same_rows"] for p in cmp["holdout"]["runs"]}
    setup = [["status"] + [r["status"] for r in runs],
             ["dataset"] + [r["dataset"]["ref"] for r in runs],
             ["task"] + [r["task"] or missing for r in runs],
             ["target"] + [r["target"] or missing for r in runs],
             ["algorithm"] + [r["algorithm"] or missing for r in runs],
             ["holdout rows"] + [_holdout_text(r, base, same.get(r["label"])) for r in runs],
             ["versions"] + [_versions_text(r) for r in runs]]
    out = [("", [""] + heads, setup, set())]

    header = ["metric", "A"]
    for r in runs[1:]:
        header += [r["label"], f"{r['label']} - A", f"{r['label']} vs A"]
    right = {1} | {i for i in range(2, len(header)) if (i - 2) % 3 in (0, 1)}
    rows = []
    for m in cmp["metrics"]:
        row = [_metric_label(m), fmt_metric(m["values"][0], missing)]
        for i in range(1, len(runs)):
            row += [fmt_metric(m["values"][i], missing), fmt_delta(m["deltas"][i], missing),
                    verdict(m["verdicts"][i])]
        rows.append(row)
    out.append(("Metrics (holdout; cv.NAME: cross-validated mean)", header, rows, right))

    if cmp["differences"]:
        out.append(("Setup and parameters that differ", ["parameter"] + heads,
                    [[d["name"]] + _difference_cells(d, missing) for d in cmp["differences"]],
                    set()))
    for t in cmp["retrain"]:
        rows = [[_metric_label(m), fmt_metric(m["values"][0], missing),
                 fmt_metric(m["values"][1], missing), fmt_delta(m["delta"], missing),
                 verdict(m["verdict"])] for m in t["metrics"]]
        out.append((f"{t['label']} ({t['challenger']}) is a retrained challenger of "
                    f"{t['champion']} (A); both scored on the {t['rows']} rows the retrain "
                    f"held out of monitoring batch #{t['batch_id']} ({t['method']}), which "
                    f"neither trained on", ["metric", "A", t["label"], f"{t['label']} - A",
                                            f"{t['label']} vs A"], rows, {1, 2, 3}))
    if cmp["checks"]:
        out.append(("Checks (of each run's newest version)",
                    ["check"] + [f"{r['label']}: " + (shown_version(r) or
                                                       {"ref": "not registered"})["ref"]
                                 for r in runs],
                    [[c["name"]] + [_check_cell(x, missing) for x in c["results"]]
                     for c in cmp["checks"]], set()))
    return out


def equal_text(cmp: dict[str, Any]) -> str:
    return ", ".join(f"{e['name']}={fmt_value(e['value'])}" for e in cmp["equal"]
                     if e["name"] != "features") or "nothing"


def to_text(cmp: dict[str, Any]) -> str:
    runs = cmp["runs"]
    lines = ["run comparison: " + ", ".join(f"{r['label']} = run {r['id']}" for r in runs)
             + "; deltas are against A"]
    for title, header, rows, right in sections(cmp, MISSING_TEXT, lambda v: v or "-"):
        lines += ["", title] if title else [""]
        lines.append(aligned(header, rows, right) if rows else "(none)")
    lines += ["", f"equal in all runs: {equal_text(cmp)}"]
    lines += [summary_line(cmp, s) for s in cmp["summary"]]
    lines += [f"note: {n}" for n in cmp["notes"]]
    return "\n".join(lines)


# -- Markdown ------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """A table cell's text: Markdown emphasis, links and pipes escaped (a `|` would end the
    cell, in a code span too), "<" and "&" as entities (no HTML), newlines as spaces."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return re.sub(r"[\r\n]+", " ", text)


def md_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    cells = [[md_escape(c) for c in header]] + [[md_escape(c) for c in r] for r in rows]
    rule = ["---:" if i in right else ":---" for i in range(len(header))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [cells[0], rule] + cells[1:])


def to_markdown(cmp: dict[str, Any]) -> str:
    runs = cmp["runs"]
    title = " vs ".join(_title_run(r) for r in runs)
    lines = [f"### Run comparison: {md_escape(title)}", ""]
    for s in cmp["summary"]:
        lines.append(f"**{md_escape(summary_line(cmp, s))}**  ")
    lines[-1] = lines[-1].rstrip()
    for text, header, rows, right in sections(cmp, MISSING_MD,
                                               lambda v: MD_VERDICT.get(v, MISSING_MD)):
        lines.append("")
        if text:
            lines += [f"**{md_escape(text)}**", ""]
        lines.append(md_table(header, rows, right) if rows else "_none_")
    lines += ["", f"Equal in all runs: {md_escape(equal_text(cmp))}"]
    if cmp["notes"]:
        lines.append("")
        lines += [f"> **Note:** {md_escape(n)}  " for n in cmp["notes"]]
        lines[-1] = lines[-1].rstrip()
    return "\n".join(lines) + "\n"
