"""The ONNX batch path's own CSV reader (bundle_runtime/plain_csv.py) against the pandas path it
stands in for, on a real exported random forest: for every file it reads, the same feed
(bit for bit), rows and warnings as read_csv + frame_from_dataframe + onnx_scorer.feed; every
other file is left to pandas; and `serve.py predict` of a plain file runs with pandas blocked."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from bundle_helpers import BOOT, build_world
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lablift.bundle_runtime import plain_csv
from lablift.bundle_runtime.serve import InputError

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

NO_PANDAS_BOOT = BOOT.replace('("lablift", "pyarrow")',
                              '("lablift", "pyarrow", "pandas", "sklearn", "scipy")')


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from lablift.bundle_runtime.scoring import Scorer
    w = build_world(tmp_path_factory.mktemp("plain"), "random_forest", {"n_estimators": 10})
    w["scorer"] = Scorer(w["bundle"])
    assert w["scorer"].kind == "onnx"
    w["features"] = w["run"]["spec"]["features"]
    return w


def pandas_feed(scorer, data: bytes):
    """What the pandas path gives: (feed, rows, warnings), or the InputError it raises."""
    onnx_feed = scorer._fast.score.__globals__["feed"]  # the bundle's onnx_scorer.feed
    try:
        df = scorer.read_csv(io.BytesIO(data))
        frame, warnings = scorer.frame_from_dataframe(df)
    except InputError as exc:
        return exc
    return onnx_feed(scorer._fast.inputs, frame), len(frame), warnings


def assert_same_feed(got: dict, want: dict):
    assert list(got) == list(want)
    for name in want:
        a, b = got[name], want[name]
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if a.dtype == np.float64:
            nan = np.isnan(b)
            assert (np.isnan(a) == nan).all(), name
            # bit for bit where a number was read: -0.0 and 0.0 too
            assert (a[~nan].view(np.int64) == b[~nan].view(np.int64)).all(), name
        else:
            assert a.tolist() == b.tolist(), name


def test_the_missing_markers_are_pandas_own():
    from pandas._libs.parsers import STR_NA_VALUES
    assert plain_csv.NA_VALUES == STR_NA_VALUES


def test_an_exported_batch_reads_as_pandas_reads_it(world):
    frame = world["frame"][world["features"]].copy()
    frame.loc[::9, "purpose"] = None
    frame.loc[::13, "employment_years"] = None
    frame["comment"] = "extra"  # a column the model does not use: warned about
    data = frame.to_csv(index=False).encode()
    got = world["scorer"].feed_from_csv(data)
    want = pandas_feed(world["scorer"], data)
    assert_same_feed(got[0], want[0])
    assert got[1:] == want[1:] and got[1] == len(frame)
    assert got[2] == ["ignored column(s) the model does not use: 'comment'"]


PLAIN_NUMBER = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    # repr writes an exponent below 1e-4 (left to pandas): the numbers ops' files hold
    st.tuples(st.sampled_from([1, -1]), st.floats(1e-4, 1e9)).map(lambda t: repr(t[0] * t[1])),
    st.floats(0, 1000, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["-0", "+3", "007", "5.", ".5", "-.25", "-0.0", "0.30000000000000004",
                     "12345678901234567", "", "NA", "nan", "None", "n/a", "#N/A"]))
HOSTILE_NUMBER = st.sampled_from(["12345678901234567891", "1e5", " 7", "7 ", "1.2.3", "-",
                                  "+-1", "inf", "1_000", "\u0663", "0x10", "."])
PLAIN_BOOL = st.sampled_from(["True", "False", "true", "FALSE", "yes", "No", "Y", "n", "t",
                              "F", "1", "0", " 1", "", "NA", "null", "<NA>"])
HOSTILE_BOOL = st.sampled_from(["01", "1.0", "maybe", "+1"])
PLAIN_TEXT = st.one_of(st.sampled_from(["rent", "own", "mortgage", "car", "", "NA", "nan",
                                        "never-seen", " padded ", "007", "1.5", "TRUE",
                                        "=1+2"]),
                       st.text(st.characters(codec="utf-8", exclude_characters="\r\n,\"\x00"),
                               max_size=6))
HOSTILE_TEXT = st.sampled_from(['"quoted"', "a,b", "\r"])
CELLS = {"number": (PLAIN_NUMBER, HOSTILE_NUMBER), "integer": (PLAIN_NUMBER, HOSTILE_NUMBER),
         "bool": (PLAIN_BOOL, HOSTILE_BOOL), "string": (PLAIN_TEXT, HOSTILE_TEXT)}


@st.composite
def csv_files(draw, kinds: dict):
    names = list(kinds)
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    if draw(st.integers(0, 9)) == 7:
        names = names + ["extra"]
    # one file in four has hostile cells: most files must be read plain to compare anything
    hostile = draw(st.integers(0, 3)) == 2  # not 0: hypothesis favours the ends
    cell = {k: st.one_of(plain, bad) if hostile else plain for k, (plain, bad) in CELLS.items()}
    rows = draw(st.lists(st.tuples(*[cell[kinds.get(n, "string")] for n in names]),
                         min_size=1, max_size=12))
    # a column all of one shape now and then: where pandas infers int64, bool or all-missing
    for n in names:
        if draw(st.integers(0, 5)) == 0:
            value = draw(cell[kinds.get(n, "string")])
            i = names.index(n)
            rows = [r[:i] + (value,) + r[i + 1:] for r in rows]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(",".join(r) for r in [tuple(names), *rows])
    text += draw(st.sampled_from([end, ""]))
    data = text.encode()
    if draw(st.integers(0, 19)) == 7:
        data = b"\xef\xbb\xbf" + data
    return data


def _same_or_left_to_pandas(scorer, blob: bytes, event=lambda _: None) -> bool:
    """True when read plain (and then identical to the pandas path), False when left to it."""
    want = pandas_feed(scorer, blob)
    try:
        got = scorer.feed_from_csv(blob)
    except plain_csv.NotPlain as why:
        event(f"left to pandas: {why}")
        return False
    event("read plain")
    assert not isinstance(want, Exception), f"pandas refused what we read: {want}"
    assert_same_feed(got[0], want[0])
    assert got[1:] == want[1:]
    return True


def _kinds(scorer) -> dict:
    from lablift.bundle_runtime.inputs import column_type
    return {c["name"]: column_type(c) for c in scorer.inputs}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_file_it_reads_reads_as_the_pandas_path_reads_it(world, data):
    scorer = world["scorer"]
    _same_or_left_to_pandas(scorer, data.draw(csv_files(_kinds(scorer))), event)


def test_a_gap_in_every_column_reads_plain(world):
    kinds = _kinds(world["scorer"])
    one = {"number": "1", "integer": "2", "bool": "yes", "string": "x"}
    blob = "\n".join([",".join(kinds), ",".join("" for _ in kinds),
                       ",".join(one[k] for k in kinds.values())]) + "\n"
    assert _same_or_left_to_pandas(world["scorer"], blob.encode())


@pytest.mark.parametrize("blob, why", [
    (b'age,income\n"1",2\n', "quoted"),
    (b"\xef\xbb\xbfage,income\n1,2\n", "byte-order"),
    (b"age,income\n1,2\n\n3,4\n", "width"),
    (b"age,age\n1,2\n", "repeated"),
    (b"age,income\n1,2,3\n", "width"),
    (b"age,income\r1,2\r", "carriage"),
    (b"age,income\n", "no rows"),
    (b"\xff\xfe", "UTF-8"),
])
def test_files_only_pandas_reads_are_left_to_it(blob, why):
    with pytest.raises(plain_csv.NotPlain, match=why):
        plain_csv.split_columns(blob)


def test_cells_only_pandas_reads_are_left_to_it(world):
    scorer = world["scorer"]
    base = world["frame"][world["features"]].head(20).copy()
    for column, value, why in [("income", "1e5", "other characters"),
                               ("income", "1.2.3", "not a number"),
                               ("has_cosigner", "maybe", "true or false"),
                               ("employment_years", " 7", "other characters")]:
        frame = base.astype(object)
        frame.loc[3, column] = value
        with pytest.raises(plain_csv.NotPlain, match=why):
            scorer.feed_from_csv(frame.to_csv(index=False).encode())
    frame = base.copy()
    frame["has_cosigner"] = [1, 0] * 10
    frame = frame.astype(object)
    frame.loc[4, "has_cosigner"] = None  # pandas reads 1.0/0.0 here and refuses them
    blob = frame.to_csv(index=False).encode()
    with pytest.raises(plain_csv.NotPlain, match="0/1"):
        scorer.feed_from_csv(blob)
    assert isinstance(pandas_feed(scorer, blob), InputError)


def _predict(bundle, src, out, boot=BOOT, scorer=None, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "LABLIFT_SCORER"}
    if scorer:
        env["LABLIFT_SCORER"] = scorer
    return subprocess.run([sys.executable, "-I", "-c", boot, "serve.py", "predict", src,
                           "-o", str(out)], cwd=bundle, capture_output=True, env=env,
                          input=stdin, timeout=300)


def test_predict_of_a_plain_file_imports_no_pandas_and_writes_the_pickle_file(world,
                                                                              tmp_path):
    b = world["bundle"]
    frame = world["frame"][world["features"]].copy()
    frame.loc[::13, "employment_years"] = None
    frame.loc[::9, "purpose"] = None
    frame["has_cosigner"] = frame["has_cosigner"].map({True: "yes", False: "no"})
    src = tmp_path / "batch.csv"
    frame.to_csv(src, index=False, lineterminator="\r\n")
    fast, pickle_out, piped = tmp_path / "fast.csv", tmp_path / "pickle.csv", tmp_path / "p.csv"
    done = _predict(b, str(src), fast, boot=NO_PANDAS_BOOT)
    assert done.returncode == 0, done.stderr.decode()
    done = _predict(b, "-", piped, boot=NO_PANDAS_BOOT, stdin=src.read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    done = _predict(b, str(src), pickle_out, scorer="pickle")
    assert done.returncode == 0, done.stderr.decode()
    assert fast.read_bytes() == piped.read_bytes()
    with open(fast, newline="") as f:
        fast_rows = list(csv.DictReader(f))
    with open(pickle_out, newline="") as f:
        pickle_rows = list(csv.DictReader(f))
    assert [r["prediction"] for r in fast_rows] == [r["prediction"] for r in pickle_rows]
    assert len(fast_rows) == len(frame)
    assert max(abs(float(x[c]) - float(y[c])) for x, y in zip(fast_rows, pickle_rows)
               for c in x if c.startswith("proba_")) <= 1e-6


def test_a_file_only_pandas_reads_still_scores_through_pandas(world, tmp_path):
    b = world["bundle"]
    frame = world["frame"][world["features"]].head(50)
    src = tmp_path / "quoted.csv"
    frame.to_csv(src, index=False, quoting=csv.QUOTE_ALL)
    done = _predict(b, str(src), tmp_path / "no.csv", boot=NO_PANDAS_BOOT)
    assert done.returncode != 0 and b"pandas is not installed" in done.stderr
    done = _predict(b, str(src), tmp_path / "yes.csv")
    assert done.returncode == 0, done.stderr.decode()
    with open(tmp_path / "yes.csv", newline="") as f:
        got = [r["prediction"] for r in csv.DictReader(f)]
    assert got == [str(v) for v in world["pipeline"].predict(frame)]
