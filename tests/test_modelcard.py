"""Model card: Mitchell et al. sections, facts from lineage, narrative editable only while pending."""

import pytest

from lablift.core import audit, modelcard, registry, training
from lablift.core.datasets import import_dataset
from lablift.core.errors import LabliftError, PermissionDenied

SECTIONS = ["## Model details", "## Intended use", "## Factors", "## Metrics",
            "## Evaluation data", "## Training data", "## Quantitative analyses",
            "## Ethical considerations", "## Caveats and recommendations"]


@pytest.fixture
def pending(make_store, sample_csv):
    admin = make_store("admin")
    admin.add_user("alice", "analyst")
    admin.add_user("bob", "reviewer")
    alice = make_store("alice")
    ds = import_dataset(alice, sample_csv, name="loans")
    run = training.train(alice, {"dataset": "loans", "target": "approved", "cv": 2,
                                 "algorithm": "logistic_regression", "sensitive": "gender"})
    v = registry.register(alice, run["id"], "loan", description="Baseline loan model")
    return {"alice": alice, "bob": make_store("bob"), "admin": admin, "run": run, "ds": ds,
            "version": v}


def test_sections_in_order_and_facts_from_lineage(pending):
    md = modelcard.render_card(pending["bob"], "loan:1")
    positions = [md.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    run, ds = pending["run"], pending["ds"]
    assert md.startswith("# Model card: loan:1\n\nBaseline loan model")
    assert f"Content SHA-256 `{ds['sha256']}`" in md
    assert "`logistic_regression`" in md and "status: **pending**" in md
    auc = run["metrics"]["holdout"]["roc_auc"]
    assert f"| roc_auc | {auc:.4g} |" in md
    assert f"seed {run['seed']}" in md
    # Quantitative analyses: the group table from the stored fairness report.
    report = registry.version_detail(pending["bob"], "loan:1")["fairness"]
    for g in report["groups"]:
        assert f"| {g['group']} | {g['count']} | {g['selection_rate']:.4g} |" in md
    assert "screening heuristic" in md and "not proof of fairness" in md
    for feature in run["spec"]["features"]:
        assert f"`{feature}`" in md
    assert "Not written yet" in md  # narrative placeholders before the analyst writes them


def test_narrative_editable_while_pending_then_frozen(pending):
    alice, bob = pending["alice"], pending["bob"]
    card = modelcard.set_card_fields(alice, "loan:1", {
        "intended_use": "Pre-screening by trained loan officers; never automatic refusal.",
        "caveats": "Trained on one region's applications."})
    assert card["intended_use"].startswith("Pre-screening")
    md = modelcard.render_card(bob, "loan:1")
    intended = md.split("## Intended use")[1].split("##")[0]
    assert "Pre-screening by trained loan officers" in intended
    assert "Trained on one region's applications." in md.split("## Caveats")[1]
    last = audit.entries(alice, limit=1)[0]
    assert last["action"] == "version.card"
    assert last["details"]["fields"]["intended_use"]["old"] is None

    with pytest.raises(LabliftError, match="field\\(s\\) 'owner' unknown"):
        modelcard.set_card_fields(alice, "loan:1", {"owner": "x"})
    with pytest.raises(PermissionDenied, match="editing a model card needs the role analyst"):
        modelcard.set_card_fields(bob, "loan:1", {"factors": "x"})

    registry.approve(bob, "loan:1", comment="ok")
    with pytest.raises(LabliftError, match="model card of loan:1 is frozen: the version is "
                                           "approved"):
        modelcard.set_card_fields(alice, "loan:1", {"caveats": "changed after approval"})
    assert registry.resolve_version(bob, "loan:1")["card"]["caveats"] == \
        "Trained on one region's applications."
    md = modelcard.render_card(bob, "loan:1")
    assert "**Approved** by bob" in md and "Not written before the version was approved" in md


def test_card_without_sensitive_column(pending):
    alice = pending["alice"]
    run = training.train(alice, {"dataset": "loans", "target": "approved", "cv": 2,
                                 "algorithm": "logistic_regression"})
    registry.register(alice, run["id"], "plain")
    md = modelcard.render_card(alice, "plain:1")
    assert "no group analysis" in md and "| group |" not in md
    assert "No sensitive column was named" in md
