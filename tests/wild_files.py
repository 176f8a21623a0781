"""Files from the wild that are not hostile, each with what it must import as.

`generate(folder)` writes every file into `folder` and returns a list of `WildFile`: the rows,
the column names in order with their inferred kind, and optional spot checks (values of the
stored table, substrings of the profile warnings). `python tests/wild_files.py DIR` writes
them for a look by hand.
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

N = 6  # rows in most files: few enough to read, with >2 distinct values per column


@dataclass
class WildFile:
    name: str
    what: str  # what it is and what it must import as
    columns: dict[str, str]  # name -> kind, in file order
    rows: int = N
    values: dict[str, list] = field(default_factory=dict)  # column -> first values, as stored
    warnings: list[str] = field(default_factory=list)  # substrings of profile warnings
    dtypes: dict[str, str] = field(default_factory=dict)  # column -> dtype prefix
    write: Callable[[Path], None] | None = None
    path: Path | None = None


def _text(lines: list[str], newline: str = "\n", trailing: bool = True, encoding: str = "utf-8",
          bom: bytes = b""):
    body = newline.join(lines) + (newline if trailing else "")
    return lambda p: p.write_bytes(bom + body.encode(encoding))


NUM_ROWS = [f"{i},{i * 1.5},{c}" for i, c in zip(range(1, N + 1), "abcabc")]
NUM_COLS = {"n": "numeric", "x": "numeric", "c": "categorical"}


def _line_endings() -> list[WildFile]:
    out = []
    for name, newline, trailing in (("lf", "\n", True), ("crlf", "\r\n", True),
                                    ("cr_old_mac", "\r", True),
                                    ("no_trailing_newline", "\n", False),
                                    ("crlf_no_trailing", "\r\n", False)):
        out.append(WildFile(f"{name}.csv", f"line endings {newline!r}, trailing newline {trailing}",
                            NUM_COLS, values={"n": [1, 2], "c": ["a", "b"]},
                            write=_text(["n,x,c", *NUM_ROWS], newline, trailing)))
    mixed = "n,x,c\r\n" + "\n".join(NUM_ROWS[:3]) + "\r" + "\r\n".join(NUM_ROWS[3:]) + "\n\n\n"
    out.append(WildFile("mixed_endings.csv", "CRLF, LF and CR in one file, blank lines at the end",
                        NUM_COLS, values={"n": [1, 2, 3, 4]},
                        write=lambda p: p.write_bytes(mixed.encode())))
    return out


def _dates() -> list[WildFile]:
    iso = [f"2024-01-{d:02d}" for d in (5, 12, 19, 26, 30, 31)]
    return [
        WildFile("iso_dates.csv", "ISO dates yyyy-mm-dd: a date column",
                 {"day": "datetime", "v": "numeric"}, dtypes={"day": "date32"},
                 values={"day": [dt.date(2024, 1, 5)]},
                 write=_text(["day,v", *(f"{d},{i}" for i, d in enumerate(iso))])),
        WildFile("iso_datetimes.csv", "ISO datetimes without a zone, with T and with a space",
                 {"at": "datetime", "at2": "datetime", "v": "numeric"},
                 dtypes={"at": "timestamp", "at2": "timestamp"},
                 values={"at": [dt.datetime(2024, 1, 5, 13, 45, 10)],
                         "at2": [dt.datetime(2024, 1, 5, 13, 45)]},
                 write=_text(["at,at2,v", *(f"{d}T13:45:10,{d} 13:45,{i}"
                                            for i, d in enumerate(iso))])),
        WildFile("iso_datetimes_zones.csv", "ISO datetimes with Z and ±hh:mm: UTC timestamps",
                 {"at": "datetime", "v": "numeric"}, dtypes={"at": "timestamp"},
                 values={"at": [dt.datetime(2024, 1, 5, 12, 45, tzinfo=dt.timezone.utc),
                                dt.datetime(2024, 1, 12, 13, 45, tzinfo=dt.timezone.utc)]},
                 write=_text(["at,v", *(f"{d}T13:45:00{z},{i}" for i, (d, z) in enumerate(
                     zip(iso, ["+01:00", "Z", "-02:00", "Z", "+05:30", "Z"])))])),
        WildFile("dd_mm_yyyy.csv", "dd/mm/yyyy (a day above 12 tells the order)",
                 {"day": "datetime", "v": "numeric"}, dtypes={"day": "date32"},
                 values={"day": [dt.date(2024, 2, 1), dt.date(2024, 1, 31)]},
                 write=_text(["day,v", "01/02/2024,1", "31/01/2024,2", "15/03/2024,3",
                              "4/5/2024,4", "28/02/2024,5", "12/12/2024,6"])),
        WildFile("mm_dd_yyyy.csv", "mm/dd/yyyy, unambiguous (a second field above 12)",
                 {"day": "datetime", "v": "numeric"}, dtypes={"day": "date32"},
                 values={"day": [dt.date(2024, 1, 2), dt.date(2024, 1, 31)]},
                 write=_text(["day,v", "01/02/2024,1", "01/31/2024,2", "03/15/2024,3",
                              "5/4/2024,4", "02/28/2024,5", "12/12/2024,6"])),
        WildFile("ambiguous_dates.csv", "dd/mm or mm/dd cannot be told apart: stays text, noted",
                 {"day": "categorical", "v": "numeric"}, values={"day": ["01/02/2024"]},
                 warnings=["'day' looks like dates, but day and month cannot be told apart"],
                 write=_text(["day,v", "01/02/2024,1", "02/01/2024,2", "03/04/2024,3",
                              "04/03/2024,4", "05/06/2024,5", "06/05/2024,6"])),
        WildFile("minute_datetimes.csv", "'2024-01-31 13:45' and 'dd/mm/yyyy HH:MM[:SS]'",
                 {"at": "datetime", "local": "datetime", "v": "numeric"},
                 dtypes={"at": "timestamp", "local": "timestamp"},
                 values={"at": [dt.datetime(2024, 1, 31, 13, 45)],
                         "local": [dt.datetime(2024, 1, 31, 13, 45),
                                   dt.datetime(2024, 2, 1, 8, 0, 30)]},
                 write=_text(["at,local,v", "2024-01-31 13:45,31/01/2024 13:45,1",
                              "2024-02-01 08:00,01/02/2024 08:00:30,2",
                              "2024-02-02 09:15,02/02/2024 09:15,3",
                              "2024-02-03 10:30,03/02/2024 10:30,4",
                              "2024-02-04 11:45,04/02/2024 11:45,5",
                              "2024-02-05 12:00,05/02/2024 12:00,6"])),
        WildFile("yyyy_slash_dates.csv", "yyyy/mm/dd (as written in East Asia)",
                 {"day": "datetime", "v": "numeric"}, dtypes={"day": "date32"},
                 values={"day": [dt.date(2024, 1, 31)]},
                 write=_text(["day,v", "2024/01/31,1", "2024/2/1,2", "2024/02/02,3",
                              "2024/02/03,4", "2024/02/04,5", "2024/02/05,6"])),
        WildFile("times_of_day.csv", "HH:MM and HH:MM:SS times of day",
                 {"t": "datetime", "v": "numeric"}, dtypes={"t": "time32"},
                 values={"t": [dt.time(13, 45)]},
                 write=_text(["t,v", "13:45:00,1", "08:00:30,2", "09:15:00,3", "10:30:00,4",
                              "11:45:00,5", "23:59:59,6"])),
    ]


def _regional() -> list[WildFile]:
    european = ["Betrag;Menge;Datum;Stadt",
                "1.234,56;1,5;31.01.2024;Köln",
                "2,5;2;01.02.2024;München",
                "-3.000,00;3,25;15.03.2024;Köln",
                "12.345.678,9;4;4.5.2024;Berlin",
                "0,01;5,5;28.02.2024;München",
                "99;6;12.12.2024;Berlin"]
    return [
        WildFile("european_excel.csv", "European Excel: BOM, ';', CRLF, decimal comma, "
                 "thousands dots, dd.mm.yyyy",
                 {"Betrag": "numeric", "Menge": "numeric", "Datum": "datetime",
                  "Stadt": "categorical"}, dtypes={"Betrag": "double", "Datum": "date32"},
                 values={"Betrag": [1234.56, 2.5, -3000.0, 12345678.9],
                         "Menge": [1.5, 2.0, 3.25], "Datum": [dt.date(2024, 1, 31)],
                         "Stadt": ["Köln", "München"]},
                 write=_text(european, "\r\n", bom=codecs.BOM_UTF8)),
        WildFile("excel_sep_hint.csv", "Excel's 'sep=;' first line names the delimiter",
                 {"a": "numeric", "b": "categorical"}, values={"a": [1.5, 2.0], "b": ["x", "y"]},
                 write=_text(["sep=;", "a;b", "1,5;x", "2;y", "3;z", "4;x", "5;y", "6;z"])),
        WildFile("us_thousands.csv", "quoted '1,234.56' thousands separators",
                 {"amount": "numeric", "count": "numeric", "c": "categorical"},
                 dtypes={"amount": "double", "count": "int64"},
                 values={"amount": [1234.56, 12.0, 1000000.5], "count": [1234, 5678901, 12]},
                 write=_text(["amount,count,c", '"1,234.56","1,234",a', '12,"5,678,901",b',
                              '"1,000,000.5",12,c', '"-2,500.75","2,000",a', '3.5,"10,000",b',
                              '"999",7,c'])),
        WildFile("french_spaces.csv", "'1 234,56' with (no-break) space thousands, ';'",
                 {"montant": "numeric", "ville": "categorical"},
                 values={"montant": [1234.56, 2.5, 1000000.0]},
                 write=_text(["montant;ville", "1 234,56;Paris", "2,5;Lyon",
                              "1\u00a0000\u00a0000,0;Paris", "3;Lyon", "4,75;Nice", "5;Nice"])),
        WildFile("latin1_windows.csv", "Windows-1252 text (é, €) from an old Excel",
                 {"name": "categorical", "price": "numeric"},
                 values={"name": ["café", "crème"], "price": [1.5]},
                 write=_text(["name,price", "café,1.5", "crème,2.5", "€uro,3.5", "café,4.5",
                              "crème,5.5", "naïve,6.5"], encoding="cp1252")),
        WildFile("tab_separated.tsv", "tab-separated with quoted tabs",
                 {"id": "numeric", "note": "categorical"},
                 values={"note": ["a\tb", "plain"]},
                 write=_text(["id\tnote", '1\t"a\tb"', "2\tplain", "3\tplain", "4\tother",
                              '5\t"a\tb"', "6\tother"])),
        WildFile("utf16_excel_unicode_text.txt", "Excel 'Unicode Text': UTF-16 LE with BOM, tabs",
                 {"name": "categorical", "v": "numeric"}, values={"name": ["Zoë", "Ωmega"]},
                 write=_text(["name\tv", "Zoë\t1", "Ωmega\t2", "Zoë\t3", "plain\t4",
                              "Ωmega\t5", "plain\t6"], "\r\n", encoding="utf-16-le",
                             bom=codecs.BOM_UTF16_LE)),
        WildFile("utf16_be.csv", "UTF-16 BE with BOM",
                 {"a": "numeric", "b": "categorical"}, values={"b": ["x"]},
                 write=_text(["a,b", *(f"{i},{'xyz'[i % 3]}" for i in range(N))],
                             encoding="utf-16-be", bom=codecs.BOM_UTF16_BE)),
        WildFile("utf16_no_bom.csv", "UTF-16 LE without BOM (NUL at every other byte)",
                 {"a": "numeric", "b": "categorical"}, values={"b": ["x"]},
                 write=_text(["a,b", *(f"{i},{'xyz'[i % 3]}" for i in range(N))],
                             encoding="utf-16-le")),
    ]


def _shapes() -> list[WildFile]:
    return [
        WildFile("quoted_header_newline.csv", "a quoted line break in a header cell: one name "
                 "'a b', the numbers stay numbers",
                 {"a b": "numeric", "y": "numeric"}, rows=3, dtypes={"a b": "int64"},
                 values={"a b": [1, 3, 5]},
                 write=_text(['"a\nb",y', "1,2", "3,4", "5,6"])),
        WildFile("trailing_delimiter.csv", "every line ends with ',': the empty unnamed last "
                 "column is left out", {"a": "numeric", "b": "categorical"},
                 warnings=["column 3 has no name and no values"],
                 write=_text(["a,b,", *(f"{i},{'xyz'[i % 3]}," for i in range(N))])),
        WildFile("padded_header.csv", "spaces around header names are trimmed",
                 {"first name": "categorical", "age": "numeric"},
                 write=_text([" first name , age ",
                              *(f"{'abc'[i % 3]},{20 + i}" for i in range(N))])),
        WildFile("missing_markers.csv", "empty, NA, N/A, null, NaN cells are missing values",
                 {"v": "numeric", "s": "categorical"},
                 values={"v": [1.0, None, None, 4.0]},
                 write=_text(["v,s", "1,a", "NA,b", "N/A,c", "4,", "null,b", "NaN,c"])),
        WildFile("yes_no.csv", "yes/no and true/false columns are boolean",
                 {"ok": "boolean", "flag": "boolean", "v": "numeric"},
                 write=_text(["ok,flag,v", *(f"{'yes' if i % 2 else 'no'},"
                                            f"{'true' if i % 3 else 'false'},{i}"
                                            for i in range(N))])),
        WildFile("no_header.csv", "numbers only: no header, columns column_1..",
                 {"column_1": "numeric", "column_2": "numeric"},
                 write=_text([f"{i},{i * 2.5}" for i in range(1, N + 1)])),
        WildFile("long name with spaces and ünïcode and more words than most people would "
                 "ever type into a file name but some exporters do write names like this "
                 "one.csv", "a file name over 128 characters still imports",
                 NUM_COLS, write=_text(["n,x,c", *NUM_ROWS])),
    ]


def _parquet_rich(p: Path) -> None:
    n = N
    pq.write_table(pa.table({
        "nested_list": pa.array([[1, 2], [3], None, [4], [5, 6], []], pa.list_(pa.int64())),
        "nested_struct": pa.array([{"a": i, "b": "x"} for i in range(n)],
                                  pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "dict_colour": pa.array(["red", "green", "blue"] * 2).dictionary_encode(),
        "price": pa.array([decimal.Decimal(v) if v else None
                           for v in ("1.25", "2.50", None, "3.75", "4.00", "5.10")],
                          pa.decimal128(10, 2)),
        "at_berlin": pa.array([dt.datetime(2024, 1, i + 1, 12) for i in range(n)],
                              pa.timestamp("us", tz="Europe/Berlin")),
        "day": pa.array([dt.date(2024, 1, i + 1) for i in range(n)], pa.date32()),
        "time": pa.array([dt.time(i, 30) for i in range(n)], pa.time64("us")),
        "text_bytes": pa.array([b"ab", b"cd", b"ef", None, b"gh", b"ab"], pa.binary()),
        "raw_bytes": pa.array([b"\xff\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"],
                              pa.binary()),
        "big_text": pa.array(["x", "y", "z", "x", "y", "z"], pa.large_string()),
        "flag": pa.array([True, None, False, True, False, None]),
        "score": pa.array([1.5, 2.5, None, 4.5, 5.5, 6.5], pa.float64()),
    }), p)


def _parquet() -> list[WildFile]:
    return [WildFile(
        "rich_types.parquet", "Parquet: nested list/struct and non-text binary left out (noted); "
        "dictionary decoded, decimal128 as float, zoned timestamps, date32, time64, binary text, "
        "large_string, bool with nulls",
        {"dict_colour": "categorical", "price": "numeric", "at_berlin": "datetime",
         "day": "datetime", "time": "datetime", "text_bytes": "categorical",
         "big_text": "categorical", "flag": "boolean", "score": "numeric"},
        dtypes={"price": "double", "at_berlin": "timestamp[us, tz=Europe/Berlin]",
                "day": "date32", "time": "time64", "dict_colour": "string"},
        values={"price": [1.25, 2.5, None, 3.75, 4.0, 5.1], "dict_colour": ["red", "green"],
                "text_bytes": ["ab", "cd"], "flag": [True, None, False]},
        warnings=["column 'nested_list' (list) cannot be used and was left out",
                  "column 'nested_struct' (struct) cannot be used and was left out",
                  "column 'raw_bytes' (binary) cannot be used and was left out"],
        write=_parquet_rich)]


def _excel() -> list[WildFile]:
    def write(p: Path) -> None:
        import pandas as pd
        pd.DataFrame({"when": pd.date_range("2024-01-01", periods=N, freq="D"),
                      "amount": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
                      "city": ["Oslo", "Rome", "Oslo", "Rome", "Lima", "Lima"],
                      "day_text": ["31/01/2024", "01/02/2024", "15/02/2024", "16/02/2024",
                                   "17/02/2024", "18/02/2024"]}).to_excel(p, index=False)
    return [WildFile("workbook.xlsx", "Excel: dates, numbers, text, dd/mm/yyyy typed as text",
                     {"when": "datetime", "amount": "numeric", "city": "categorical",
                      "day_text": "datetime"},
                     values={"day_text": [dt.date(2024, 1, 31)]}, write=write)]


def cases() -> list[WildFile]:
    return _line_endings() + _dates() + _regional() + _shapes() + _parquet() + _excel()


def generate(folder: str | Path) -> list[WildFile]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for case in cases():
        case.path = folder / case.name
        case.write(case.path)
        out.append(case)
    return out


def describe(case: WildFile) -> dict[str, Any]:
    return {"file": case.name, "what": case.what, "rows": case.rows, "columns": case.columns}


if __name__ == "__main__":  # pragma: no cover
    import json
    for c in generate(sys.argv[1] if len(sys.argv) > 1 else "wild"):
        print(json.dumps(describe(c), ensure_ascii=False))
