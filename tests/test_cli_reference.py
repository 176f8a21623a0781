"""docs/cli.md is generated from the parser: it must list every command with its whole help,
and be regenerated whenever a command or option changes."""

from pathlib import Path

from lablift.cli import build_parser
from lablift.cli import reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_reference_lists_every_command_with_its_options():
    text = reference.markdown()
    paths = [" ".join(p) for p, _ in reference.commands(build_parser())]
    assert len(paths) > 40
    for path in paths:
        assert f"\n## {path}\n" in text
    # an option deep in the tree appears with its help text
    assert "--rollback" in text or "--comment" in text
    assert "usage: lablift model approve" in text


def test_docs_cli_md_is_current():
    assert DOC.exists(), "docs/cli.md is missing: python -m lablift.cli.reference docs/cli.md"
    assert DOC.read_text(encoding="utf-8") == reference.markdown(), (
        "docs/cli.md is stale: regenerate it with `python -m lablift.cli.reference docs/cli.md`")
