"""Selections on the real command line: NAME, glob, group:NAME, +NAME, NAME+, +NAME+ and
--exclude in build, -n, status, list, graph, log, why and cache export; build --only, --force
and --force-upstream."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from projects import cli, write

ASSETFILE = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")
N = 1


@asset(io="json", group="ingest")
def a(raw):
    return len(open(raw).read()) + N


@asset(io="json", group="ingest")
def b(a):
    return a + 1


@asset(io="json")
def c(b):
    return b * 2


@asset(io="json")
def d(a):
    return a * 10


@asset(io="json")
def e():
    return "alone"
"""


@pytest.fixture
def proj(tmp_path):
    root = write(tmp_path, {"AssetFile": ASSETFILE, "raw.txt": "xyz"})
    r = cli("build", "-q", cwd=root)
    assert r.returncode == 0, r.stderr
    return root


def ran(root: Path, *args: str) -> dict[str, str]:
    """asset -> status of a build --json (a dry run: "would run" as "run")."""
    r = cli("build", "--json", *args, cwd=root)
    assert r.returncode == 0, r.stderr
    out = {}
    for res in json.loads(r.stdout)["results"]:
        out[res["asset"]] = "run" if res.get("would") == "run" else res["status"]
    return out


def edit_n(root: Path, value: int) -> None:
    p = root / "AssetFile"
    p.write_text(p.read_text().replace("N = 1\n", f"N = {value}\n"))


def test_build_selects_with_every_form(proj):
    assert set(ran(proj, "c")) == {"a", "b", "c"}  # what c needs
    assert set(ran(proj, "group:ingest")) == {"a", "b"}
    assert set(ran(proj, "[cd]")) == {"a", "b", "c", "d"}
    assert set(ran(proj, "+b")) == {"a", "b"}
    assert set(ran(proj, "b+")) == {"a", "b", "c"}  # b, what depends on it, and what they need
    assert set(ran(proj, "+b+")) == {"a", "b", "c"}
    assert set(ran(proj, "raw+")) == {"a", "b", "c", "d"}  # a source's readers
    assert set(ran(proj, "a+", "--exclude", "b+")) == {"a", "d"}
    assert set(ran(proj, "--exclude", "group:ingest", "--exclude", "e")) == {"a", "b", "c", "d"}  # c, d need a, b


def test_build_x_plus_builds_x_and_its_dependents(proj):
    edit_n(proj, 2)  # a changes, so everything reading it does
    assert ran(proj, "-n", "b+") == {"a": "run", "b": "skipped", "c": "skipped"}  # b, c: may run
    assert ran(proj, "b+") == {"a": "built", "b": "built", "c": "built"}
    assert ran(proj, "d") == {"a": "cached", "d": "built"}


def test_force_forces_the_selected_only_and_force_upstream_what_they_need(proj):
    assert ran(proj, "-n", "--force", "c") == {"a": "cached", "b": "cached", "c": "run"}
    assert ran(proj, "--force", "c") == {"a": "cached", "b": "cached", "c": "built"}
    assert ran(proj, "-n", "--force-upstream", "c") == {"a": "run", "b": "run", "c": "run"}
    assert ran(proj, "--force-upstream", "c") == {"a": "built", "b": "built", "c": "built"}
    # the case: -n --force on a chain said "1 of 3 would run" where the build ran 3
    assert ran(proj, "-n", "--force", "+c") == {"a": "run", "b": "run", "c": "run"}
    assert ran(proj, "--force", "+c") == {"a": "built", "b": "built", "c": "built"}
    # forced a remakes the same value: b (not forced) is cached, and -n says so
    assert ran(proj, "-n", "--force", "a", "c") == {"a": "run", "b": "cached", "c": "run"}
    assert ran(proj, "--force", "a", "c") == {"a": "built", "b": "cached", "c": "built"}
    r = cli("build", "-n", "--force", "+c", cwd=proj)
    assert "3 of 3 assets would run" in r.stdout


