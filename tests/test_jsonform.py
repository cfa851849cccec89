"""The JSON form of a stored value (``show --json``): bytes as ``{"__bytes__": base64}``; a part
with no JSON form is named in one line."""

from __future__ import annotations

import base64

import pytest

from assetbuild.errors import ValueNotFound
from assetbuild.jsonform import json_form


def test_bytes_and_tuples_have_a_form():
    value = {"raw": b"\x00\xff", "view": memoryview(b"ab"), "pair": (1, bytearray(b"c")), 2: None, "f": 1.5}
    assert json_form("a", value) == {"raw": {"__bytes__": base64.b64encode(b"\x00\xff").decode()},
                                     "view": {"__bytes__": "YWI="}, "pair": [1, {"__bytes__": "Yw=="}],
                                     2: None, "f": 1.5}
    shared = [1]
    assert json_form("a", [shared, shared]) == [[1], [1]], "a part seen twice is not a cycle"


@pytest.mark.parametrize("value,where", [
    ({"rows": [1, {2}]}, "value['rows'][1] is of type set"),
    ({(1, 2): "x"}, "a key of value, (1, 2), is of type tuple"),
    (object(), "value is of type object"),
    ({"when": __import__("datetime").date(2026, 1, 1)}, "value['when'] is of type datetime.date"),
    ({"loss": float("nan")}, "value['loss'] is nan, a float"),
    ([1.0, float("-inf")], "value[1] is -inf, a float"),
    (float("inf"), "value is inf, a float"),
])
def test_a_part_without_a_form_is_named(value, where):
    with pytest.raises(ValueNotFound, match="cannot be shown as JSON") as e:
        json_form("a", value)
    assert where in str(e.value)


def test_a_value_that_contains_itself_is_refused():
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(ValueNotFound, match=r"value\[1\] contains itself"):
        json_form("a", loop)


def test_json_text_is_strict_json():
    """--json documents of history (runs, log, log --metric, diff) wrote nan as NaN, which strict
    parsers (jq, JavaScript, Go) refuse."""
    import json

    from assetbuild.jsonform import json_text

    doc = {"points": [{"value": float("nan")}, {"value": 1.5}], "rows": ({"x": float("-inf")},), "n": 2}
    text = json_text(doc, sort_keys=True)

    def refuse(c):
        raise ValueError(c)

    assert json.loads(text, parse_constant=refuse) == {"points": [{"value": "nan"}, {"value": 1.5}],
                                                       "rows": [{"x": "-inf"}], "n": 2}
    assert json_text({"a": [1, 2.5]}) == json.dumps({"a": [1, 2.5]})  # the common document: as json writes it
