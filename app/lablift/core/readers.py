"""Read a data file (CSV/TSV, Parquet, Excel) into an Arrow table, or say exactly what is wrong.

CSV is parsed by pyarrow's multi-threaded reader (faster than pandas' C parser); we only
sniff the dialect, encoding and header ourselves from the first 64 KiB, and re-scan the
file with the `csv` module on the error path to name the offending line.

What a file imports as (the rules the tests check):
- Only regular files are opened: a FIFO, socket or device (/dev/zero) is refused from its
  os.stat before anything opens it (reading a FIFO would block forever), and so are folders,
  dangling symlinks and symlink loops.
- Text is UTF-8 (with or without BOM), UTF-16/32 with a BOM, UTF-16 without a BOM when every
  other byte is NUL, or else Windows-1252. NUL bytes or many control characters in the first
  64 KiB mean binary: refused from that sample, so a huge binary file is never read whole.
- Column names lose surrounding whitespace, and a line break inside a (quoted) name becomes
  one space: "a\\nb" imports as "a b", so every name fits on a command line and in one-line
  messages. Empty names are refused, except for a column that is empty too (a trailing
  delimiter), which is left out.
- Cells: empty and the usual missing markers (NA, N/A, null, NaN, ...: pyarrow's defaults,
  as in pandas) are missing; numbers, true/false and ISO dates/times are typed by pyarrow.
  Text columns are then tried as numbers with separators: "1,234.56" (thousands comma) and
  "1.234,56" / "1 234,56" (decimal comma); a column fitting both ("1,234") follows the
  delimiter: decimal comma after `;` (as European Excel writes), thousands otherwise. Then as
  dates dd/mm/yyyy, mm/dd/yyyy, dd.mm.yyyy, dd-mm-yyyy, yyyy/mm/dd (optionally with HH:MM[:SS]):
  the order of day and month is taken from the values (a first field above 12 means day
  first); dotted dates are day first; a column where both orders fit stays text, with a note.
- Parquet/Excel columns: dictionaries are decoded, decimals become float64, half floats
  float32, binary becomes text when it is valid UTF-8; nested (list, struct, map, union) and
  non-text binary columns cannot be used and are left out with a note naming each.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import LabliftError
from .text_columns import type_text_columns

SAMPLE_BYTES = 1 << 16
# pyarrow's default block (1 MiB): a 134 MB file in 16 MiB blocks parsed 1.3x slower on two
# cores (9 blocks share them badly). A row longer than a block is read again with larger ones.
BLOCK_BYTES = 1 << 20
MAX_BLOCK_BYTES = (1 << 31) - 1  # pyarrow's block size is an int32
DELIMITED = {".csv", ".tsv", ".tab", ".txt", ".dat", ""}
PARQUET = {".parquet", ".pq", ".parq"}
EXCEL = {".xlsx", ".xlsm"}
CONTROL_SHARE = 0.05  # more control characters than this in the sample: a binary file
_CONTROL = {chr(c) for c in range(32)} - set("\t\n\r\f\v\x1a\x1b")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_NON_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


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
    sha256: str | None = None  # of the file's bytes, when read_table was asked for it


def read_table(path: str | os.PathLike, hash_file: bool = False) -> tuple[pa.Table, ReadInfo]:
    """`hash_file`: also set info.sha256, the file's bytes' hash; a text file is then read
    once, into memory, for both (after its first 64 KiB passed the checks on binary files)."""
    p = Path(path).expanduser()
    size = check_file(p)
    head = _read_head(p)
    if size == 0 or not head:
        raise BadInput(f"{p} is empty")
    kind = _kind(p, head)
    if kind == "parquet":
        table, info = _read_parquet(p), ReadInfo(str(p), "parquet")
    elif kind == "excel":
        table, info = _read_excel(p), ReadInfo(str(p), "excel")
        table = type_text_columns(table, None, info.notes)
    else:
        table, info = _read_delimited(p, head, hash_file)
    if hash_file and info.sha256 is None:
        from .artifacts import sha256_file
        info.sha256 = sha256_file(p)
    table = _usable_columns(p, table, info)
    if table.num_rows == 0:
        raise BadInput(f"{p} has a header but no data rows")
    return table, info


def check_file(p: Path) -> int:
    """The size of `p`, after refusing anything that is not a regular file we may read.

    Checked with os.stat before any open(): opening a FIFO for reading blocks until a writer
    comes, and a device such as /dev/zero never ends."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise BadInput(f"{p} is a symbolic link to {os.readlink(p)!r}, which does not "
                           f"exist") from None
        raise BadInput(f"{p}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput(f"{p} is a symbolic link loop (following it leads back to itself)") \
                from None
        if exc.errno == errno.EACCES:
            raise BadInput(f"{p} cannot be read: permission denied") from None
        raise BadInput(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{p} is a folder, not a data file")
    for test, what in _NON_REGULAR:
        if test(st.st_mode):
            raise BadInput(f"{p} is {what}, not a regular file; save the data to a file and "
                           f"import that")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{p} is not a regular file")
    return st.st_size


def _read_head(p: Path, limit: int = SAMPLE_BYTES) -> bytes:
    # O_NONBLOCK: should the path become a FIFO after check_file, open() still returns.
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise BadInput(f"{p} cannot be read: permission denied") from None
    except OSError as exc:
        raise BadInput(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadInput(f"{p} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    except OSError as exc:
        raise BadInput(f"{p}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def clean_name(name) -> str:
    return _LINE_BREAKS.sub(" ", str(name)).strip()


def check_columns(path: Path | str, names: list[str], allow_empty: bool = False) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name is None or str(name).strip() == "":
            if allow_empty:
                continue
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
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(f"{p} is not a readable Parquet file: {first}") from None


def _read_excel(p: Path) -> pa.Table:
    import pandas as pd
    try:
        with warnings.catch_warnings():  # openpyxl's notes on styles and extensions
            warnings.simplefilter("ignore")
            raw = pd.read_excel(p, sheet_name=0, header=None, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(f"{p} is not a readable Excel workbook: {first}") from None
    raw = raw.dropna(how="all").dropna(axis=1, how="all")
    if raw.empty:
        raise BadInput(f"{p} is empty (its first sheet has no cells)")
    header = ["" if pd.isna(v) else clean_name(v) for v in raw.iloc[0]]
    check_columns(p, header)
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = header
    body = body.infer_objects()
    for col in body.columns:
        if body[col].dtype == object:
            body[col] = body[col].map(lambda v: None if pd.isna(v) else str(v))
    return pa.Table.from_pandas(body, preserve_index=False).replace_schema_metadata(None)


# -- columns every format shares ---------------------------------------------------------------

def _usable_columns(p: Path, table: pa.Table, info: ReadInfo) -> pa.Table:
    """Clean names; decode, cast or leave out (with a note) what profiling and models cannot use."""
    names = [clean_name(n) for n in table.column_names]
    keep_names, keep_cols, left_out = [], [], []
    for i, (name, column) in enumerate(zip(names, table.columns), start=1):
        if name == "" and column.null_count == len(column):
            info.notes.append(f"column {i} has no name and no values; it was left out")
            continue
        column, why = _usable(column)
        if why:
            label = name or f"column {i}"
            left_out.append(label)
            info.notes.append(f"column {label!r} ({why}) cannot be used and was left out")
            continue
        keep_names.append(name)
        keep_cols.append(column)
    check_columns(p, keep_names)
    if not keep_cols:
        raise BadInput(f"{p}: no usable columns" + (f" ({', '.join(map(repr, left_out[:5]))} "
                                                    f"cannot be used)" if left_out else ""))
    return pa.table(keep_cols, names=keep_names)


def _usable(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, str | None]:
    t = column.type
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    if pa.types.is_decimal(t):
        return column.cast(pa.string()).cast(pa.float64()), None  # via text: nearest double
    if pa.types.is_float16(t):
        return column.cast(pa.float32()), None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            return column.cast(pa.large_string() if pa.types.is_large_binary(t) else pa.string()), \
                None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return column, "binary"
    if pa.types.is_nested(t) or pa.types.is_union(t):
        return column, str(t).split("<")[0].split("[")[0]
    if isinstance(t, pa.BaseExtensionType):
        return column, str(t)
    return column, None


# -- delimited text ----------------------------------------------------------------------------

def _decode_sample(p: Path, head: bytes) -> tuple[str, str]:
    """Return (encoding, text) for the sample; refuse binary and undecodable files."""
    encoding, body = _unicode_encoding(head)
    if encoding is not None:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(body, final=False)
        except UnicodeDecodeError:
            raise BadInput(f"{p}: not valid {encoding.upper()} text although it starts like "
                           f"it (byte order mark or NUL pattern)") from None
        if "\x00" in text:
            raise BadInput(f"{p} is a binary file, not CSV/TSV text (it contains NUL "
                           f"characters)")
    else:
        if b"\x00" in head:
            line = head.count(b"\n", 0, head.index(b"\x00")) + 1
            raise BadInput(f"{p} is a binary file, not CSV/TSV text (it contains NUL bytes, "
                           f"the first on line {line}){_utf16_hint(head)}")
        controls = sum(head.count(bytes([c])) for c in range(32) if chr(c) in _CONTROL)
        if controls > CONTROL_SHARE * len(head):
            raise BadInput(f"{p} is a binary file, not CSV/TSV text ({controls / len(head):.0%} "
                           f"of its first bytes are control characters)")
        if head.startswith(codecs.BOM_UTF8):
            encoding, body = "utf-8-sig", head[len(codecs.BOM_UTF8):]
        else:
            encoding, body = "utf-8", head
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
        except UnicodeDecodeError:
            encoding, text = "cp1252", _decode_whole_cp1252(p)[:SAMPLE_BYTES]
    controls = sum(1 for ch in text if ch in _CONTROL)
    if text and controls > CONTROL_SHARE * len(text):
        raise BadInput(f"{p} is a binary file, not CSV/TSV text ({controls / len(text):.0%} of "
                       f"its first characters are control characters)")
    return encoding, text


def _unicode_encoding(head: bytes) -> tuple[str | None, bytes]:
    """UTF-32/16 by byte order mark, or UTF-16 without one by its NUL pattern; else None."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", head
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", head
    probe = head[:4096]
    if len(probe) >= 4:
        even, odd = probe[0::2], probe[1::2]
        # UTF-16 text: NUL is the high byte of every ASCII character (delimiters, digits,
        # line ends) and never the low byte of anything; other NUL patterns mean binary
        if odd.count(0) >= 0.25 * len(odd) and even.count(0) == 0:
            return "utf-16-le", head[: len(head) // 2 * 2]
        if even.count(0) >= 0.25 * len(even) and odd.count(0) == 0:
            return "utf-16-be", head[: len(head) // 2 * 2]
    return None, head


def _utf16_hint(head: bytes) -> str:
    probe = head[:4096]
    even, odd = probe[0::2].count(0), probe[1::2].count(0)
    if max(even, odd) >= 4 * max(min(even, odd), 1):  # NULs mostly at every other byte
        return ("; if it is UTF-16 text without a byte order mark, save it as UTF-8 or as "
                "UTF-16 with a byte order mark")
    return ""


def _decode_whole_cp1252(p: Path) -> str:
    data = p.read_bytes()
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{p}: undecodable bytes on line {line} (byte 0x{data[exc.start]:02x} at "
                       f"offset {exc.start}): the file is neither UTF-8 nor Latin-1/Windows-1252 "
                       f"text") from None


def _sniff_delimiter(p: Path, text: str, complete: bool = True) -> str:
    """The delimiter that splits the sample's records, parsed with quotes, into the same number
    (>1) of fields: a comma first, then csv.Sniffer's guess, then the one giving most fields.
    Sniffer alone counts characters and is fooled by a quoted header such as
    '"; DROP TABLE runs; --",v'. A file whose every line has as many `;` (tab, `|`) outside
    quotes, and no consistent comma, is split on it: a one-column file cannot say otherwise.
    Without a consistent split, a delimiter found in every record is kept (the file is ragged
    and refused, naming the line); else the file is one column."""
    if p.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    if not complete and "\n" in text.rstrip("\n"):  # the sample may end inside a record
        text = text[: text.rstrip("\n").rfind("\n") + 1]
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    try:
        sniffed = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        sniffed = None
    counts = {d: _field_counts(text, d) for d in ",;\t|"}
    consistent = {d: c[0] for d, c in counts.items() if c and c[0] > 1 and len(set(c)) == 1}
    if "," in consistent:
        return ","
    if consistent:
        return sniffed if sniffed in consistent else max(consistent, key=consistent.get)
    first = lines[0] if lines else ""
    by_first = max(",;\t|", key=first.count)
    for d in (sniffed, by_first):
        if d and counts[d] and min(counts[d]) > 1:
            return d
    return ","


def _field_counts(text: str, delimiter: str, records: int = 50) -> list[int]:
    counts: list[int] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if row and any(cell.strip() for cell in row):
                counts.append(len(row))
                if len(counts) >= records:
                    break
    except csv.Error:  # an unclosed quote at the end of the sample: what was read counts
        pass
    return counts


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def _first_row(text: str, delimiter: str) -> list[str]:
    # newline="": CR-only (old Mac) and mixed line endings split like LF ones
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row:  # only empty lines are skipped, as pyarrow skips them
                return row
    except csv.Error:
        pass
    return []


def _read_delimited(p: Path, head: bytes, hash_file: bool = False
                    ) -> tuple[pa.Table, ReadInfo]:
    encoding, text = _decode_sample(p, head)
    if not text.strip():
        raise BadInput(f"{p} is empty (only blank lines)")
    skip = 0
    hint = re.match(r"sep=(.)[ \t]*(\r\n|\r|\n)", text)  # Excel's "sep=;" first line
    if hint:
        delimiter, skip, text = hint.group(1), 1, text[hint.end():]
    else:
        delimiter = _sniff_delimiter(p, text, complete=len(head) < SAMPLE_BYTES)
    header = [clean_name(h) for h in _first_row(text, delimiter)]
    has_header = not all(_looks_numeric(h) for h in header if h) or not any(header)
    info = ReadInfo(str(p), "tsv" if delimiter == "\t" else "csv", encoding, delimiter, has_header)
    if has_header:
        check_columns(p, header, allow_empty=True)  # refuse before reading the whole file
        # pyarrow parses the header itself, so a quoted line break in a name stays one row
        read_opts = pacsv.ReadOptions(skip_rows=skip, encoding=encoding, block_size=BLOCK_BYTES)
    else:
        names = [f"column_{i}" for i in range(1, len(header) + 1)]
        info.notes.append("no header row found: columns named column_1, column_2, ...")
        read_opts = pacsv.ReadOptions(column_names=names, skip_rows=skip, encoding=encoding,
                                      block_size=BLOCK_BYTES)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values='"' in text,
                                    ignore_empty_lines=True)
    convert_opts = pacsv.ConvertOptions(strings_can_be_null=True)
    content = None
    if hash_file:
        content = _read_head(p, limit=-1)
        info.sha256 = hashlib.sha256(content).hexdigest()
    try:
        table = _parse_csv(p, read_opts, parse_opts, convert_opts, content)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # the latter from Python transcoding
        msg = str(exc)
        if isinstance(exc, UnicodeDecodeError) and not encoding.startswith("utf-8"):
            raise BadInput(f"{p}: not valid {encoding.upper()} text further on than the first "
                           f"64 KiB ({exc.reason})") from None
        if "UTF8" in msg or "utf8" in msg.lower() or "decode" in msg.lower():
            if encoding.startswith("utf-8"):
                # Valid UTF-8 in the sample, not further on: retry the whole file as Latin-1.
                _decode_whole_cp1252(p)
                info.encoding = "cp1252"
                read_opts.encoding = "cp1252"
                table = _read_csv(p, info, read_opts, parse_opts, convert_opts, len(header),
                                  content)
                return type_text_columns(table, delimiter, info.notes), info
        if "Expected" in msg and "columns" in msg:
            raise BadInput(_ragged_message(p, encoding, delimiter, len(header), skip)) from None
        raise BadInput(f"{p}: cannot be parsed as {info.format.upper()}: {msg.splitlines()[0]}") \
            from None
    if encoding.startswith("utf-8") and any(pa.types.is_binary(t) for t in table.schema.types):
        # pyarrow types a column `binary` when it holds bytes that are not UTF-8: the sample
        # was valid UTF-8 but the rest is not, so the file is Latin-1 (or undecodable).
        _decode_whole_cp1252(p)
        info.encoding = read_opts.encoding = "cp1252"
        table = _read_csv(p, info, read_opts, parse_opts, convert_opts, len(header), content)
    return type_text_columns(table, delimiter, info.notes), info


def _parse_csv(p: Path, read_opts, parse_opts, convert_opts,
               content: bytes | None = None) -> pa.Table:
    """pyarrow's read (of `content` if given); a row longer than a block ("straddling
    object") gets blocks 16x larger until one holds it (the whole file at most)."""
    size = os.path.getsize(p) if content is None else len(content)
    while True:
        try:
            return pacsv.read_csv(p if content is None else pa.BufferReader(content),
                                  read_options=read_opts, parse_options=parse_opts,
                                  convert_options=convert_opts)
        except pa.ArrowInvalid as exc:
            largest = min(size + 1, MAX_BLOCK_BYTES)
            if "straddl" not in str(exc) or read_opts.block_size >= largest:
                raise
            read_opts.block_size = min(read_opts.block_size * 16, largest)


def _read_csv(p, info, read_opts, parse_opts, convert_opts, expected: int,
              content: bytes | None = None) -> pa.Table:
    try:
        return _parse_csv(p, read_opts, parse_opts, convert_opts, content)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "Expected" in msg and "columns" in msg:
            raise BadInput(_ragged_message(p, info.encoding, info.delimiter, expected,
                                           read_opts.skip_rows)) from None
        raise BadInput(f"{p}: cannot be parsed as {info.format.upper()}: {msg.splitlines()[0]}") \
            from None


def _ragged_message(p: Path, encoding: str, delimiter: str, expected: int, skip: int = 0) -> str:
    try:
        with open(p, newline="", encoding=encoding, errors="replace") as f:
            for _ in range(skip):
                f.readline()
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if row and len(row) != expected:
                    return (f"{p}: ragged rows: line {reader.line_num + skip} has {len(row)} "
                            f"fields, the header has {expected}")
    except csv.Error:  # e.g. a field over the csv module's size limit: no line to name
        pass
    return f"{p}: ragged rows: some line does not have {expected} fields"


# -- typing text columns: separated numbers and day/month dates -----------------------------------
