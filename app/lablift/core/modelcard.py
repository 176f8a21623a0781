"""Model cards (Mitchell et al., "Model Cards for Model Reporting", FAT* 2019), in Markdown.

Facts (model details, metrics, evaluation and training data, quantitative analyses) come from
the lineage: the run, its dataset version, checks and fairness report. The narrative fields
(intended use, factors, ethical considerations, caveats) are written by an analyst while the
version is pending, stored in model_versions.card as JSON, and frozen once it is decided.
The Markdown is rendered on demand, so it always reflects the stored facts.
"""

from __future__ import annotations

import json
from typing import Any

from . import audit
from .errors import LabliftError
from .store import Store
from .store.sql import repository

registry_sql = repository("registry")  # statements: core/store/registry.py

NARRATIVE_FIELDS = {
    "intended_use": "Intended use",
    "factors": "Factors",
    "ethical_considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations",
}
MAX_FIELD_CHARS = 20000


def set_card_fields(store: Store, ref: str, fields: dict[str, str]) -> dict[str, str]:
    """Update narrative fields of a pending version's card (analyst); audited."""
    from . import registry
    store.require_role("editing a model card", "analyst")
    v = registry.resolve_version(store, ref)
    if v["status"] != "pending":
        raise LabliftError(f"the model card of {v['ref']} is frozen: the version is "
                           f"{v['status']}, and narrative fields can only be edited while it is "
                           f"pending (register a new version to change them)")
    unknown = [k for k in fields if k not in NARRATIVE_FIELDS]
    if unknown:
        raise LabliftError(f"model card field(s) {', '.join(map(repr, unknown))} unknown: use "
                           f"{', '.join(NARRATIVE_FIELDS)}")
    for k, text in fields.items():
        if not isinstance(text, str):
            raise LabliftError(f"model card field {k!r} must be text")
        if len(text) > MAX_FIELD_CHARS:
            raise LabliftError(f"model card field {k!r} is longer than {MAX_FIELD_CHARS} "
                               f"characters")
    with store.transaction():
        # Re-read inside the write so a decision made meanwhile freezes the card.
        row = store.row(registry_sql.CARD_OF, id=v["id"])
        if row["status"] != "pending":
            raise LabliftError(f"the model card of {v['ref']} is frozen: the version is "
                               f"{row['status']}")
        card = json.loads(row["card"] or "{}")
        changes = {k: {"old": card.get(k), "new": text.strip()} for k, text in fields.items()
                   if card.get(k) != text.strip()}
        for k, text in fields.items():
            card[k] = text.strip()
        if changes:  # an unchanged card writes nothing (and needs no audit entry)
            registry_sql.SET_CARD.execute(store.conn, store.engine,
                                          {"id": v["id"], "card": json.dumps(card)})
            audit.append(store, "version.card", f"model_version:{v['ref']}",
                         {"fields": changes})
    return card


def render_card(store: Store, ref: str) -> str:
    from . import registry
    return render(registry.version_detail(store, ref, card=False))


# -- rendering -----------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def _narrative(detail: dict[str, Any], key: str) -> list[str]:
    text = (detail.get("card") or {}).get(key)
    if text:
        return [text]
    if detail.get("card_frozen"):
        return [f"_Not written before the version was {detail['status']}._"]
    return [f"_Not written yet. An analyst can write it while the version is pending: "
            f"`lablift model card {detail['ref']} --set {key}=TEXT`._"]


