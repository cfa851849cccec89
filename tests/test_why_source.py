"""``why`` shows a changed function's source as a unified diff: the file text of its last build
is kept once per digest in the store, and the function found in it by its first line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

from assetbuild.session.queries import _function_lines

ASSETFILE = '''
TOP_N = 3


@asset(io="json")
def numbers():
    return list(range(10))


@asset(io="json")
def top(numbers):
    ranked = sorted(numbers, reverse=True)
    return ranked[:TOP_N]
'''


def why(proj: Project) -> dict:
    r = cli("why", "top", "--json", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    assert cli(cwd=p.root, env=clean_env()).returncode == 0
    return p


def test_a_changed_body_is_shown_as_a_diff(proj: Project) -> None:
    # lines added above move the function: it is found by where it starts, then and now
    proj.assetfile("# a comment\n# and another\n" + ASSETFILE.replace("sorted(numbers, reverse=True)", "sorted(numbers)"))
    diff = why(proj)["source_diff"]
    assert "-    ranked = sorted(numbers, reverse=True)" in diff
    assert "+    ranked = sorted(numbers)" in diff
    assert diff[0] == "--- function (last build)" and diff[1] == "+++ function (now)"
    text = cli("why", "top", cwd=proj.root, env=clean_env()).stdout
    assert "    +    ranked = sorted(numbers)" in text


def test_no_diff_when_the_function_reads_the_same(proj: Project) -> None:
    proj.assetfile(ASSETFILE.replace("TOP_N = 3", "TOP_N = 5"))  # a global changed, not the body
    info = why(proj)
    assert info["state"] == "stale" and info["source_diff"] == []
    assert [c["part"] for c in info["code_changes"]] == ["global:TOP_N"]


def test_a_head_without_its_text_gives_no_diff(proj: Project, tmp_path: Path) -> None:
    """An imported cache carries heads, not the file texts: why still works, without a diff."""
    archive = tmp_path / "cache.tar"
    assert cli("cache", "export", str(archive), cwd=proj.root, env=clean_env()).returncode == 0
    other = Project(tmp_path / "other")
    other.assetfile(ASSETFILE.replace("sorted(numbers, reverse=True)", "sorted(numbers)"))
    assert cli("cache", "import", str(archive), cwd=other.root, env=clean_env()).returncode == 0
    r = cli("why", "top", "--json", cwd=other.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["source_diff"] == []


def test_a_changed_helper_is_shown_too(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.write("lib/__init__.py", "")
    p.write("lib/clean.py", "def norm(x):\n    return x.strip()\n")
    p.assetfile("from lib.clean import norm\n\n\n@asset(io='json')\ndef tidy():\n    return norm(' a ')\n")
    assert cli(cwd=p.root, env=clean_env()).returncode == 0
    p.write("lib/clean.py", "def norm(x):\n    return x.strip().upper()\n")
    r = cli("why", "tidy", "--json", cwd=p.root, env=clean_env())
    diff = json.loads(r.stdout)["source_diff"]
    assert "--- helper:lib.clean.norm (last build)" in diff
    assert "-    return x.strip()" in diff and "+    return x.strip().upper()" in diff


def test_function_lines_include_decorators_and_end_where_the_function_ends() -> None:
    text = b"import x\n\n@a\n@b(1)\ndef f():\n    return 1\n\n\ndef g():\n    pass\n"
    assert _function_lines(text, 3) == ["@a", "@b(1)", "def f():", "    return 1"]
    assert _function_lines(text, 9) == ["def g():", "    pass"]
    assert _function_lines(text, 5) is None  # no function starts there (f starts at its decorator)
    assert _function_lines(b"def (:\n", 1) is None


def test_gc_keeps_only_the_texts_of_the_latest_builds(proj: Project) -> None:
    from assetbuild.store import LmdbStore

    proj.assetfile(ASSETFILE.replace("sorted(numbers, reverse=True)", "sorted(numbers)"))
    assert cli(cwd=proj.root, env=clean_env()).returncode == 0  # a second text: the edited AssetFile
    r = cli("cache", "gc", "--json", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    # numbers was not rebuilt: its head still refers to the first text, top's to the second
    assert json.loads(r.stdout)["texts_dropped"] == 0
    with LmdbStore(proj.root / ".assetbuild", readonly=True) as s:
        live = {e[1] for h in s.heads().values() for e in h.source_at}
        assert len(live) == 2 and all(s.get_text(d) for d in live)
    proj.assetfile(ASSETFILE.replace("sorted(numbers, reverse=True)", "sorted(numbers)")
                   .replace("range(10)", "range(11)"))  # both rebuilt: one text for both heads
    assert cli(cwd=proj.root, env=clean_env()).returncode == 0
    r = cli("cache", "gc", "--json", cwd=proj.root, env=clean_env())
    assert json.loads(r.stdout)["texts_dropped"] == 2


OPTIMIZED = """\
from assetbuild import asset


@asset(io="json")
def checked():
    n = 3
    assert n > 0, "positive"
    return n


@asset(io="json")
def doubled(checked):
    return 2 * checked
"""


def test_another_interpreter_is_said_to_be_the_change(tmp_path: Path) -> None:
    """Built by one interpreter, asked by another (here python -O, which compiles the assert
    away, as another minor version compiles other bytecode): the same source is no code change."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text(OPTIMIZED)
    assert cli("-q", cwd=root).returncode == 0
    other = clean_env(PYTHONOPTIMIZE="1")
    r = cli("status", cwd=root, env=other)
    said = "key-changed: the interpreter (Python version, implementation or -O) or the key schema changed"
    assert r.stdout.splitlines()[0] == f"stale   checked  {said}", r.stdout
    assert "code-changed" not in r.stdout
    why = cli("why", "checked", cwd=root, env=other).stdout
    assert f"  {said}" in why.splitlines() and "code parts changed" not in why, why
    assert json.loads(cli("why", "checked", "--json", cwd=root, env=other).stdout)["code_changes"] == []
    assert cli("-q", cwd=root, env=other).returncode == 0
    why = cli("why", "checked", cwd=root).stdout  # back: its key has a trace, the latest head is -O's
    assert why.startswith("checked: fresh") and "code parts changed" not in why, why
