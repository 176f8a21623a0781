"""Dataset import: formats, sniffing, versioning by content hash, profiles, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from lablift.cli import main
from lablift.core import datasets
from lablift.core.errors import Cancelled, LabliftError
from lablift.core.profiling import canonical_sha256
from lablift.core.readers import read_table


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_import_sample_creates_version_with_profile(store, sample_csv):
    row = datasets.import_dataset(store, sample_csv)
    assert (row["name"], row["version"], row["rows"], row["columns"]) == ("sample_loans", 1, 2000, 12)
    kinds = {c["name"]: c["kind"] for c in row["profile"]["columns"]}
    assert kinds["applicant_id"] == "id-like"
    assert kinds["income"] == "numeric"
    assert kinds["home_ownership"] == "categorical"
    assert kinds["has_cosigner"] == "boolean"
    assert kinds["approved"] == "boolean"
    emp = next(c for c in row["profile"]["columns"] if c["name"] == "employment_years")
    assert emp["missing"] == pd.read_csv(sample_csv)["employment_years"].isna().sum() > 0
    assert sum(emp["histogram"]["counts"]) == 2000 - emp["missing"]
    loaded = datasets.load_frame(store, row)
    pd.testing.assert_frame_equal(loaded, pd.read_csv(sample_csv), check_dtype=False)


def test_same_content_returns_existing_version_and_changes_make_the_next(store, tmp_path):
    a = write(tmp_path / "d.csv", b"x,y\n1,a\n2,b\n")
    first = datasets.import_dataset(store, a)
    again = datasets.import_dataset(store, a)
    assert again["existing"] and again["id"] == first["id"]
    write(a, b"x,y\n1,a\n2,c\n")
    second = datasets.import_dataset(store, a)
    assert (second["version"], second["existing"]) == (2, False)
    assert second["sha256"] != first["sha256"]
    assert datasets.resolve(store, "d")["id"] == second["id"]
    assert datasets.resolve(store, "d:1")["id"] == first["id"]
    assert datasets.resolve(store, str(first["id"]))["version"] == 1


def test_hash_covers_every_row_not_just_the_first(tmp_path):
    n = 30_000
    df = pd.DataFrame({"a": np.arange(n), "b": np.arange(n) * 0.5})
    df.to_csv(tmp_path / "one.csv", index=False)
    df.loc[n - 1, "b"] = -1.0
    df.to_csv(tmp_path / "two.csv", index=False)
    h1 = canonical_sha256(read_table(tmp_path / "one.csv")[0])
    h2 = canonical_sha256(read_table(tmp_path / "two.csv")[0])
    assert h1 != h2


def test_same_content_in_csv_and_parquet_hashes_the_same(tmp_path):
    df = pd.DataFrame({"a": [1, 2, None], "s": ["x", None, "z"], "f": [0.5, 1.5, 2.5]})
    df.to_csv(tmp_path / "d.csv", index=False)
    t_csv, _ = read_table(tmp_path / "d.csv")
    t_csv.to_pandas().to_parquet(tmp_path / "d.parquet", index=False)
    t_pq, info = read_table(tmp_path / "d.parquet")
    assert info.format == "parquet"
    assert canonical_sha256(t_csv) == canonical_sha256(t_pq.replace_schema_metadata(None))


@pytest.mark.parametrize("content,delimiter", [
    (b"a\tb\n1\tx\n2\ty\n", "\t"),
    (b"a;b\n1;x\n2;y\n", ";"),
    (b"a|b\n1|x\n2|y\n", "|"),
])
def test_delimiter_is_sniffed(tmp_path, content, delimiter):
    table, info = read_table(write(tmp_path / "d.txt", content))
    assert info.delimiter == delimiter and table.column_names == ["a", "b"]


def test_encodings_utf8_bom_and_latin1(tmp_path):
    t, info = read_table(write(tmp_path / "bom.csv", b"\xef\xbb\xbfname,city\n1,K\xc3\xb6ln\n"))
    assert t.column_names == ["name", "city"] and t.column("city")[0].as_py() == "Köln"
    t, info = read_table(write(tmp_path / "lat.csv", b"name,city\n1,K\xf6ln\n2,S\xe3o Paulo\n"))
    assert info.encoding == "cp1252" and t.column("city").to_pylist() == ["Köln", "São Paulo"]


def test_latin1_beyond_the_sniffed_sample_is_still_read(tmp_path):
    body = b"a,b\n" + b"1,plain\n" * 20000 + b"2,caf\xe9\n"
    t, info = read_table(write(tmp_path / "late.csv", body))
    assert info.encoding == "cp1252" and t.column("b")[-1].as_py() == "café"


def test_headerless_numeric_file_gets_generated_names(tmp_path):
    t, info = read_table(write(tmp_path / "n.csv", b"1,2\n3,4\n"))
    assert t.column_names == ["column_1", "column_2"] and t.num_rows == 2


def test_quoted_fields_with_delimiters_and_newlines(tmp_path):
    t, _ = read_table(write(tmp_path / "q.csv", b'a,b\n1,"x, y"\n2,"line1\nline2"\n'))
    assert t.column("b").to_pylist() == ["x, y", "line1\nline2"]


def test_excel_import(store, tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    df.to_excel(tmp_path / "d.xlsx", index=False)
    row = datasets.import_dataset(store, tmp_path / "d.xlsx")
    assert (row["rows"], row["columns"], row["source_format"]) == (3, 2, "excel")


BAD_INPUTS = {
    "empty": (b"", "is empty"),
    "binary": (bytes(range(256)) * 4, "binary file"),
    "ragged": (b"a,b\n1,2\n3,4,5\n", "ragged rows: line 3 has 3 fields"),
    "duplicated": (b"a,b,a\n1,2,3\n", "column name 'a' is duplicated"),
    "empty_name": (b"a,,c\n1,2,3\n", "column 2 has an empty name"),
    "undecodable": (b"a,b\n1,x\x81y\n", "undecodable bytes on line 2"),
    "header_only": (b"a,b,c\n", "header but no data rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_by_cli_and_leaves_store_unchanged(case, tmp_path, store_dir, capsys):
    content, message = BAD_INPUTS[case]
    bad = write(tmp_path / f"{case}.csv", content)
    assert main(["--store", str(store_dir), "dataset", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert str(bad.name) in err
    assert "Traceback" not in err
    assert main(["--store", str(store_dir), "dataset", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    artifacts = store_dir / "artifacts"
    assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*"))


@pytest.mark.parametrize("target,message", [("missing", "no such file"), ("folder", "is a folder")])
def test_missing_path_and_folder_are_refused(target, message, tmp_path, store_dir, capsys):
    path = tmp_path / "nope.csv" if target == "missing" else tmp_path
    assert main(["--store", str(store_dir), "dataset", "import", str(path)]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("cancel_at", [1, 2, 3, 4])
def test_cancelled_import_writes_nothing(store, sample_csv, cancel_at):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) >= cancel_at
    with pytest.raises(Cancelled):
        datasets.import_dataset(store, sample_csv, cancelled=cancelled)
    assert datasets.list_datasets(store) == []
    # the process's claim file (artifacts.py) is all that stays, and only while it runs
    assert not any(p.is_file() for p in store.artifacts.root.rglob("*")
                   if ".claims" not in p.parts)


def test_analyst_needs_a_role_to_import(make_store, sample_csv):
    make_store("admin")
    with pytest.raises(LabliftError, match="not registered"):
        datasets.import_dataset(make_store("stranger"), sample_csv)


def test_profile_warnings(store, tmp_path):
    n = 100
    df = pd.DataFrame({"const": ["k"] * n, "mostly_missing": [1.0] + [None] * (n - 1),
                       "many": [f"cat{i % 80}" for i in range(n)], "v": [1] * n})
    df = pd.concat([df, df.iloc[:5]])
    df.to_csv(tmp_path / "w.csv", index=False)
    prof = datasets.import_dataset(store, tmp_path / "w.csv")["profile"]
    text = " | ".join(prof["warnings"])
    assert "const: constant column" in text
    missing_share = df["mostly_missing"].isna().mean()
    assert f"mostly_missing: {missing_share:.0%} of values missing" in text
    assert "many: high cardinality (80 categories)" in text
    assert prof["duplicated_rows"] >= 5


def test_cli_import_json_follows_design(tmp_path, store_dir, capsys, sample_csv):
    assert main(["--store", str(store_dir), "dataset", "import", str(sample_csv), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("id", "name", "version", "sha256", "rows", "columns"):
        assert key in doc
    assert main(["--store", str(store_dir), "dataset", "import", str(sample_csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == doc["id"]
    assert main(["--store", str(store_dir), "dataset", "show", "sample_loans", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["profile"]["rows"] == 2000 and len(shown["schema"]) == 12


def test_unknown_reference_names_known_datasets(store, sample_csv):
    datasets.import_dataset(store, sample_csv)
    with pytest.raises(LabliftError, match="'nope' not found.*sample_loans"):
        datasets.resolve(store, "nope")


def test_bad_dataset_name_is_refused(store, sample_csv):
    with pytest.raises(LabliftError, match="not allowed"):
        datasets.import_dataset(store, sample_csv, name="a:b")