def render(detail: dict[str, Any]) -> str:
    """Markdown model card from a registry.version_detail() dict."""
    run = detail["run"]
    ds = detail.get("dataset") or {}
    metrics = run.get("metrics") or {}
    env = run.get("environment") or {}
    pkgs = env.get("packages") or {}
    fair = detail.get("fairness")
    L: list[str] = [f"# Model card: {detail['ref']}", ""]
    if detail.get("description"):
        L += [detail["description"], ""]

    L += ["## Model details", ""]
    L += [f"- **Model**: {detail['name']}, version {detail['version']} "
          f"(status: **{detail['status']}**"
          + (f", aliases: {', '.join(detail['aliases'])}" if detail.get("aliases") else "")
          + ")",
          f"- **Type**: {run.get('task')} — `{run.get('algorithm')}` (scikit-learn"
          + (f" {pkgs['scikit-learn']}" if pkgs.get("scikit-learn") else "") + ")",
          f"- **Target**: `{run.get('target')}`"
          + (f"; classes: {', '.join(map(str, run['classes']))}" if run.get("classes") else ""),
          f"- **Trained by** {run.get('created_by')} on {run.get('created_at')} (run "
          f"{run.get('id')}, seed {run.get('seed')}); **registered by** "
          f"{detail['created_by']} on {detail['created_at']}",
          f"- **Environment**: Python {env.get('python', '–')}, Lablift "
          f"{env.get('lablift', '–')}"]
    params = run.get("params") or {}
    if params:
        L += ["- **Parameters**: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in
                                               sorted(params.items()))]
    if detail.get("approvals"):
        for a in detail["approvals"]:
            line = (f"- **{a['decision'].capitalize()}** by {a['user']} on {a['at']}"
                    + (f": “{a['comment']}”" if a.get("comment") else ""))
            if a.get("override_reason"):
                line += f" — **override of failing checks**: “{a['override_reason']}”"
            L.append(line)
    else:
        L.append("- **Review**: not yet approved or rejected")
    L.append("")

    L += ["## Intended use", ""] + _narrative(detail, "intended_use") + [""]

    L += ["## Factors", ""] + _narrative(detail, "factors")
    if run.get("sensitive"):
        L += ["", f"Group analysis was run on the sensitive column `{run['sensitive']}` "
                  f"(see Quantitative analyses)."]
    else:
        L += ["", "No sensitive column was named at training, so no group analysis was run."]
    L.append("")

    L += ["## Metrics", ""]
    hold = metrics.get("holdout") or {}
    cv = metrics.get("cv") or {}
    names = sorted(set(hold) | set(cv))
    if names:
        L += _table(["metric", "holdout", "cv mean", "cv std"],
                    [[n, hold.get(n), (cv.get(n) or {}).get("mean"),
                      (cv.get(n) or {}).get("std")] for n in names])
    gating = [c for c in detail.get("checks", []) if not c.get("informational")]
    if gating:
        L += ["", "Checks run at registration:", ""]
        L += _table(["check", "value", "result"],
                    [[c["name"], (c.get("details") or {}).get("value"),
                      "pass" if c["passed"] else "**FAIL**"] for c in gating])
    else:
        L += ["", "No metric gates were configured when this version was registered."]
    L.append("")

    L += ["## Evaluation data", ""]
    L += [f"A holdout of {_fmt(run.get('test_size'))} of the labelled rows of "
          f"`{ds.get('name')}:{ds.get('version')}`, split with seed {run.get('seed')}"
          + (" (stratified by class)" if run.get("task") == "classification" else "")
          + f"; cross-validation with {run.get('cv')} folds on the training rows.",
          ""]

    L += ["## Training data", ""]
    if ds:
        L += [f"- Dataset `{ds['name']}` version {ds['version']}: {ds.get('rows')} rows, "
              f"{ds.get('columns')} columns",
              f"- Content SHA-256 `{ds['sha256']}`",
              f"- Imported by {ds.get('created_by')} on {ds.get('created_at')}"
              + (f" from `{ds['source_path']}`" if ds.get("source_path") else "")]
    feats = run.get("features") or []
    L += [f"- Features ({len(feats)}): " + ", ".join(f"`{f}`" for f in feats), ""]

    L += ["## Quantitative analyses", ""]
    if fair:
        L += _fairness_section(fair)
    else:
        L += ["Unitary results are in Metrics. No intersectional or group analysis: the run "
              "named no sensitive column."]
    L.append("")

    L += ["## Ethical considerations", ""] + _narrative(detail, "ethical_considerations")
    L.append("")
    L += ["## Caveats and recommendations", ""] + _narrative(detail, "caveats")
    auto = []
    failed = [c for c in gating if not c["passed"]]
    for c in failed:
        auto.append(f"Check failed at registration: {c['name']}.")
    for a in detail.get("approvals", []):
        if a.get("override_reason"):
            auto.append(f"Approved despite failing checks; override reason: "
                        f"“{a['override_reason']}”.")
    if fair:
        auto += list(fair.get("notes") or [])
    if auto:
        L += ["", "Recorded automatically:", ""] + [f"- {x}" for x in auto]
    L.append("")
    return "\n".join(L)


def _fairness_section(fair: dict[str, Any]) -> list[str]:
    L = [f"By group of `{fair.get('sensitive')}` on the {fair.get('rows', '')} holdout rows "
         f"(definitions as in Fairlearn's MetricFrame):", ""]
    if fair.get("task") == "regression":
        L += _table(["group", "count", "MAE", "RMSE", "mean error"],
                    [[g["group"], g["count"], g["mae"], g["rmse"], g["mean_error"]]
                     for g in fair["groups"]])
        L += ["", f"- MAE difference (max − min): {_fmt(fair.get('mae_difference'))}; "
                  f"MAE ratio (min / max): {_fmt(fair.get('mae_ratio'))}"]
        return L
    if fair.get("mode") == "binary":
        L += _table(["group", "count", "selection rate", "TPR", "FPR", "precision", "accuracy"],
                    [[g["group"], g["count"], g["selection_rate"], g["tpr"], g["fpr"],
                      g["precision"], g["accuracy"]] for g in fair["groups"]])
        L += ["", f"Positive label: `{fair.get('pos_label')}`."]
    else:
        L += _table(["group", "count", "accuracy"],
                    [[g["group"], g["count"], g["accuracy"]] for g in fair["groups"]])
        L += ["", f"Multiclass: {fair.get('mode')}."]
    ff = fair.get("four_fifths") or {}
    L += ["",
          f"- Demographic parity difference: {_fmt(fair.get('demographic_parity_difference'))}",
          f"- Demographic parity ratio: {_fmt(fair.get('demographic_parity_ratio'))}"
          + (" — **below four-fifths (flagged)**" if ff.get("flagged") else ""),
          f"- Equalized odds difference: {_fmt(fair.get('equalized_odds_difference'))}",
          "", f"_{ff.get('note', '')}_"]
    return L
