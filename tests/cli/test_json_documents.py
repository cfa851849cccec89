"""``--json`` as a contract for scripts, over every command that has it and its exit paths
(success, a user error, a failure): stdout holds exactly one JSON document (strict JSON, no
NaN), nothing the AssetFile prints or writes to descriptor 1, its ``ok`` agrees with the exit status, and an error is
``{"ok": false, "error": "..."}`` (build's adds ``"results": []``), with ``--json`` after the
command or before it."""

from __future__ import annotations

import json
import math

import pytest
from projects import cli, write

ASSETFILE = '''\
from assetbuild import DynamicPartitions, Output, asset, observable_source

print("AssetFile printed this")  # a script's stdout must not carry it
__import__("os").write(1, b"AssetFile wrote this below Python\\n")  # (a subprocess it starts, C code) nor this


@observable_source
def feed():
    print("feed printed this")
    return "v1"


@asset(io="json")
def a(feed):
    return Output(feed, metadata={"rows": 1})


@asset(io="json", partitions=DynamicPartitions("customers"))
def per_customer(context):
    return context.partition_key


@asset(io="json")
def bad():
    raise ValueError("bad fails")
'''

# (command line, exit status): --json is added after it, or before it
CASES = [
    (("build", "a"), 0),
    (("build", "bad"), 1),
    (("build", "nosuch"), 2),
    (("a",), 0),
    (("-n", "a"), 0),
    (("status",), 0),
    (("status", "nosuch"), 2),
    (("list",), 0),
    (("list", "nosuch"), 2),
    (("why", "a"), 0),
    (("why", "nosuch"), 2),
    (("show", "a"), 0),
    (("show", "a", "--meta"), 0),
    (("show", "feed"), 0),
    (("show", "bad"), 1),
    (("show", "nosuch"), 2),
    (("log", "a"), 0),
    (("log", "a", "--metric", "rows"), 0),
    (("log", "nosuch"), 2),
    (("runs",), 0),
    (("runs", "show", "1"), 0),
    (("runs", "show", "999"), 2),
    (("diff", "a", "--from", "0"), 0),
    (("diff", "nosuch"), 2),
    (("cache", "stats"), 0),
    (("cache", "gc"), 0),
    (("cache", "verify"), 0),
    (("cache", "export", "{tmp}/c.tar", "a"), 0),
    (("cache", "export", "{tmp}/c.tar", "nosuch"), 2),
    (("cache", "import", "{tmp}/c.tar"), 0),
    (("cache", "import", "{tmp}/missing.tar"), 2),
    (("cache", "keygen"), 0),
    (("observe",), 0),
    (("observe", "nosuch"), 2),
    (("ticks",), 0),
    (("accept", "a", "--yes"), 0),
    (("accept", "nosuch", "--yes"), 2),
    (("partitions", "list", "per_customer"), 0),
    (("partitions", "list", "nosuch"), 2),
    (("partitions", "add", "customers", "acme"), 0),
    (("partitions", "remove", "nosuch", "acme"), 2),
    (("run", "--once", "a"), 0),
    (("run", "--once", "nosuch"), 2),
    (("status", "--nope"), 2),
    (("log", "a", "-n", "0"), 2),
]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = write(tmp_path_factory.mktemp("json") / "proj", {"AssetFile": ASSETFILE})
    assert cli("build", cwd=root).returncode == 1  # (bad fails)
    assert cli("cache", "export", str(root.parent / "c.tar"), "a", cwd=root).returncode == 0
    return root


def _strict(text: str) -> object:
    """``json.loads`` that refuses NaN and the infinities (Python's own extension, not JSON)."""
    def refuse(word: str) -> float:
        raise ValueError(f"{word} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize(("args", "status"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_json_stdout_is_one_document_agreeing_with_the_exit_status(made, where, args, status):
    args = tuple(a.format(tmp=made.parent) for a in args)
    line = (*args, "--json") if where == "after" else ("--json", *args)
    r = cli(*line, cwd=made)
    assert r.returncode == status, (r.stdout, r.stderr)
    assert "printed this" not in r.stdout, r.stdout  # the AssetFile's and the observe function's prints
    assert "wrote this" not in r.stdout, r.stdout  # and what reached descriptor 1 from below Python
    text = r.stdout
    if args[0] == "run":  # a JSON line per tick: --once, one
        assert text.count("\n") == 1, text
    doc = _strict(text)  # exactly one document, nothing else
    assert not (isinstance(doc, float) and not math.isfinite(doc))
    if status == 2:
        shape = {"ok", "error", "results"} if args[0] in ("build", "a", "-n") else {"ok", "error"}
        assert isinstance(doc, dict) and set(doc) == shape and doc["ok"] is False, doc
        assert doc["error"] and doc["error"] in r.stderr, (doc, r.stderr)
        assert doc.get("results", []) == []
    elif isinstance(doc, dict) and "ok" in doc and args[:2] != ("runs", "show"):  # (a run's own ok)
        assert doc["ok"] is (status == 0), doc
    elif status != 0:
        assert isinstance(doc, dict) and doc.get("ok") is False, doc


@pytest.mark.parametrize("bad", [("-C", "afile"), ("--bogus",), ("-j", "0")], ids=["-C FILE", "--bogus", "-j 0"])
@pytest.mark.parametrize("command", [("status",), ("list",), ("why", "a"), ("log", "a"), ("runs", "show", "1"),
                                     ("cache", "stats"), ("build",), ("a",), ()], ids=" ".join)
def test_an_error_before_the_command_name_gets_that_commands_document(made, bad, command):
    """An option given before the command that the root refuses got build's document (with
    ``"results"``) whatever the command: the document is the one its command gives the same error
    after its name."""
    (made / "afile").write_text("x")
    before = cli(*bad, *command, "--json", cwd=made)
    assert before.returncode == 2 and before.stderr.startswith("assetbuild: error: "), before.stderr
    doc = _strict(before.stdout)
    builds = command in ((), ("build",), ("a",))
    assert isinstance(doc, dict) and set(doc) == ({"ok", "error", "results"} if builds else {"ok", "error"}), doc
    assert doc["ok"] is False and doc["error"] in before.stderr


def test_a_suggestion_for_an_unknown_option_before_the_command_is_of_that_commands_options(made):
    """``--bogus list`` suggested the root's --jobs, which list has not."""
    (made / "afile").write_text("x")
    for command in ("list", "status"):
        before, after = cli("--bogus", command, cwd=made), cli(command, "--bogus", cwd=made)
        assert before.stderr.split(" (see ")[0] == after.stderr.split(" (see ")[0], (before.stderr, after.stderr)
        assert "--jobs" not in before.stderr
    assert cli("-C", "afile", "init", "--json", cwd=made).stdout == ""  # (init has no --json: no document)


def test_a_value_piped_to_a_file_is_the_value_alone(made):
    """``show a > v.txt`` got what the AssetFile wrote to descriptor 1 while it loaded (a
    subprocess it starts) before the value; so did list, log, runs, graph... in text too."""
    r = cli("show", "a", cwd=made)
    assert (r.returncode, r.stdout) == (0, "v1\n"), r.stdout
    assert "wrote this below Python" in r.stderr
    for args in (("list",), ("graph",), ("log", "a"), ("runs",), ("partitions", "list", "per_customer")):
        r = cli(*args, cwd=made)
        assert r.returncode == 0 and "wrote this" not in r.stdout and "wrote this" in r.stderr, (args, r.stdout)
