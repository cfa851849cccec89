"""Older values: ``show --version N`` / ``--key``, ``load_value(version=, key=)``, ``diff``, the
warning when a shown value is not fresh, and ``log --metric``. Real builds with the real command;
time by ASSETBUILD_NOW."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

import assetbuild
from assetbuild.errors import SelectionError, ValueNotFound, VersionGone, VersionTrimmed

ASSETFILE = '''
note_src = source("note_src", "note.txt")
n_src = source("n_src", "n.txt")


@asset(io="text")
def note(note_src):
    return note_src.read_text()


@asset(io="json")
def rows(n_src):
    n = int(n_src.read_text())
    return Output([{"id": i, "square": i * i} for i in range(n)], metadata={"rows": n, "label": "x"})


@asset(io="bytes")
def blob(note_src):
    return note_src.read_bytes() * 2
'''

def run(proj: Project, *args: str, day: int = 1):
    return cli(*args, cwd=proj.root, env=clean_env(ASSETBUILD_NOW=f"2024-03-0{day}T09:00:00Z"))


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    """Three builds: note 'one' -> 'two' -> 'three', rows of 2 -> 3 -> 3."""
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    for day, (text, n) in enumerate((("one\n", 2), ("two\n", 3), ("three\n", 3)), start=1):
        p.write("note.txt", text)
        p.write("n.txt", str(n))
        assert run(p, day=day).returncode == 0
    return p


def test_show_an_older_version_by_place_or_key(proj: Project) -> None:
    assert run(proj, "show", "note").stdout.rstrip("\n") == "three"
    assert run(proj, "show", "note", "--version", "0").stdout.rstrip("\n") == "three"
    assert run(proj, "show", "note", "--version", "2").stdout.rstrip("\n") == "one"
    key = json.loads(run(proj, "log", "note", "--json").stdout)["events"][1]["key"]  # the second build's
    assert run(proj, "show", "note", "--key", key[:10]).stdout.rstrip("\n") == "two"
    assert assetbuild.load_value("note", project_dir=proj.root, version=1) == "two\n"
    assert assetbuild.load_value("note", project_dir=proj.root, key=key) == "two\n"
    r = run(proj, "show", "note", "--key", "abc")
    assert r.returncode == 2 and "(assetbuild log note --json lists its keys; give 8 characters or more)" in r.stderr
    assert key[:12] not in run(proj, "log", "note").stdout  # (the table shows data versions, not keys)
    assert "`assetbuild log ASSET --json` lists keys" in " ".join(run(proj, "show", "--help").stdout.split())
    r = run(proj, "show", "note", "--key", key[:10], "--version", "0")  # (the key won, silently)
    assert (r.returncode, r.stdout) == (2, "") and r.stderr == (
        "assetbuild: error: name one older version: a version (--version N) or a key (--key KEY), not both\n")


def test_a_version_never_recorded_is_a_usage_error(proj: Project) -> None:
    """Exit 2, one line naming it; exit 1 is for a version that was, and that cache gc dropped."""
    for args in (("show", "note", "--version", "3"), ("diff", "note", "--from", "3")):
        r = run(proj, *args)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == ("assetbuild: error: asset 'note' has 3 recorded version(s) (0 to 2); "
                            "there is no version 3\n")
    r = run(proj, "show", "note", "--key", "0123456789ab")
    assert r.returncode == 2 and r.stderr.startswith("assetbuild: error: no version of 'note' has the key")
    with pytest.raises(ValueNotFound) as e:
        assetbuild.load_value("note", project_dir=proj.root, version=3)
    assert not isinstance(e.value, VersionGone)


def test_a_version_gc_dropped_says_so(proj: Project) -> None:
    r = run(proj, "cache", "gc", "--max-size", "0")  # every entry no asset's latest build uses
    assert r.returncode == 0, r.stderr
    r = run(proj, "show", "note", "--version", "1")
    assert r.returncode == 1 and "no longer in the cache: cache gc dropped it" in r.stderr
    assert "Traceback" not in r.stderr
    with pytest.raises(VersionGone):
        assetbuild.load_value("note", project_dir=proj.root, version=2)
    assert run(proj, "show", "note").stdout.rstrip("\n") == "three"  # the current one is always kept


def test_a_version_its_io_manager_cannot_load_any_more_is_one_line(tmp_path: Path) -> None:
    """Older values whose class a project module no longer has: load_value(version=, key=),
    diff and ``show --version`` raised the unpickler's raw AttributeError (a traceback from the
    command), where the current value's load says VersionGone in one line."""
    p = Project(tmp_path)
    p.write("lib/__init__.py", "")
    p.write("lib/models.py", "from dataclasses import dataclass\n\n@dataclass\nclass Row:\n    x: int\n")
    af = "from lib.models import Row\n\n@asset\ndef b():\n    return Row(N)\n\nN = 1\n"
    p.assetfile(af)
    p.build()
    p.assetfile(af.replace("N = 1", "N = 2"))
    p.build()
    p.write("lib/models.py", "X = 1\n")
    p.assetfile("@asset\ndef b():\n    return 1\n")
    for call in (lambda: assetbuild.load_value("b", project_dir=p.root, version=0),
                 lambda: assetbuild.load_value("b", project_dir=p.root, version=1),
                 lambda: assetbuild.diff("b", project_dir=p.root)):
        with pytest.raises(VersionGone, match=r"of 'b' cannot be loaded by its IO manager 'pickle': AttributeError"):
            call()
    r = cli("show", "b", "--version", "1", cwd=p.root)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "version 1 of 'b' cannot be loaded by its IO manager 'pickle'" in r.stderr


