"""Property: any table Python's csv module writes imports back as written, or is refused clearly.

"As written", modulo the typing rules documented in core/readers.py: missing markers (empty,
NA, null, NaN, ...) are missing; a column is typed as numbers, booleans or dates only when
every value reads so (numbers may carry thousands separators or a decimal comma); names lose
surrounding whitespace and a line break in a name becomes a space. A refusal must be a
LabliftError naming the file; any other exception fails. Derandomized with a fixed budget so
CI sees the same examples every run (about 5 s in all).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import re

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, settings
from hypothesis import strategies as st

from lablift.core import datasets
from lablift.core.errors import LabliftError

pytestmark = [pytest.mark.filterwarnings("error"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NULLS = set(pacsv.ConvertOptions().null_values)
TRUE, FALSE = {"1", "True", "TRUE", "true"}, {"0", "False", "FALSE", "false"}
TOKENS = ["1", "-2.5", "1e3", "NA", "", "true", "False", "0", "2024-01-31", "31/01/2024",
          "2024-01-31 13:45", "1,234", "1,234.5", "2,5", "1.234,56", "a,b", 'say "hi"',
          "line\nbreak", "cr\rhere", "é", "日本", "=1+1", " x ", "null", "nan", "00123", ";",
          "|", "\t"]
# text without NUL, surrogates or other control characters (those are refused as binary)
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n\r\t"),
               max_size=8)
CELL = st.one_of(st.none(), st.sampled_from(TOKENS), TEXT, st.integers(-10**12, 10**12),
                 st.floats(allow_nan=False, allow_infinity=False, width=32))
NAME = st.one_of(st.sampled_from(["a", "b", "x y", '"q"', "a,b", "line\nname", " pad ", "é",
                                  '"; DROP TABLE runs; --', "=1+1", "1", "nan", ""]),
                 TEXT.filter(lambda t: t.strip()))
BUDGET = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
SAFE_BUDGET = settings(BUDGET, max_examples=150)


NUMBER = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False,
                                                             allow_infinity=False, width=32))
DATE = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
COLUMN_CELLS = [  # one style per column, so typed columns (not only text) come up often
    CELL,
    st.one_of(st.none(), st.sampled_from(["NA", ""]), NUMBER),
    st.one_of(st.none(), NUMBER.map(lambda v: f"{v:,}")),  # thousands separators, quoted
    st.one_of(st.none(), DATE.map(str), DATE.map(lambda d: d.strftime("%d/%m/%Y"))),
    st.one_of(st.none(), st.sampled_from(sorted(TRUE | FALSE))),
]


@st.composite
def tables(draw, names=NAME):
    n_cols = draw(st.integers(1, 5))
    # mostly distinct names; now and then a duplicate, an empty or blank one (refused)
    distinct = draw(st.sampled_from([True, True, True, True, False]))
    header = draw(st.lists(names, min_size=n_cols, max_size=n_cols,
                           unique_by=clean if distinct else None))
    styles = draw(st.lists(st.sampled_from(COLUMN_CELLS), min_size=n_cols, max_size=n_cols))
    n_rows = draw(st.integers(1, 8))
    rows = [[draw(style) for style in styles] for _ in range(n_rows)]
    return header, rows


def as_text(value) -> str:
    return "" if value is None else str(value)


def write_csv(path, header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return buf.getvalue()


def clean(name: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", name).strip()


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def splits_otherwise(text: str) -> bool:
    """Every record splits into the same >1 fields on `;`, tab or `|` and not on a comma:
    the documented one-column ambiguity, not a property failure."""
    def counts(d):
        return [len(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=d)
                if r and any(c.strip() for c in r)]
    def consistent(d):
        c = counts(d)
        return bool(c) and c[0] > 1 and len(set(c)) == 1
    return not consistent(",") and any(consistent(d) for d in ";\t|")


def candidates(text: str) -> list[float]:
    """The numbers a cell may stand for under the documented rules."""
    out = []
    t = text.lstrip("+")
    for s in (t, t.replace(",", ""), t.replace(".", "").replace(",", "."),
              re.sub(r"[ \u00a0\u202f]", "", t).replace(",", ".")):
        try:
            out.append(float(s))
        except ValueError:
            pass
    return out


def check_value(kind: pa.DataType, written: str, got) -> None:
    if written in NULLS:
        assert got is None, (written, got)
        return
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        assert got == written
    elif pa.types.is_boolean(kind):
        assert got is (written in TRUE), (written, got)
        assert written in TRUE | FALSE
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        assert any(math.isclose(got, c, rel_tol=1e-12, abs_tol=0) or got == c
                   for c in candidates(written)), (written, got)
    elif pa.types.is_temporal(kind):
        if isinstance(got, dt.time):
            assert written.startswith(got.strftime("%H:%M")), (written, got)
            return
        want = pd.Timestamp(got if not isinstance(got, dt.date) or isinstance(got, dt.datetime)
                            else dt.datetime.combine(got, dt.time()))
        parsed = {pd.to_datetime(written, dayfirst=d, format="mixed", utc=want.tz is not None)
                  for d in (True, False)}
        assert want in parsed, (written, got)
    else:  # pragma: no cover - a type the documented rules do not produce
        raise AssertionError(f"unexpected type {kind} for {written!r}")


_names = itertools.count()


def import_or_refusal(store, tmp_path, header, rows):
    path = tmp_path / f"p{next(_names)}.csv"
    text = write_csv(path, header, rows)
    note(repr(text))
    try:
        row = datasets.import_dataset(store, path, name=path.stem)
    except LabliftError as exc:
        assert path.name in str(exc) and "\n" not in str(exc), str(exc)
        return text, None, str(exc)
    return text, datasets.load_table(store, row), None


def expected_shape(header, rows):
    """(names, written cell rows, refusal expected) under the documented rules."""
    names = [clean(h) for h in header]
    cells = [[as_text(v) for v in r] for r in rows]
    if all(_numeric(n) for n in names if n) and any(names):  # no header row
        cells = [[as_text(h) for h in header]] + cells
        names = [f"column_{i}" for i in range(1, len(header) + 1)]
    keep = [i for i, n in enumerate(names)
            if n or not all(r[i] in NULLS for r in cells)]  # unnamed empty columns left out
    names = [names[i] for i in keep]
    cells = [[r[i] for i in keep] for r in cells]
    bad = not names or "" in names or len(set(names)) != len(names)
    return names, cells, bad


def assert_round_trip(table: pa.Table, names, cells) -> None:
    assert table.column_names == names
    assert table.num_rows == len(cells)
    for j, name in enumerate(names):
        column = table.column(name)
        values = column.to_pylist()
        for i, got in enumerate(values):
            check_value(column.type, cells[i][j], got)


@BUDGET
@given(tables())
@example((['"; DROP TABLE runs; --', "v"], [[1, 2]]))
@example((["a\nb", "y"], [[1, 2], [3, 4]]))
@example((["d", "n"], [["31/01/2024", "1,234.5"], ["01/02/2024", "2,5"]]))
def test_any_written_table_round_trips_or_is_refused_clearly(store, tmp_path, table):
    header, rows = table
    text, imported, refusal = import_or_refusal(store, tmp_path, header, rows)
    assume(not splits_otherwise(text))
    names, cells, bad = expected_shape(header, rows)
    if refusal is not None:
        event("refused: " + next((w for w in ("duplicated", "empty name", "binary", "empty")
                                  if w in refusal), "other"))
        assert bad or "empty" in refusal or "binary" in refusal, refusal
        return
    assert not bad, "a table the rules refuse was imported"
    event("imported: " + ", ".join(sorted({str(t) for t in imported.schema.types})))
    assert_round_trip(imported, names, cells)


SAFE_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_ ]{0,6}[A-Za-z0-9]", fullmatch=True)


@SAFE_BUDGET
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.lists(SAFE_NAME, min_size=n, max_size=n, unique_by=str.strip),
    st.lists(st.lists(CELL, min_size=n, max_size=n), min_size=1, max_size=8))))
def test_plain_names_always_import(store, tmp_path, table):
    header, rows = table
    text, imported, refusal = import_or_refusal(store, tmp_path, header, rows)
    assume(not splits_otherwise(text))
    assert refusal is None, refusal
    names, cells, _ = expected_shape(header, rows)
    assert_round_trip(imported, names, cells)
