"""The real `assetbuild` command in subprocesses: exit statuses, messages, --json documents."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import clean_env, cli

PIPE = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")


@asset(io="json")
def numbers(raw):
    return [int(x) for x in raw.read_text().split()]


@asset(io="text", path="out/total.txt")
def total(numbers):
    return str(sum(numbers))
"""


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "raw.txt").write_text("1 2 3")
    (tmp_path / "AssetFile").write_text(PIPE)
    return tmp_path


def test_build_then_null_build(proj):
    r = cli(cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "built     numbers" in r.stdout and "2 built" in r.stdout
    assert (proj / "out/total.txt").read_text() == "6"
    r = cli(cwd=proj)
    assert r.returncode == 0 and "0 built, 2 cached" in r.stdout
    assert "built     " not in r.stdout  # no per-asset lines when nothing happens


def test_dash_C_and_dash_f(proj, tmp_path):
    (proj / "AssetFile").rename(proj / "pipeline.py")
    r = cli("-C", str(proj), "-f", "pipeline.py", "--json", cwd=tmp_path.parent)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
    r = cli("-C", str(proj), cwd=tmp_path.parent)
    assert r.returncode == 2 and "no AssetFile" in r.stderr


def test_python_dash_m(proj):
    import subprocess

    r = subprocess.run([sys.executable, "-m", "assetbuild", "status", "--json"], cwd=proj,
                       capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0 and {a["state"] for a in json.loads(r.stdout)["assets"]} == {"missing"}


def test_build_json_is_one_document(proj):
    r = cli("--json", cwd=proj)
    doc = json.loads(r.stdout)  # exactly one JSON document, nothing else on stdout
    assert doc["ok"] is True and [e["asset"] for e in doc["results"]] == ["numbers", "total"]
    for e in doc["results"]:
        assert set(e) == {"asset", "status", "key", "data_version", "duration_s", "error", "metadata"}
        assert e["status"] == "built" and isinstance(e["duration_s"], float) and len(e["key"]) == 64
    doc = json.loads(cli("build", "--json", cwd=proj).stdout)
    assert [e["status"] for e in doc["results"]] == ["cached", "cached"]


def test_status_json_schema_and_reasons(proj):
    cli(cwd=proj)
    (proj / "raw.txt").write_text("4 5")
    r = cli("status", "--json", cwd=proj)
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    states = {a["asset"]: a for a in doc["assets"]}
    assert states["numbers"]["state"] == "stale"
    assert states["numbers"]["reasons"] == [{"code": "source-changed", "detail": states["numbers"]["reasons"][0]["detail"]}]
    assert "raw" in states["numbers"]["reasons"][0]["detail"]
    assert states["total"]["reasons"][0]["code"] == "upstream-changed"


def test_failed_asset_exit_1_and_trimmed_traceback(proj):
    (proj / "AssetFile").write_text(PIPE + "\n\n@asset\ndef broken(total):\n    return 1 / 0\n")
    r = cli(cwd=proj)
    assert r.returncode == 1
    assert "FAILED    broken: ZeroDivisionError: division by zero" in r.stderr
    assert "AssetFile\", line 18, in broken" in r.stderr
    assert "scheduler.py" not in r.stderr
    doc = json.loads(cli("--json", cwd=proj).stdout)
    assert doc["ok"] is False
    assert {e["asset"]: e["status"] for e in doc["results"]}["broken"] == "failed"


DEFINITION_ERRORS = {
    "syntax": ("@asset\ndef a(:\n    return 1\n", 4, "syntax error"),
    "load-exception": ("X = {}['missing']\n", 3, "KeyError"),
    "duplicate": ("@asset\ndef a():\n    return 1\n\n@asset(name='a')\ndef b():\n    return 2\n", 7,
                  "two definitions named 'a'"),
    "unknown-param": ("@asset\ndef a(nothing_here):\n    return 1\n", 3, "parameter 'nothing_here' names no asset"),
    "cycle": ("@asset\ndef a(b):\n    return 1\n\n@asset\ndef b(a):\n    return 1\n", None,
              "dependency cycle: "),
    "bad-name": ("@asset(name='../up')\ndef a():\n    return 1\n", 3, "invalid asset name '../up'"),
    "unknown-io": ("@asset(io='parquet')\ndef a():\n    return 1\n", 3, "unknown IO manager 'parquet'"),
    "declared-twice": ("@asset\n@asset\ndef a():\n    return 1\n", 3,
                       "function 'a' is declared as asset 'a' twice (@asset written twice over it"),
    "partial": ("import functools\n\na = asset(name='a')(functools.partial(print, 1))\n", 5,
                "@asset needs a plain function (a def), got functools.partial(print, ...)"),
    "bare-partial": ("import functools\n\na = asset(functools.partial(print, 1))\n", 5,
                     "@asset needs a plain function (a def), got functools.partial(print, ...)"),
    "bound-method": ("class Loader:\n    def load(self):\n        return 1\n\na = asset(name='a')(Loader().load)\n",
                     7, "got the bound method Loader.load: its object (self) is state no key can see"),
    "duplicate-path": ("@asset(path='o.txt', io='text')\ndef a():\n    return ''\n\n"
                       "@asset(path='o.txt', io='text')\ndef b():\n    return ''\n", 7, "both write o.txt"),
}


@pytest.mark.parametrize("case", sorted(DEFINITION_ERRORS))
def test_definition_errors(tmp_path, case):
    body, line, message = DEFINITION_ERRORS[case]
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n" + body)
    r = cli(cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    # one clear line, no traceback (a syntax error: and its source line and caret, as Python shows them)
    assert len(lines) == (3 if case == "syntax" else 1), r.stderr
    assert message in lines[0]
    assert lines[0].startswith("assetbuild: error: AssetFile")
    if line is not None:
        assert f"AssetFile:{line}:" in lines[0]
    if case == "cycle":
        assert "a -> b -> a" in lines[0] or "b -> a -> b" in lines[0]
    assert not (tmp_path / ".assetbuild").exists()  # nothing written to the cache
    assert r.stdout == ""
    rv = cli("-v", cwd=tmp_path)
    assert rv.returncode == 2
    if case in ("load-exception",):
        assert "Traceback" in rv.stderr


def test_error_in_imported_local_module_names_that_file(tmp_path):
    (tmp_path / "helpers.py").write_text("def f(:\n")
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\nimport helpers\n")
    r = cli(cwd=tmp_path)
    assert r.returncode == 2 and "helpers.py:1:" in r.stderr and "syntax error" in r.stderr


def test_an_asset_named_context_is_a_definition_error(tmp_path):
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n\n@asset\ndef context():\n    return 1\n\n\n"
                                        "@asset\ndef report(context):\n    return context\n")
    r = cli(cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1].endswith(
        "AssetFile:4: 'context' cannot name an asset: a parameter named 'context' receives the AssetContext; "
        "choose another name")
    assert "Traceback" not in r.stderr


def test_unknown_asset_is_a_usage_error(proj):
    r = cli("numbrs", cwd=proj)
    assert r.returncode == 2 and "did you mean 'numbers'" in r.stderr


def test_dry_run_exit_0_and_writes_nothing(proj):
    r = cli("-n", cwd=proj)
    assert r.returncode == 0 and "would run" in r.stdout
    assert not (proj / ".assetbuild").exists() and not (proj / "out").exists()


def test_why_show_list_graph(proj):
    cli(cwd=proj)
    r = cli("show", "numbers", "--json", cwd=proj)
    assert r.returncode == 0 and json.loads(r.stdout) == [1, 2, 3]
    assert cli("show", "total", cwd=proj).stdout.strip() == "6"
    r = cli("why", "total", cwd=proj)
    assert r.returncode == 0 and "total: fresh" in r.stdout
    assert cli("list", cwd=proj).stdout.splitlines()[1].split()[:2] == ["raw", "source"]  # after the heading
    dot = cli("graph", cwd=proj).stdout
    assert '"numbers" -> "total"' in dot
    doc = json.loads(cli("graph", "--format", "json", cwd=proj).stdout)
    assert {n["name"] for n in doc["nodes"]} == {"raw", "numbers", "total"}
    assert "graph LR" in cli("graph", "--format", "mermaid", cwd=proj).stdout


def test_graph_of_a_selection_draws_its_outside_inputs_in_every_format(proj):
    dot = cli("graph", "total", cwd=proj)
    assert dot.returncode == 0 and '"numbers" -> "total"' in dot.stdout
    r = cli("graph", "total", "--format", "mermaid", cwd=proj)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == ["graph LR", '  n0["total"]', '  n1("numbers")', "  n1 --> n0"]


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "json", "svg", "png"])
def test_graph_to_a_file_it_cannot_write_is_one_line(proj, fmt):
    if fmt == "png" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    (proj / "somedir").mkdir()
    for out, reason in ((proj / "nodir" / "g.out", "No such file or directory"), (proj / "somedir", "Is a directory"),
                        (proj / "raw.txt" / "g.out", "Not a directory")):
        r = cli("graph", "--format", fmt, "-o", str(out), cwd=proj)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == f"assetbuild: error: cannot write {out}: {reason}\n"
    r = cli("graph", "-v", "-o", "somedir", cwd=proj)  # -v: the traceback, above the same line
    assert r.returncode == 2 and "IsADirectoryError" in r.stderr
    assert r.stderr.endswith("assetbuild: error: cannot write somedir: Is a directory\n")