def test_only_runs_the_selected_against_stored_inputs(proj):
    edit_n(proj, 5)  # a is stale now: --only c must not rebuild it
    edit = proj / "AssetFile"
    edit.write_text(edit.read_text().replace("return b * 2", "return b * 3"))
    r = cli("build", "--only", "c", "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "--only" in r.stderr and "stored values" in r.stderr  # it says so
    results = {x["asset"]: x["status"] for x in json.loads(r.stdout)["results"]}
    assert results == {"c": "built"}
    assert json.loads(cli("show", "c", "--json", cwd=proj).stdout) == (3 + 1 + 1) * 3  # a, b as stored
    rows = {x["asset"]: x["state"] for x in json.loads(cli("status", "--json", cwd=proj).stdout)["assets"]}
    assert rows["a"] == "stale" and rows["c"] == "stale"  # a full build reconciles
    assert ran(proj, "c") == {"a": "built", "b": "built", "c": "built"}
    assert json.loads(cli("show", "c", "--json", cwd=proj).stdout) == (3 + 5 + 1) * 3
    log = json.loads(cli("log", "c", "--json", cwd=proj).stdout)
    assert [e["kind"] for e in log["events"]][:2] == ["materialized", "materialized"]  # recorded as usual


def test_only_with_an_input_never_built_does_not_run_its_reader(tmp_path):
    root = write(tmp_path, {"AssetFile": ASSETFILE, "raw.txt": "xyz"})
    r = cli("build", "--only", "b", "--json", cwd=root)
    res = json.loads(r.stdout)["results"]
    assert [(x["asset"], x["status"]) for x in res] == [("b", "skipped")]
    assert "upstream 'a' has never been built" in res[0]["error"]  # not "did not build": nothing tried
    assert r.returncode == 1
    # -n predicts it, exit status included; the build says why it exits 1 without -v (no FAILED line does)
    r = cli("build", "-n", "--only", "b", cwd=root)
    assert r.returncode == 1 and "would skip    b  (upstream 'a' has never been built" in r.stdout, r.stdout
    r = cli("build", "--only", "b", cwd=root)
    assert r.returncode == 1 and "skipped   b: not run: upstream 'a' has never been built" in r.stdout, r.stdout


ONLY_FILES = """\
from pathlib import Path
from assetbuild import asset


@asset(outputs=["out/a.txt"])
def gen(context):
    context.out("out/a.txt").write_text("A")


@asset(path="p.json", io="json")
def page():
    return "P"


@asset(io="json")
def reader(gen, page):
    a, p = Path("out/a.txt"), Path("p.json")
    return [a.read_text() if a.exists() else None, p.read_text() if p.exists() else None, page]
"""


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_only_puts_back_the_files_of_an_input_before_its_reader_reads_them(tmp_path, change):
    """``--only reader`` with an input's ``outputs=`` file and path output edited or deleted by
    hand: they are put back from the cache first (reported ``restored``; ``-n`` says so), as
    for any reused value. The reader read the edit (or nothing) under the stored version's key,
    and the full build that then put the files back kept that result: stale, and fresh to
    ``status``."""
    root = write(tmp_path, {"AssetFile": ONLY_FILES})
    assert cli("build", cwd=root).returncode == 0
    for rel in ("out/a.txt", "p.json"):
        if change == "edit":
            (root / rel).write_text("EDITED")
        else:
            (root / rel).unlink()
    r = cli("build", "-n", "--only", "--force", "reader", cwd=root)
    assert r.returncode == 0 and "would restore gen  (output-" in r.stdout and "would restore page  (output-" in r.stdout, \
        r.stdout + r.stderr
    assert (root / "p.json").exists() == (change == "edit")  # -n writes nothing
    r = cli("build", "--only", "--force", "reader", "--json", cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [(x["asset"], x["status"]) for x in json.loads(r.stdout)["results"]] == [
        ("gen", "restored"), ("page", "restored"), ("reader", "built")]
    assert json.loads(cli("show", "reader", "--json", cwd=root).stdout) == ["A", '"P"', "P"]
    assert (root / "out/a.txt").read_text() == "A" and (root / "p.json").read_text() == '"P"'
    r = cli("build", "--json", cwd=root)
    assert {x["status"] for x in json.loads(r.stdout)["results"]} == {"cached"}


def test_status_list_graph_and_export_take_selections(proj, tmp_path):
    edit_n(proj, 3)
    rows = json.loads(cli("status", "--json", "+b", "--exclude", "a", cwd=proj).stdout)["assets"]
    assert [x["asset"] for x in rows] == ["b"]  # a selection shows what it selects (a is decided, not shown)
    r = cli("status", "--check", "e", cwd=proj)
    assert r.returncode == 0
    r = cli("status", "--check", "d+", cwd=proj)
    assert r.returncode == 1
    names = [x["name"] for x in json.loads(cli("list", "--json", "a+", "--exclude", "c", cwd=proj).stdout)["assets"]]
    assert names == ["raw", "a", "b", "d"]
    dot = cli("graph", "--format", "json", "+c", cwd=proj)
    assert dot.returncode == 0, dot.stderr
    assert {x["name"] for x in json.loads(dot.stdout)["nodes"]} == {"raw", "a", "b", "c"}
    r = cli("cache", "export", str(tmp_path / "x.tar"), "group:ingest", "--exclude", "b", "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"] == 1


def test_why_and_log_take_exclude_as_every_selecting_command_does(proj):
    """why had no --exclude, log refused only exclusions (Missing argument), and an empty
    selection printed a blank line, exit 0, saying nothing."""
    info = json.loads(cli("why", "[ab]", "--exclude", "b", "--json", cwd=proj).stdout)
    assert [x["asset"] for x in info] == ["a"]
    for command in ("why", "log"):
        r = cli(command, "--exclude", "a", "--exclude", "e", "--json", cwd=proj)  # all but those, as status
        assert r.returncode == 0, r.stderr
        assert [x["asset"] for x in json.loads(r.stdout)] == ["b", "c", "d"]
        r = cli(command, "c", "--exclude", "c", cwd=proj)
        assert (r.returncode, r.stdout) == (0, "")
        assert r.stderr == "assetbuild: nothing selected: --exclude leaves out everything the selection names\n"
        r = cli(command, cwd=proj)
        assert r.returncode == 2 and r.stderr.startswith("assetbuild: error: Missing argument 'ASSET'.")
    for command in ("status", "list"):
        r = cli(command, "c", "--exclude", "c", cwd=proj)
        assert (r.returncode, r.stdout) == (0, "") and "nothing selected" in r.stderr
    assert json.loads(cli("log", "c", "--exclude", "c", "--json", cwd=proj).stdout) == []


def test_a_partition_given_twice_is_one_usage_error(tmp_path):
    root = write(tmp_path, {"AssetFile": "from assetbuild import asset, StaticPartitions\n\n"
                            "@asset(io='json', partitions=StaticPartitions(['eu', 'us']))\n"
                            "def pa(context):\n    return 1\n"})
    for command in ("why", "log", "show"):
        r = cli(command, "pa[eu]", "--partition", "us", cwd=root)
        assert (r.returncode, r.stdout) == (2, ""), r.stderr
        assert r.stderr == ("assetbuild: error: 'pa[eu]' names a partition already, and --partition 'us' another: "
                            "give the partition once, as pa[KEY] or --partition KEY\n")


def test_why_and_log_on_a_glob_or_group_explain_each_match(proj):
    edit_n(proj, 4)
    r = cli("why", "group:ingest", "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [x["asset"] for x in info] == ["a", "b"] and info[0]["state"] == "stale"
    r = cli("why", "[ab]", cwd=proj)
    assert r.returncode == 0 and r.stdout.startswith("a: stale") and "\n\nb: stale" in r.stdout
    assert isinstance(json.loads(cli("why", "a", "--json", cwd=proj).stdout), dict)  # a name: one
    log = json.loads(cli("log", "b+", "--json", cwd=proj).stdout)
    assert [x["asset"] for x in log] == ["b", "c"] and all(x["events"] for x in log)
    r = cli("log", "group:ingest", cwd=proj)
    assert r.returncode == 0 and r.stdout.startswith("a:\n") and "\n\nb:\n" in r.stdout


@pytest.mark.parametrize("args, message", [
    (("build", "zz+"), "no asset named 'zz'"),
    (("build", "+"), "names nothing"),
    (("build", "a", "--exclude", "nope"), "no asset named 'nope'"),
    (("status", "raw"), "is a source"),
    (("why", "q/*"), "no asset matches"),
])
def test_selection_errors_are_one_line_and_exit_2(proj, args, message):
    r = cli(*args, cwd=proj)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


UNICODE = """\
from assetbuild import asset, source

wörter = source("wörter", "wörter.txt")


@asset(io="json")
def größe(wörter):
    return len(wörter.read_text())


@asset(io="json", path="build/größe.json", group="maße")
def doppelte_größe(größe):
    return 2 * größe


@asset(io="json", ins={"alle": "*größe"})
def summe(alle):
    return sum(alle.values())
"""


def test_a_non_ascii_identifier_names_an_asset_end_to_end(tmp_path):
    """`def größe()` is a Python identifier: an asset of that name builds, and every command
    takes and prints its name (status, show, why, --json, selections, a path= output)."""
    root = write(tmp_path, {"AssetFile": UNICODE, "wörter.txt": "hallo\n"})
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert "built     größe" in r.stdout and "3 built" in r.stdout
    assert json.loads((root / "build" / "größe.json").read_text()) == 12
    assert cli("status", cwd=root).stdout.split() == ["fresh", "größe", "fresh", "doppelte_größe", "fresh", "summe"]
    assert cli("show", "größe", cwd=root).stdout == "6\n"
    assert json.loads(cli("status", "--json", "größe", cwd=root).stdout)["assets"] == [
        {"asset": "größe", "state": "fresh", "reasons": []}]
    (root / "wörter.txt").write_text("hallo welt\n")
    assert cli("why", "größe", cwd=root).stdout.startswith("größe: stale")
    assert set(ran(root, "größe+", "-n")) == {"größe", "doppelte_größe", "summe"}
    assert ran(root, "group:maße", "--exclude", "summe") == {"größe": "built", "doppelte_größe": "built"}
    assert ran(root, "*_größe", "--force") == {"größe": "cached", "doppelte_größe": "built"}
    results = json.loads(cli("build", "--json", "größe", cwd=root).stdout)["results"]
    assert [(x["asset"], x["status"]) for x in results] == [("größe", "cached")]


def test_a_name_typed_in_another_unicode_form_names_the_asset(tmp_path):
    """A name typed or pasted in NFD (macOS's form: ``größe`` as o + U+0308) is the asset declared
    ``größe``, in every command, as Python makes both one identifier; a ``name=`` given in NFD
    too. It was "no asset named 'größe' (did you mean 'größe'?)", exit 2. A partition key is
    data, taken as typed: one in another form is said to differ only in that."""
    nfd = unicodedata.normalize("NFD", "größe")
    assert nfd != "größe"
    text = UNICODE + f'''

@asset(io="json", name="{unicodedata.normalize("NFD", "café")}")
def c(größe):
    return größe


@asset(io="json")
def r(café):
    return café + 1


@asset(io="json", partitions=__import__("assetbuild").StaticPartitions(["größe", "b"]))
def p(context):
    return context.partition_key
'''
    root = write(tmp_path, {"AssetFile": text, "wörter.txt": "hallo\n"})
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert cli("show", nfd, cwd=root).stdout == "6\n"
    assert cli("show", unicodedata.normalize("NFD", "café"), cwd=root).stdout == "6\n"
    assert cli("why", nfd, cwd=root).stdout.startswith("größe: fresh")
    assert json.loads(cli("log", "--json", nfd, cwd=root).stdout)["asset"] == "größe"
    assert ran(root, f"{nfd}+", "--exclude", "summe", "--exclude", f"doppelte_{nfd}") == {
        "größe": "cached", "café": "cached", "r": "cached"}
    assert cli("status", nfd, cwd=root).stdout.split() == ["fresh", "größe"]
    assert cli("show", "p[größe]", cwd=root).stdout == "größe\n"
    r = cli("show", f"p[{nfd}]", cwd=root)
    assert r.returncode == 2 and r.stderr.strip().endswith(
        f"no partition '{nfd}'; 'größe' differs from it only in its Unicode normalization"), r.stderr
