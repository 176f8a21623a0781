"""Files from the wild (tests/wild_files.py) import through the real CLI as their owner means."""

import json

import pytest

from lablift.core import datasets
from wild_files import cases, generate

# a warning reaching stderr is a failure too (DeprecationWarnings are hidden from users anyway)
pytestmark = [pytest.mark.filterwarnings("error"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

CASES = {c.name: c for c in cases()}


def _one(name, folder):
    return next(c for c in generate(folder) if c.name == name)


@pytest.mark.parametrize("name", list(CASES), ids=[n[:40] for n in CASES])
def test_wild_file_imports_as_meant(name, cli, store, tmp_path):
    case = _one(name, tmp_path / "wild")
    code, out, err = cli("admin", "dataset", "import", str(case.path))
    assert (code, err) == (0, ""), f"{case.what}: {err}"
    assert out.startswith("imported ")
    for w in case.warnings:  # what was left out or kept as text is said in the CLI output
        assert f"note: {w}" in out or any(w in line for line in out.splitlines()), out
    code, out, err = cli("admin", "dataset", "show", "1", "--json")
    assert code == 0, err
    shown = json.loads(out)
    cols = shown["profile"]["columns"]
    assert shown["rows"] == case.rows, case.what
    assert [c["name"] for c in cols] == list(case.columns), case.what
    assert {c["name"]: c["kind"] for c in cols} == case.columns, case.what
    dtypes = {c["name"]: c["dtype"] for c in cols}
    for col, prefix in case.dtypes.items():
        assert dtypes[col].startswith(prefix), (col, dtypes[col])
    text = " | ".join(shown["profile"]["warnings"])
    for w in case.warnings:
        assert w in text
    table = datasets.load_table(store, shown["id"])
    for col, expected in case.values.items():
        got = table.column(col).to_pylist()[:len(expected)]
        assert got == pytest.approx(expected) if _numbers(expected) else got == expected, col
    # the human view of the profile works for every kind of column
    code, out, err = cli("admin", "dataset", "show", "1")
    assert code == 0 and err == ""


def _numbers(values) -> bool:
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in values) and any(v is not None for v in values) and None not in values


def test_generator_describes_every_file(tmp_path):
    written = generate(tmp_path)
    assert len(written) == len(CASES) >= 30
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(CASES)
    assert all(c.what and c.columns and c.rows for c in written)
