"""Property-based scoring payloads against a real serve.py over HTTP (hypothesis).

For any JSON body in any of MLflow's four orientations, built from the bundle's own
schema.json (valid values, values of the wrong type, out-of-range and non-finite numbers,
unknown categories, missing and extra columns, nested values) or entirely arbitrary JSON,
serve.py answers 200 with one prediction per row, or 400 with a JSON message; never a 5xx,
never a dropped connection, and it goes on serving.
"""

from __future__ import annotations

import http.client
import json

import pytest
from bundle_helpers import build_world, request, start_server, stop_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 250


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("props"))
    schema = json.loads((world["bundle"] / "schema.json").read_text())
    proc, port = start_server(world["bundle"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    yield {"schema": schema, "conn": conn, "proc": proc, "port": port}
    conn.close()
    stop_server(proc)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
ANY_JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


def _cells(spec: dict) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """(values the schema accepts, values that may break it) for one input column."""
    good = []
    if spec.get("categories"):
        good.append(st.sampled_from(spec["categories"]))
    if spec.get("min") is not None and spec.get("max") is not None:
        good.append(st.floats(spec["min"], spec["max"]))
    if not good:
        good.append(st.integers(0, 100))
    hostile = st.one_of(
        st.none(), st.booleans(), st.text(max_size=12),
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
        st.sampled_from(["nan", "inf", "-inf", "1e308", "", " ", "=1+1", "NULL"]),
        st.lists(JSON_SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), JSON_SCALARS,
                                                            max_size=2))
    return st.one_of(*good), hostile


@st.composite
def payloads(draw, schema: dict):
    inputs = schema["inputs"]
    n = draw(st.integers(1, 5))
    rows = []
    for _ in range(n):
        row = {}
        for spec in inputs:
            if draw(st.integers(0, 19)) == 0:
                continue  # a missing column
            good, hostile = _cells(spec)
            # mostly good cells, so that whole rows often pass and get scored
            row[spec["name"]] = draw(hostile if draw(st.integers(0, 24)) == 0 else good)
        if draw(st.booleans()):
            row.update(draw(st.dictionaries(st.text(min_size=1, max_size=8), JSON_SCALARS,
                                            max_size=2)))
        rows.append(row)
    orient = draw(st.sampled_from(["dataframe_records", "dataframe_split", "instances",
                                   "inputs", "arbitrary"]))
    if orient == "arbitrary":
        return draw(ANY_JSON), None
    if orient == "dataframe_split":
        columns = sorted({k for r in rows for k in r})
        return {"dataframe_split": {"columns": columns,
                                    "data": [[r.get(c) for c in columns] for r in rows]}}, n
    if orient == "inputs" and draw(st.booleans()):
        columns = sorted({k for r in rows for k in r})
        return {"inputs": {c: [r.get(c) for r in rows] for c in columns}}, n
    return {orient: rows}, n


def test_any_payload_gets_predictions_or_a_json_400(server):
    schema, conn = server["schema"], server["conn"]
    seen = {200: 0, 400: 0}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(payloads(schema))
    def check(case):
        body, n = case
        # bytes as a client sends them (a bare JSON string body need not be Latin-1)
        status, headers, data = request(conn, "POST", "/invocations",
                                        json.dumps(body).encode("utf-8"))
        assert status in (200, 400), (status, data, body)
        assert isinstance(data, dict) and headers.get("Content-Type") == "application/json"
        if status == 200:
            assert n is not None and len(data["predictions"]) == n
        else:
            assert data["error_code"] == "BAD_REQUEST" and data["message"]
            assert "Traceback" not in data["message"]
        seen[status] += 1

    check()
    print(f"serve.py payload properties: {sum(seen.values())} examples, {seen}")
    # both outcomes were exercised, and the server is still serving
    assert seen[200] > 10 and seen[400] > 10, seen
    assert request(conn, "GET", "/ping")[0] == 200
    assert server["proc"].poll() is None