def test_cache_export_says_a_file_it_cannot_write_as_graph_does(proj):
    assert cli(cwd=proj).returncode == 0
    out = proj / "nodir" / "cache.tar"
    r = cli("cache", "export", str(out), cwd=proj)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"assetbuild: error: cannot write {out}: No such file or directory\n"


def test_show_never_built_is_a_clear_error(proj):
    r = cli("show", "total", cwd=proj)
    assert r.returncode == 2 and "never been built" in r.stderr


def test_clean_asks_or_needs_yes(proj):
    cli(cwd=proj)
    r = cli("clean", cwd=proj)
    assert r.returncode == 2 and "--yes" in r.stderr and (proj / ".assetbuild").exists()
    r = cli("clean", "--yes", cwd=proj)
    assert r.returncode == 0 and not (proj / ".assetbuild").exists()
    assert not (proj / "out/total.txt").exists()  # path outputs go too, unless --keep-outputs


def test_cache_dir_option_and_env(proj, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    r = cli("--cache-dir", str(cache / "c"), cwd=proj)
    assert r.returncode == 0 and (cache / "c" / "STORE").exists() and not (proj / ".assetbuild").exists()
    r = cli(cwd=proj, env=clean_env(ASSETBUILD_CACHE_DIR=str(cache / "c")))
    assert "0 built, 2 cached" in r.stdout


def test_help_teaches(tmp_path):
    r = cli("--help", cwd=tmp_path)
    assert r.returncode == 0 and "Examples:" in r.stdout and "status" in r.stdout
    r = cli("build", "--help", cwd=tmp_path)
    assert "--keep-going" in r.stdout and "Exit status" in r.stdout


def test_status_help_names_every_state_and_reason_status_prints(tmp_path):
    """It named four states (status also prints overdue) and left out stored-before and the
    skipped note, which status prints as reasons."""
    text = " ".join(cli("status", "--help", cwd=tmp_path).stdout.split())
    for word in ("fresh", "stale", "missing", "failed", "overdue", "stored-before", "skipped"):
        assert word in text, word


def test_help_imports_click_and_the_command_line_only(tmp_path):
    """`assetbuild --help` (no plugin installed) loads no plugin manager, no engine, no store:
    its cost is the interpreter's and click's start-up, and the commands' declarations."""
    code = ("import contextlib, io, json, sys\n"
            "sys.argv = ['assetbuild', '--help']\n"
            "from assetbuild.cli import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    cli.main(prog_name='assetbuild', standalone_mode=False)\n"
            "heavy = ('pluggy', 'lmdb', 'cloudpickle', 'assetbuild.hookspecs', 'assetbuild.definitions',\n"
            "         'assetbuild.session', 'assetbuild.store', 'assetbuild.output')\n"
            "print(json.dumps(['Usage: assetbuild' in out.getvalue(), [m for m in heavy if m in sys.modules]]))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [True, []]


def test_local_module_edit_within_the_same_second_is_seen(tmp_path):
    """A timestamp-validated .pyc would hide an edit of the same size in the same second."""
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\nfrom helpers import f\n\n"
                                        "@asset(io='json')\ndef a():\n    return f()\n")
    env = clean_env()  # bytecode writing on, as on users' machines
    assert cli(cwd=tmp_path, env=env).returncode == 0
    st = os.stat(tmp_path / "helpers.py")
    (tmp_path / "helpers.py").write_text("def f():\n    return 2\n")  # same size
    os.utime(tmp_path / "helpers.py", ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    r = cli("--json", cwd=tmp_path, env=env)
    assert [e["status"] for e in json.loads(r.stdout)["results"]] == ["built"]
    assert cli("show", "a", cwd=tmp_path, env=env).stdout.strip() == "2"
    assert not list(tmp_path.rglob("helpers*.pyc"))  # project modules never go through .pyc files


def test_keys_survive_hash_seed_and_new_processes(proj):
    env = clean_env(PYTHONHASHSEED="1")
    assert cli(cwd=proj, env=env).returncode == 0
    for seed in ("2", "random"):
        r = cli("--json", cwd=proj, env=clean_env(PYTHONHASHSEED=seed))
        assert [e["status"] for e in json.loads(r.stdout)["results"]] == ["cached", "cached"]


def test_relocated_project_runs_nothing(proj, tmp_path_factory):
    import shutil

    assert cli(cwd=proj).returncode == 0
    moved = tmp_path_factory.mktemp("elsewhere") / "copy"
    shutil.copytree(proj, moved)
    time.sleep(0.01)
    r = cli("--json", cwd=moved)
    assert [e["status"] for e in json.loads(r.stdout)["results"]] == ["cached", "cached"]


def test_json_mode_prints_a_document_even_for_errors(tmp_path):
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef a(missing):\n    return 1\n")
    r = cli("--json", cwd=tmp_path)
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["results"] == [] and "names no asset" in doc["error"]
    r = cli("status", "--json", cwd=tmp_path)
    assert r.returncode == 2 and json.loads(r.stdout)["ok"] is False


def test_graph_dash_o_dash_is_stdout_and_cache_archives_refuse_it(proj):
    r = cli("graph", "-o", "-", cwd=proj)  # click's convention: - is stdout, not a file named -
    assert (r.returncode, r.stderr) == (0, "") and '"numbers" -> "total"' in r.stdout
    r = cli("graph", "--format", "svg", "--output", "-", cwd=proj)
    assert r.returncode == 0 and r.stdout.lstrip().startswith("<svg")
    assert not (proj / "-").exists()
    assert cli(cwd=proj).returncode == 0
    for verb, stream in (("export", "standard output"), ("import", "standard input")):
        r = cli("cache", verb, "-", cwd=proj)
        assert (r.returncode, r.stdout) == (2, "") and f"not {stream} (-)" in r.stderr
    assert not (proj / "-").exists()