TRIMMED = ("version {n} of 'note' is no longer recorded: cache gc trimmed it from the history, which keeps the "
           "newest events of each asset ([tool.assetbuild] history); 'note' has 1 recorded version(s) (0 to 0)")


def test_a_version_gc_trimmed_from_the_history_says_so(proj: Project) -> None:
    """Its events trimmed and its entry dropped, nothing lists version 1 or 2 any more: they
    were recorded, so they say so (exit 1, like a dropped one), unlike version 3 (exit 2)."""
    proj.write("pyproject.toml", "[tool.assetbuild]\nhistory = 1\n")
    dry = json.loads(run(proj, "cache", "gc", "-n", "--max-size", "0", "--json").stdout)
    assert dry["versions_trimmed"] == 5  # note's 1 and 2, blob's 1 and 2, rows' 1
    r = run(proj, "show", "note", "--version", "1")
    assert r.returncode == 0 and r.stdout.rstrip("\n") == "two"  # a dry run trims nothing
    r = run(proj, "cache", "gc", "--max-size", "0")
    assert r.returncode == 0, r.stderr
    assert "the last records of 5 older version(s) (show/diff --version: trimmed)" in r.stdout
    for n in (1, 2):
        for args in (("show", "note", "--version", str(n)), ("diff", "note", "--from", str(n))):
            r = run(proj, *args)
            assert (r.returncode, r.stdout, r.stderr) == (1, "", f"assetbuild: error: {TRIMMED.format(n=n)}\n")
            r = run(proj, *args, "--json")
            assert r.returncode == 1 and json.loads(r.stdout) == {"ok": False, "error": TRIMMED.format(n=n)}
    r = run(proj, "show", "note", "--version", "3")
    assert (r.returncode, r.stderr) == (2, "assetbuild: error: asset 'note' has 1 recorded version(s) (0 to 0) and "
                                           "2 older one(s) trimmed by cache gc (1 to 2); there is no version 3\n")
    r = run(proj, "show", "note", "--key", "0123456789ab")
    assert r.returncode == 2 and r.stderr.endswith("; 2 older one(s) trimmed by cache gc, whose keys are no longer "
                                                   "known\n")
    with pytest.raises(VersionTrimmed):
        assetbuild.load_value("note", project_dir=proj.root, version=2)
    with pytest.raises(SelectionError):
        assetbuild.load_value("note", project_dir=proj.root, key="0123456789ab")
    assert "trimmed" not in run(proj, "cache", "gc").stdout  # counted once: nothing more trimmed
    # a new build shifts the numbers: the trimmed ones are now 2 and 3
    proj.write("note.txt", "four\n")
    assert run(proj, day=4).returncode == 0
    assert run(proj, "show", "note", "--version", "1").stdout.rstrip("\n") == "three"
    assert run(proj, "show", "note", "--version", "3").returncode == 1
    assert run(proj, "show", "note", "--version", "4").returncode == 2


