"""``show --json``: bytes have a JSON form (``{"__bytes__": base64}``); a value that has none is
refused with one line naming the part that cannot be shown."""

from __future__ import annotations

import base64
import json

import pytest
from projects import cli, write

ASSETFILE = '''\
from assetbuild import asset


@asset
def blob():
    return b"\\x00\\xffraw"


@asset
def mixed():
    return {"payload": b"\\x89PNG", "rows": [1, (2, bytearray(b"ab"))], "name": "x"}


@asset
def odd():
    return {"rows": [1, {2, 3}]}
'''


def test_show_json_gives_bytes_a_form(tmp_path):
    root = write(tmp_path / "proj", {"AssetFile": ASSETFILE})
    assert cli("build", cwd=root).returncode == 0
    r = cli("show", "blob", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    assert base64.b64decode(json.loads(r.stdout)["__bytes__"]) == b"\x00\xffraw"
    r = cli("show", "mixed", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"payload": {"__bytes__": base64.b64encode(b"\x89PNG").decode()},
                                    "rows": [1, [2, {"__bytes__": "YWI="}]], "name": "x"}


def test_show_json_names_the_part_without_a_json_form(tmp_path):
    root = write(tmp_path / "proj", {"AssetFile": ASSETFILE})
    assert cli("build", cwd=root).returncode == 0
    r = cli("show", "odd", "--json", cwd=root)
    assert r.returncode != 0
    assert "value['rows'][1] is of type set" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["ok"] is False  # a --json consumer still gets one document


def test_show_json_of_an_observation_gives_non_finite_metadata_as_log_does(tmp_path):
    """An observe function's float metadata may be nan or infinite: show --json refused the whole
    observation (exit 2); it gives those numbers as strings, as log --json and show --meta do."""
    root = write(tmp_path / "proj", {"AssetFile": '''\
from assetbuild import Observation, observable_source


@observable_source
def feed():
    return Observation("v1", metadata={"lag": float("nan"), "rows": 3, "deep": {"max": float("-inf")}})
'''})
    assert cli("observe", cwd=root).returncode == 0
    r = cli("show", "feed", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))
    assert (doc["source"], doc["version"]) == ("feed", "v1")
    assert doc["metadata"] == {"lag": "nan", "rows": 3, "deep": {"max": "-inf"}}
    log = json.loads(cli("log", "feed", "--json", cwd=root).stdout)
    assert log["events"][0]["metadata"]["lag"] == {"type": "float", "value": "nan"}


def test_show_prints_a_dict_in_its_order(tmp_path):
    """``show`` (pprint sorted dicts) and ``show --json`` (sorted keys) printed a ranking in
    alphabetical order, whatever the value's: a reader gets it in its order (io="json" too)."""
    root = write(tmp_path / "proj", {"AssetFile": '''\
from assetbuild import asset


@asset(io="json")
def report():
    return {"customers": {"Edsger": 640.0, "Ada": 120.0}, "orders": 2}
'''})
    assert cli(cwd=root).returncode == 0
    assert cli("show", "report", cwd=root).stdout == "{'customers': {'Edsger': 640.0, 'Ada': 120.0}, 'orders': 2}\n"
    shown = cli("show", "report", "--json", cwd=root).stdout
    assert shown.index('"customers"') < shown.index('"orders"') and shown.index('"Edsger"') < shown.index('"Ada"')
