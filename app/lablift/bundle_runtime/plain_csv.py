"""A plain CSV read without pandas, for the ONNX batch path (`serve.py predict`). Part of the
bundle's runtime (see serve.py): run only after the integrity check; never imports Lablift.

Why our own reader: importing pandas is 0.45 s of a 100,000-row batch that onnxruntime scores
in about 1 s, and the ONNX scorer needs nothing else from pandas. This reader gives exactly
what `Scorer.read_csv` + `frame_from_dataframe` + `onnx_scorer.feed` give, value for value,
for the files it understands; for any other file it raises NotPlain and the caller takes the
pandas path, so every refusal and its message stay pandas'. It understands: UTF-8 without a
BOM, no quote character at all, "\\n" or "\\r\\n" line ends, a header of distinct non-empty
names, every row as wide as the header, no blank line, at least one row; numbers written
with digits, one point and a leading sign (no exponent, spaces or thousands separators);
booleans as true/false/yes/no/t/f/y/n/1/0 in any case; no date/time column.
tests/test_plain_csv.py compares both paths on generated hostile files.
"""

from .inputs import _FALSE, _TRUE, column_type

# pandas.read_csv's default missing-value markers (pandas._libs.parsers.STR_NA_VALUES;
# the test checks this copy against the pandas installed).
NA_VALUES = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                       "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                       "nan", "null"})
# A cell made only of these that float() accepts is a number pandas reads as the same double:
# pandas 3 parses with fast_float, correctly rounded like float() (tested on 20-digit cells).
_NUMBER_CHARS = frozenset("0123456789.+-")
# Where onnx_scorer.feed puts each schema kind: its manifest type.
_ONNX_TYPE = {"number": "double", "integer": "double", "string": "string", "bool": "bool"}


class NotPlain(Exception):
    """pandas must read this file; the message says why (for tests and notes)."""


def split_columns(data: bytes) -> tuple[list[str], dict, int]:
    """The raw text cells: (header, {name: tuple of cells}, rows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise NotPlain("a byte-order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotPlain("not UTF-8") from None
    if '"' in text or "\x00" in text:
        raise NotPlain("quoted fields or NUL bytes")
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            raise NotPlain("a lone carriage return")
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise NotPlain("no rows")
    header = lines[0].split(",")
    width = len(header)
    if width < 2 or "" in header or len(set(header)) != width:
        # one column: a blank-looking line would be a row to us and skipped by pandas
        raise NotPlain("a one-column file, an empty or a repeated column name")
    rows = [line.split(",") for line in lines[1:]]
    if set(map(len, rows)) != {width}:
        raise NotPlain("rows of another width than the header, or blank lines")
    return header, dict(zip(header, zip(*rows))), len(rows)


def _numbers(cells: tuple, np):
    """-> (float64 [n, 1], missing): pandas' float64 (or int64 cast to double) column."""
    out = np.full(len(cells), np.nan)
    index = [i for i, v in enumerate(cells) if v not in NA_VALUES]
    values = [cells[i] for i in index]
    if values:
        if not _NUMBER_CHARS.issuperset("".join(values)):
            raise NotPlain("a number with other characters")
        try:
            parsed = np.fromiter(map(float, values), dtype=np.float64, count=len(values))
        except ValueError:  # "1.2.3", "-", "+-1": pandas says what is wrong
            raise NotPlain("a cell that is not a number") from None
        if not any("." in v for v in values):
            # pandas reads integers as int64 (with gaps too, then cast): "-0" is 0, not -0.0
            if max(map(len, values)) > 18:
                raise NotPlain("an integer beyond int64")
            parsed += 0.0
        out[index] = parsed
    return out.reshape(-1, 1), len(cells) - len(values)


def _labels(cells: tuple, kind: str, np):
    """-> (object [n, 1] of feed text, missing) for a text or a bool column."""
    if kind == "string":  # read as text, a missing value fed as ""
        text = {v: ("" if v in NA_VALUES else v) for v in set(cells)}
    else:
        text = {}
        for v in set(cells):
            key = v.strip().lower()
            text[v] = ("" if v in NA_VALUES else "True" if key in _TRUE
                       else "False" if key in _FALSE else None)
        if None in text.values():
            raise NotPlain("a cell that is not true or false")
        if "" in text.values() and all(v.strip() in ("0", "1") for v in text
                                       if text[v]):
            # 0/1 with a gap: pandas reads 1.0/0.0, which its bool check refuses
            raise NotPlain("a 0/1 column with missing values")
    out = np.empty((len(cells), 1), dtype=object)
    out[:, 0] = [text[v] for v in cells]
    return out, sum(1 for v in cells if text[v] == "")


def read_feed(data: bytes, inputs: list[dict], onnx_inputs: list[dict]):
    """CSV bytes -> (onnxruntime feed, rows, missing {name: count}, extra column names)."""
    import numpy as np
    header, columns, rows = split_columns(data)
    onnx_type = {spec["name"]: spec["type"] for spec in onnx_inputs}
    feed, missing = {}, {}
    for spec in inputs:
        name, kind = spec["name"], column_type(spec)
        if name not in columns:
            raise NotPlain(f"no column '{name}'")
        if kind not in _ONNX_TYPE or onnx_type.get(name, _ONNX_TYPE[kind]) != _ONNX_TYPE[kind]:
            raise NotPlain(f"column '{name}' is {kind}")
        if kind in ("number", "integer"):
            feed[name], missing[name] = _numbers(columns[name], np)
        else:
            feed[name], missing[name] = _labels(columns[name], kind, np)
    known = {spec["name"] for spec in inputs}
    if set(onnx_type) - known:
        raise NotPlain("the model takes inputs the schema does not list")
    return ({n: feed[n] for n in onnx_type}, rows, missing,
            [c for c in header if c not in known])