def test_events_trimmed_while_entries_are_kept_lose_no_version(proj: Project) -> None:
    """gc trims the events of versions 1 and 2, but keeps their entries (and the history rows
    that list them): their values still load. A later gc that drops the entries takes their
    last records: then, and only then, they are trimmed."""
    proj.write("pyproject.toml", "[tool.assetbuild]\nhistory = 1\n")
    r = run(proj, "cache", "gc", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["events_dropped"] == 5  # note 2, blob 2, rows 1
    assert json.loads(r.stdout)["versions_trimmed"] == 0
    assert run(proj, "show", "note", "--version", "2").stdout.rstrip("\n") == "one"
    r = run(proj, "cache", "gc", "--max-size", "0", "--json")
    assert json.loads(r.stdout)["events_dropped"] == 0 and json.loads(r.stdout)["versions_trimmed"] == 5
    r = run(proj, "show", "note", "--version", "2")
    assert (r.returncode, r.stderr) == (1, f"assetbuild: error: {TRIMMED.format(n=2)}\n")


def test_diff_of_a_dict_whose_order_changed(tmp_path: Path) -> None:
    """io="json" keeps a dict's order, and a reader sees it: two versions in another order are
    two values. diff compared them with sorted keys and said they were the same."""
    p = Project(tmp_path)
    p.assetfile('''
        import os


        @asset(io="json", env=["ORDER"])
        def ranked():
            scores = {"Ada": 1, "Edsger": 3}
            return dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=os.environ["ORDER"] == "desc"))
        ''')
    for order in ("asc", "desc"):
        assert cli(cwd=p.root, env=clean_env(ORDER=order)).returncode == 0
    d = json.loads(cli("diff", "ranked", "--json", cwd=p.root, env=clean_env(ORDER="desc")).stdout)
    assert d["kind"] == "text" and d["lines"][3:] == [
        " {", "-  \"Ada\": 1,", "-  \"Edsger\": 3", "+  \"Edsger\": 3,", "+  \"Ada\": 1", " }"], d


def test_diff_text_tables_and_bytes(proj: Project) -> None:
    text = json.loads(run(proj, "diff", "note", "--json").stdout)
    assert text["kind"] == "text" and text["from"]["version"] == 1 and text["to"]["version"] == 0
    assert "-two" in text["lines"] and "+three" in text["lines"]
    assert text["from"]["built"] == "2024-03-02T09:00:00Z" and text["to"]["built"] == "2024-03-03T09:00:00Z"
    # rows: n.txt went 2 -> 3 -> 3, so it has two versions (the third build was cached)
    table = json.loads(run(proj, "diff", "rows", "--json").stdout)
    assert table["kind"] == "table" and table["removed"] == [] and table["added"] == [{"id": 2, "square": 4}]
    assert json.loads(run(proj, "diff", "note", "--from", "0", "--json").stdout)["kind"] == "same"
    blob = json.loads(run(proj, "diff", "blob", "--json").stdout)
    assert blob["kind"] == "bytes" and blob["from"]["size"] == 8 and blob["to"]["size"] == 12
    assert (blob["from"]["version"], blob["to"]["version"]) == (1, 0)  # the sides still say which versions
    assert blob["to"]["built"] == "2024-03-03T09:00:00Z" and len(blob["to"]["sha256"]) == 64
    r = run(proj, "diff", "blob")  # the text form of a bytes diff was a KeyError traceback
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.splitlines()[0].startswith("blob: version 1 (")
    assert r.stdout.splitlines()[1].startswith("bytes differ: 8 -> 12 bytes, sha256 ")
    shown = run(proj, "diff", "rows").stdout
    assert "0 row(s) removed, 1 added" in shown and '+ {"id": 2, "square": 4}' in shown
    assert run(proj, "diff", "note").stdout.splitlines()[-2:] == ["-two", "+three"]
    r = run(proj, "diff", "nope")
    assert r.returncode == 2 and "no asset named 'nope'" in r.stderr


def test_after_a_revert_the_value_back_is_the_version_before_the_next(proj: Project) -> None:
    """A build that goes back to a stored value (the note reverted to 'one') makes it the latest
    again, and records that: the next build's diff compares with it, not with 'three'."""
    proj.write("note.txt", "one\n")
    r = run(proj, "-v", day=4)
    assert r.returncode == 0 and "restored  note  (stored-before" in r.stdout, r.stdout
    assert run(proj, "show", "note").stdout.rstrip("\n") == "one"
    proj.write("note.txt", "four\n")
    assert run(proj, day=5).returncode == 0
    assert run(proj, "diff", "note").stdout.splitlines()[-2:] == ["-one", "+four"]
    events = json.loads(run(proj, "log", "note", "--json").stdout)["events"]
    assert [e["kind"] for e in events[:2]] == ["materialized", "restored"]


def test_versions_follow_the_build_order_when_the_clock_went_back(proj: Project) -> None:
    """'The one before' is the build before, as ``log`` lists them, even when the recorded times
    say otherwise (a clock stepped back, a cache shared between machines)."""
    for day, text in ((2, "four\n"), (1, "five\n")):  # after day 3's build
        proj.write("note.txt", text)
        assert run(proj, day=day).returncode == 0
    logged = [e["key"] for e in json.loads(run(proj, "log", "note", "--json").stdout)["events"]]
    assert [run(proj, "show", "note", "--version", str(n)).stdout.rstrip("\n") for n in range(5)] \
        == ["five", "four", "three", "two", "one"]
    assert [assetbuild.load_value("note", project_dir=proj.root, key=k) for k in logged] \
        == ["five\n", "four\n", "three\n", "two\n", "one\n"]
    assert run(proj, "diff", "note").stdout.splitlines()[-2:] == ["-four", "+five"]
    diffed = json.loads(run(proj, "diff", "note", "--from", "2", "--to", "1", "--json").stdout)
    assert diffed["from"]["key"] == logged[2] and diffed["to"]["key"] == logged[1]
    assert diffed["to"]["built"] == "2024-03-02T09:00:00Z"
    proj.write("note.txt", "three\n")  # back to a stored value: current again, the one before is five
    assert "restored" in run(proj, "-v", day=1).stdout
    assert [run(proj, "show", "note", "--version", str(n)).stdout.rstrip("\n") for n in range(2)] == ["three", "five"]


def test_after_gc_trims_events_versions_still_follow_the_build_order(proj: Project) -> None:
    """The versions whose events gc trimmed are listed from the history rows, which were keyed
    and sorted by recorded time: with a clock set back between builds, ``--version`` then gave
    another build's value, and builds at one time (a fixed ASSETBUILD_NOW) shared one row."""
    for day, text in ((2, "four\n"), (1, "five\n"), (1, "six\n"), (1, "seven\n")):  # after day 3's
        proj.write("note.txt", text)
        assert run(proj, day=day).returncode == 0
    proj.write("pyproject.toml", "[tool.assetbuild]\nhistory = 1\n")
    r = run(proj, "cache", "gc", "--json", day=9)
    assert r.returncode == 0 and json.loads(r.stdout)["versions_trimmed"] == 0, r.stdout
    shown = [run(proj, "show", "note", "--version", str(n), day=9) for n in range(7)]
    assert [(r.returncode, r.stdout.rstrip("\n")) for r in shown] \
        == [(0, t) for t in ("seven", "six", "five", "four", "three", "two", "one")], [r.stderr for r in shown]
    diffed = json.loads(run(proj, "diff", "note", "--from", "3", "--to", "2", "--json", day=9).stdout)
    assert (diffed["from"]["built"], diffed["to"]["built"]) == ("2024-03-02T09:00:00Z", "2024-03-01T09:00:00Z")


def test_a_stale_value_is_shown_with_a_warning(proj: Project) -> None:
    r = run(proj, "show", "note", day=5)
    assert r.returncode == 0 and r.stderr == ""  # fresh: no warning
    proj.assetfile(ASSETFILE.replace("return note_src.read_text()", "return note_src.read_text().upper()"))
    r = run(proj, "show", "note", "--json", day=5)
    assert r.returncode == 0 and json.loads(r.stdout) == "three\n"  # stdout keeps the value only
    assert r.stderr.startswith("warning: 'note' is stale (code-changed")
    assert "this is its last good value, built 2d ago" in r.stderr


def test_the_last_good_value_of_a_failed_asset_is_shown_with_a_warning(proj: Project) -> None:
    proj.assetfile(ASSETFILE.replace("return note_src.read_text()", "raise ValueError('no note today')"))
    assert run(proj, day=5).returncode == 1
    r = run(proj, "show", "note", day=5)
    assert r.returncode == 0 and r.stdout.strip() == "three"
    assert r.stderr.startswith("warning: 'note' failed (failed: ValueError: no note today"), r.stderr


def test_log_metric(proj: Project) -> None:
    doc = json.loads(run(proj, "log", "rows", "--metric", "rows", "--json").stdout)
    assert doc == {"asset": "rows", "metric": "rows", "points": [
        {"time": "2024-03-01T09:00:00Z", "value": 2, "run": "000001"},
        {"time": "2024-03-02T09:00:00Z", "value": 3, "run": "000002"}]}  # run 3 kept the same bytes: cached
    text = run(proj, "log", "rows", "--metric", "rows").stdout
    assert text.splitlines() == ["2024-03-01T09:00:00Z  000001  2", "2024-03-02T09:00:00Z  000002  3"]
    r = run(proj, "log", "rows", "--metric", "label")
    assert r.returncode == 2 and "numeric metadata: rows" in r.stderr


def test_sparkline() -> None:
    from assetbuild.output.history import format_metric, sparkline_of

    assert sparkline_of([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline_of([5, 5]) == "▁▁"
    doc = {"asset": "a", "metric": "m", "points": [{"time": "t", "value": 1, "run": "000001"},
                                                     {"time": "t", "value": 3, "run": "000002"}]}
    assert format_metric(doc, sparkline=True).splitlines()[0] == "a m: ▁█"


def test_log_metric_shows_numbers_no_plot_can_place(project: Project) -> None:
    """An int too large for a float (kept exactly), nan and inf: ``log --metric`` lists them
    (no traceback), and its sparkline leaves them out, saying how many."""
    from assetbuild.output.history import format_metric, sparkline_of

    project.write("v.txt", "1")
    project.assetfile('''
v = source("v", "v.txt")

@asset
def big(v):
    return Output(1, metadata={"m": eval(v.read_text())})
''')
    for i, value in enumerate(["1", "10**400", "float('nan')", "float('-inf')", "3"], start=1):
        project.write("v.txt", value)
        assert run(project, day=i).returncode == 0
    r = run(project, "log", "big", "--metric", "m")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert [ln.split()[-1] for ln in r.stdout.splitlines()] == ["1", "1e+400", "nan", "-inf", "3"]
    doc = json.loads(run(project, "log", "big", "--metric", "m", "--json").stdout)
    assert [p["value"] for p in doc["points"]] == [1, 10**400, "nan", "-inf", 3]
    assert sparkline_of([p["value"] for p in doc["points"]]) == "▁   █"
    assert format_metric(doc, sparkline=True).splitlines()[0] == \
        "big m: ▁   █  (3 not plotted: nan, inf or too large for a float)"
    assert sparkline_of([-1.7e308, 1.7e308]) == "▁█"  # (their difference is no float)


@pytest.mark.parametrize("old, new, said", [
    ('"42"', "42", ["-str: '42'", "+int: 42"]),
    ("(1, 2)", "[1, 2]", ["-tuple: (1, 2)", "+list: [1, 2]"]),
    ('{1: "x"}', '{"1": "x"}', ["-dict: {1: 'x'}", "+dict: {'1': 'x'}"]),
    ('[{"a": (1, 2)}]', '[{"a": [1, 2]}]', ["-list: [{'a': (1, 2)}]", "+list: [{'a': [1, 2]}]"]),  # rows alike in JSON
])
def test_diff_of_values_that_print_alike_but_differ_shows_their_types(tmp_path: Path, old: str, new: str,
                                                                     said: list[str]) -> None:
    """Two versions whose data versions differ (readers reran) were "no difference" when their
    JSON or text looked the same: a str and an int, a tuple and a list, int and str keys."""
    p = Project(tmp_path)
    p.assetfile(f"V = 0\n\n\n@asset\ndef a():\n    return {old} if V == 0 else {new}\n")
    assert p.built() == ["a"]
    (p.root / "AssetFile").write_text((p.root / "AssetFile").read_text().replace("V = 0", "V = 1"))
    assert p.built() == ["a"]
    d = assetbuild.diff("a", project_dir=p.root)
    assert d["kind"] == "text" and [x for x in d["lines"] if x[:1] in "-+" and x[:3] not in ("---", "+++")] == said
    r = cli("diff", "a", cwd=p.root)
    assert r.returncode == 0 and "no difference" not in r.stdout and said[1] in r.stdout, r.stdout + r.stderr
    from assetbuild.session.versions import diff_values

    for same in ((1, 2), [{"a": float("nan")}], {"k": [1.5, "x"]}, "42"):  # one value: no difference
        assert diff_values("a", same, same)["kind"] == "same"


def test_diff_json_of_rows_with_nan_is_json(tmp_path: Path) -> None:
    """A row holding NaN printed ``"x": NaN`` in ``diff --json``: not JSON (jq, JSON.parse refuse
    it). It reads "nan", as metadata's NaN does."""
    p = Project(tmp_path)
    p.assetfile('V = 0\n\n\n@asset\ndef rows():\n    return [{"x": float("nan"), "v": V}, {"x": 1.0, "v": 9}]\n')
    assert p.built() == ["rows"]
    (p.root / "AssetFile").write_text((p.root / "AssetFile").read_text().replace("V = 0", "V = 1"))
    assert p.built() == ["rows"]
    r = cli("diff", "rows", "--json", cwd=p.root)

    def refuse(c: str) -> None:
        raise ValueError(c)

    doc = json.loads(r.stdout, parse_constant=refuse)
    assert doc["kind"] == "table" and doc["removed"] == [{"v": 0, "x": "nan"}] and doc["added"] == [{"v": 1, "x": "nan"}]


def test_diff_of_tables_with_the_same_rows_says_what_else_changed() -> None:
    """Two DataFrames of the same rows in another column order, with another dtype, or in
    another row order have other data versions, and their readers rerun (a reader of the columns
    sees them change): ``diff`` said "no difference". So for a list of dicts whose keys or rows
    came in another order."""
    pd = pytest.importorskip("pandas")
    from assetbuild.session.versions import diff_values

    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert diff_values("f", df, df.copy()) == {"kind": "same"}
    for changed, said in ((df[["b", "a"]], "column order ['a', 'b'] -> ['b', 'a']"),
                          (df.astype({"a": "int32"}), "type of column a: int64 -> int32"),
                          (df.iloc[::-1], "the order of the rows")):
        d = diff_values("f", df, changed)
        assert d["kind"] == "text" and d["lines"][0] == "the same rows, but:" and f"  {said}" in d["lines"], d
    rows = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    d = diff_values("r", rows, [{"b": 2, "a": 1}, {"b": 4, "a": 3}])
    assert d["lines"] == ["the same rows, but:", "  the order of keys in the rows"]
    assert diff_values("r", rows, rows[::-1])["lines"] == ["the same rows, but:", "  the order of the rows"]
    assert diff_values("r", rows, [dict(r) for r in rows]) == {"kind": "same"}
