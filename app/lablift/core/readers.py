"""Read a data file (CSV/TSV, Parquet, Excel) into an Arrow table, or say exactly what is wrong.

CSV is parsed by pyarrow's multi-threaded reader (faster than pandas' C parser); we only
sniff the dialect, encoding and header ourselves from the first 64 KiB, and re-scan the
file with the `csv` module on the error path to name the offending line.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import LabliftError

SAMPLE_BYTES = 1 << 16
DELIMITED = {".csv", ".tsv", ".tab", ".txt", ".dat", ""}
PARQUET = {".parquet", ".pq", ".parq"}
EXCEL = {".xlsx", ".xlsm"}


class BadInput(LabliftError):
    """The file cannot be imported; the message names the file and the problem."""


@dataclass
class ReadInfo:
    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    header: bool = True
    notes: list[str] = field(default_factory=list)


def read_table(path: str | os.PathLike) -> tuple[pa.Table, ReadInfo]:
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"{p}: no such file")
    if p.is_dir():
        raise BadInput(f"{p} is a folder, not a data file")
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(SAMPLE_BYTES)
    except OSError as exc:
        raise BadInput(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise BadInput(f"{p} is empty")
    kind = _kind(p, head)
    if kind == "parquet":
        table, info = _read_parquet(p), ReadInfo(str(p), "parquet")
    elif kind == "excel":
        table, info = _read_excel(p), ReadInfo(str(p), "excel")
    else:
        table, info = _read_delimited(p, head)
    check_columns(p, table.column_names)
    if table.num_rows == 0:
        raise BadInput(f"{p} has a header but no data rows")
    return table, info


def check_columns(path: Path | str, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name is None or str(name).strip() == "":
            raise BadInput(f"{path}: column {i} has an empty name")
        if name in seen:
            raise BadInput(f"{path}: column name {name!r} is duplicated (columns {seen[name]} "
                           f"and {i})")
        seen[name] = i


def _kind(p: Path, head: bytes) -> str:
    ext = p.suffix.lower()
    if head.startswith(b"PAR1") or ext in PARQUET:
        return "parquet"
    if head.startswith(b"PK\x03\x04") or ext in EXCEL:
        return "excel"
    if ext == ".xls":
        raise BadInput(f"{p}: legacy .xls workbooks are not supported; save it as .xlsx or CSV")
    return "delimited"


def _read_parquet(p: Path) -> pa.Table:
    try:
        return pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{p} is not a readable Parquet file: {exc}") from None


def _read_excel(p: Path) -> pa.Table:
    import pandas as pd
    try:
        raw = pd.read_excel(p, sheet_name=0, header=None, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise BadInput(f"{p} is not a readable Excel workbook: {exc}") from None
    raw = raw.dropna(how="all").dropna(axis=1, how="all")
    if raw.empty:
        raise BadInput(f"{p} is empty (its first sheet has no cells)")
    header = ["" if pd.isna(v) else str(v).strip() for v in raw.iloc[0]]
    check_columns(p, header)
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = header
    body = body.infer_objects()
    for col in body.columns:
        if body[col].dtype == object:
            body[col] = body[col].map(lambda v: None if pd.isna(v) else str(v))
    return pa.Table.from_pandas(body, preserve_index=False).replace_schema_metadata(None)


def _decode_sample(p: Path, head: bytes) -> tuple[str, str]:
    """Return (encoding, text) for the sample; refuse binary and undecodable files."""
    if b"\x00" in head:
        raise BadInput(f"{p} is a binary file, not CSV/TSV text (it contains NUL bytes)")
    if head.startswith(codecs.BOM_UTF8):
        encoding, body = "utf-8-sig", head[len(codecs.BOM_UTF8):]
    else:
        encoding, body = "utf-8", head
    try:
        return encoding, codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        pass
    return "cp1252", _decode_whole_cp1252(p)[:SAMPLE_BYTES]


def _decode_whole_cp1252(p: Path) -> str:
    data = p.read_bytes()
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{p}: undecodable bytes on line {line} (byte 0x{data[exc.start]:02x} at "
                       f"offset {exc.start}): the file is neither UTF-8 nor Latin-1/Windows-1252 "
                       f"text") from None


def _sniff_delimiter(p: Path, text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if p.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def _read_delimited(p: Path, head: bytes) -> tuple[pa.Table, ReadInfo]:
    encoding, text = _decode_sample(p, head)
    if not text.strip():
        raise BadInput(f"{p} is empty (only blank lines)")
    delimiter = _sniff_delimiter(p, text)
    first_rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    first_rows = [r for r in first_rows if r]
    header = [h.strip() for h in first_rows[0]]
    has_header = not all(_looks_numeric(h) for h in header if h) or not any(header)
    info = ReadInfo(str(p), "tsv" if delimiter == "\t" else "csv", encoding, delimiter, has_header)
    if has_header:
        check_columns(p, header)
        names = header
    else:
        names = [f"column_{i}" for i in range(1, len(header) + 1)]
        info.notes.append("no header row found: columns named column_1, column_2, ...")
    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0,
                                  encoding=encoding, block_size=1 << 24)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values='"' in text,
                                    ignore_empty_lines=True)
    convert_opts = pacsv.ConvertOptions(strings_can_be_null=True)
    try:
        table = pacsv.read_csv(p, read_options=read_opts, parse_options=parse_opts,
                               convert_options=convert_opts)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "UTF8" in msg or "utf8" in msg.lower() or "decode" in msg.lower():
            if encoding.startswith("utf-8"):
                # Valid UTF-8 in the sample, not further on: retry the whole file as Latin-1.
                _decode_whole_cp1252(p)
                info.encoding = "cp1252"
                read_opts.encoding = "cp1252"
                return pacsv.read_csv(p, read_options=read_opts, parse_options=parse_opts,
                                      convert_options=convert_opts), info
        if "Expected" in msg and "columns" in msg:
            raise BadInput(_ragged_message(p, encoding, delimiter, len(names))) from None
        raise BadInput(f"{p}: cannot be parsed as {info.format.upper()}: {msg.splitlines()[0]}") \
            from None
    if encoding.startswith("utf-8") and any(pa.types.is_binary(t) for t in table.schema.types):
        # pyarrow types a column `binary` when it holds bytes that are not UTF-8: the sample
        # was valid UTF-8 but the rest is not, so the file is Latin-1 (or undecodable).
        _decode_whole_cp1252(p)
        info.encoding = read_opts.encoding = "cp1252"
        table = pacsv.read_csv(p, read_options=read_opts, parse_options=parse_opts,
                               convert_options=convert_opts)
    return table, info


def _ragged_message(p: Path, encoding: str, delimiter: str, expected: int) -> str:
    with open(p, newline="", encoding=encoding, errors="replace") as f:
        reader = csv.reader(f, delimiter=delimiter)
        for row in reader:
            if row and len(row) != expected:
                return (f"{p}: ragged rows: line {reader.line_num} has {len(row)} fields, "
                        f"the header has {expected}")
    return f"{p}: ragged rows: some line does not have {expected} fields"
