"""The entry point's plain build (``entry.plain_build``): the fast form's build run without
click, which must be the CLI's ``build`` in every way a user sees: the same call of
``session.build``, the same output, errors and exit statuses. Real commands in twin projects:
one through the plain build, the other through the CLI (``ASSETBUILD_SNAPSHOT=0``)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from projects import clean_env, cli, cli_cmd, write

import assetbuild.session as session_api
from assetbuild.cli import cli as click_cli
from assetbuild.session.building import build

ASSETFILE = '''\
from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="json", path="out/total.json")
def total(raw):
    return sum(int(x) for x in raw.read_text().split())


@asset(io="json")
def checked(total):
    if total > 100:
        raise ValueError(f"total too large: {total}")
    return total
'''


@pytest.mark.parametrize("args", [[], ["build"], ["--json"], ["build", "-q", "--json"], ["-q"], ["-n"], ["build", "-n", "-q"],
                                  ["total"], ["build", "total", "--json"], ["checked", "-n", "total"], ["build", "-n", "total"],
                                  ["-j", "2"], ["build", "--jobs=auto", "-q"], ["total", "-j3"]])
def test_the_cli_calls_session_build_with_its_defaults(args: list[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What the plain build relies on: for the fast form, the CLI passes session.build nothing
    but the selection, the reporter and each keyword's own default (a new CLI option that
    changed a default for every build would fail here, not go unseen by the plain build)."""
    write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def recording(*a: Any, **kw: Any) -> Any:
        calls.append((a, kw))
        raise KeyboardInterrupt  # (stops the command; its message is the CLI's own)

    monkeypatch.setattr(session_api, "build", recording, raising=False)
    result = CliRunner().invoke(click_cli, args)
    assert result.exit_code == 130, result.output
    [(a, kw)] = calls
    from assetbuild.entry import fast_form  # (not at import: the entry point takes sys.path as it starts)

    form = fast_form(args)
    assert form is not None and tuple(a[0]) == form["select"]  # (the names)
    defaults = {n: p.default for n, p in inspect.signature(build).parameters.items()}
    for name, value in kw.items():
        if name == "dry_run":  # (-n and -j: the options the plain build passes on)
            assert value is ("-n" in args)
        elif name == "jobs":
            assert value == form.get("jobs"), (value, form)
        elif name != "reporter":
            assert value == defaults[name], f"the CLI passes {name}={value!r}, the default is {defaults[name]!r}"


def test_the_fast_form_names_assets_only_where_the_cli_builds_them() -> None:
    from assetbuild.entry import COMMANDS, fast_form

    assert COMMANDS == set(click_cli.commands)  # (``assetbuild NAME`` runs the command NAME if there is one)
    form = fast_form(["report", "--json", "clean"])
    assert form is not None and form["select"] == ("report", "clean") and form["json"]
    form = fast_form(["-C", "d", "build", "list", "list", "-n"])
    assert form is not None and form["select"] == ("list",) and form["dry_run"] and form["directory"] == "d"
    assert fast_form(["build"]) is not None and fast_form(["build"])["select"] == ()  # type: ignore[index]
    form = fast_form(["status", "report", "--check"])
    assert form is not None and form["select"] == ("report",) and form["status"] and form["check"]
    for args in (["list"], ["clean", "x"], ["-q", "report"], ["raw/*"], ["group:g"], ["x+"], ["report", "--force"],
                 ["status", "report*"], ["status", "-v", "report"], ["-j"], ["-j", "0"], ["-jx"], ["--jobs", "1.5"],
                 ["--jobs"], ["-j", "2", "report"], ["status", "-j", "2"], ["--directory", "d"],
                 ["--directory", "d", "status"]):
        assert fast_form(args) is None, args
    for args, jobs in ((["-j", "2"], "2"), (["-j2"], "2"), (["--jobs=auto"], "auto"), (["build", "--jobs", "AUTO", "-q"], "AUTO"),
                       (["report", "-j", "4", "--json"], "4"), (["-j", "2", "-j", "3"], "3")):
        form = fast_form(args)
        assert form is not None and form["jobs"] == jobs, (args, form)


@st.composite
def _command_lines(draw: st.DrawFn) -> list[str]:
    """Command lines of a build: names, flags (some the fast form leaves to the CLI) and a ``-j`` in
    each of its spellings, with values good and bad, in any order; a directory in front or not."""
    parts = [[n] for n in draw(st.lists(st.sampled_from(["total", "checked", "report"]), max_size=3))]
    parts += [[f] for f in draw(st.lists(st.sampled_from(["--json", "-q", "-n", "--dry-run", "-v", "--force"]),
                                         max_size=3))]
    if draw(st.booleans()):
        v = draw(st.sampled_from(["2", "auto", "AUTO", "0", "x", "1.5", "03", "", "4194304", "4194305",
                                  "99999999999999999999"]))
        parts.append(draw(st.sampled_from([["-j", v], ["-j" + v], ["--jobs=" + v], ["--jobs", v]])))
    args = [w for p in draw(st.permutations(parts)) for w in p]
    args = ["build", *args] if draw(st.booleans()) else args
    # a directory first, as -C and as spellings the CLI has not (the fast form took --directory)
    where = draw(st.sampled_from([[], [], ["-C", "."], ["--directory", "."], ["--directory=."], ["-C."]]))
    return [*where, *args]


@given(value=st.one_of(st.integers(min_value=-10, max_value=2**70).map(str),
                       st.sampled_from(["auto", " AUTO ", "4194304", "4194305", "１", "²", "1.5", "", "0x10"]),
                       st.text(max_size=6)))
def test_the_fast_forms_jobs_rule_is_parse_jobss(value: str) -> None:
    """``entry._jobs_valid`` restates ``executors.parse_jobs``'s rule (the entry point must not
    import executors): the same values taken, whole numbers at either bound included."""
    from assetbuild.entry import _jobs_valid
    from assetbuild.errors import ConfigError
    from assetbuild.executors import parse_jobs

    try:
        parse_jobs(value)
        taken = True
    except ConfigError:
        taken = False
    assert _jobs_valid(value) is taken, value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=_command_lines())
def test_a_command_line_the_fast_form_takes_means_the_same_to_the_cli(args: list[str], tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry point reads its fast form by hand (``entry.fast_form``): any command line it
    takes for a build, click takes too, with the same assets, ``-n``, ``-j``, ``--json`` and ``-q``."""
    from assetbuild.entry import fast_form  # (not at import: the entry point takes sys.path as it starts)

    form = fast_form(args)
    event("taken by the fast form" if form is not None else "left to the CLI")
    if form is None:
        return
    if not (tmp_path / "AssetFile").exists():
        write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    monkeypatch.chdir(tmp_path)
    calls: list[dict[str, Any]] = []

    def recording(*a: Any, **kw: Any) -> Any:
        calls.append({"assets": tuple(a[0]), **kw})
        raise KeyboardInterrupt

    monkeypatch.setattr(session_api, "build", recording, raising=False)
    result = CliRunner().invoke(click_cli, args)
    assert result.exit_code == 130 and len(calls) == 1, (args, result.output)
    call = calls[0]
    assert tuple(dict.fromkeys(call["assets"])) == form["select"], (args, call)
    assert call["dry_run"] is form["dry_run"] and call.get("jobs") == form.get("jobs"), (args, call)
    reporter = call["reporter"]
    assert reporter.json_mode is form["json"] and (reporter.verbosity < 0) is form["quiet"], (args, call)


@pytest.mark.parametrize("args", [["status"], ["status", "--check"]])
def test_the_cli_calls_session_status_with_its_defaults(args: list[str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``entry.plain_status`` relies on: for ``status [--check]`` the CLI passes
    session.status nothing but the reporter and each keyword's own default."""
    from assetbuild.session.queries import status

    write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def recording(*a: Any, **kw: Any) -> Any:
        calls.append((a, kw))
        raise KeyboardInterrupt

    monkeypatch.setattr(session_api, "status", recording, raising=False)
    result = CliRunner().invoke(click_cli, args)
    assert result.exit_code == 130, result.output
    [(a, kw)] = calls
    assert tuple(a[0]) == ()
    defaults = {n: p.default for n, p in inspect.signature(status).parameters.items()}
    for name, value in kw.items():
        if name != "reporter":
            assert value == defaults[name], f"the CLI passes {name}={value!r}, the default is {defaults[name]!r}"


def _normal(text: str, project: Path | None = None) -> str:
    """Durations vary between runs; the twins' directories differ."""
    if project is not None:
        text = text.replace(str(project), "<project>")
    return re.sub(r"\d+\.\d+s\b", "T", re.sub(r'"duration_s": [0-9.e-]+', '"duration_s": T', text))


def _twins(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    a = write(tmp_path / "plain", files)
    b = tmp_path / "cli"
    shutil.copytree(a, b)
    return a, b


def _same(a: Path, b: Path, *args: str, under: str = "", **env: str) -> tuple[str, str, int]:
    """Run the command in both twins (the plain build in ``a``, the CLI in ``b``; in their
    folder ``under`` if given); they must print the same and end with the same status.
    Returns the plain build's."""
    plain = cli(*args, cwd=a / under, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **env))
    full = cli(*args, cwd=b / under, env=clean_env(ASSETBUILD_SNAPSHOT="0", **env))
    plain_err = "\n".join(ln for ln in plain.stderr.splitlines() if not ln.startswith("snapshot:"))
    assert (plain.returncode, _normal(plain.stdout, a), _normal(plain_err, a).strip()) == \
        (full.returncode, _normal(full.stdout, b), _normal(full.stderr, b).strip())
    return plain.stdout, plain.stderr, plain.returncode


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_the_plain_build_prints_and_ends_as_the_cli(tmp_path: Path, json_flag: list[str]) -> None:
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    out, err, status = _same(a, b, *json_flag)
    assert status == 0 and ("2 built" in out or '"status": "built"' in out), out
    assert "snapshot: not used" in err, err  # (the plain build ran: the entry looked first)
    for p in (a, b):  # an asset that fails: status 1, its error in both
        (p / "data/raw.txt").write_text("100 200\n")
    out, _, status = _same(a, b, *json_flag)
    assert status == 1 and "total too large: 300" in out + _, out
    _same(a, b, "-q", *json_flag)  # -q: the failure still reported
    for p in (a, b):  # an AssetFile that does not load: status 2, one line naming it
        (p / "AssetFile").write_text(ASSETFILE + "\n@asset(\n")
    out, err, status = _same(a, b, *json_flag)
    assert status == 2 and "AssetFile:" in err, err
    if json_flag:
        assert out.startswith('{"ok": false, "error": ') and '"results": []' in out, out


def test_a_build_with_jobs_is_answered_and_built_as_the_clis(tmp_path: Path) -> None:
    """``-j N`` changes no decision: a null build with it is answered, and a slice builds with
    it, as the CLI would (parallel builds record the snapshot, as with ``jobs`` in pyproject)."""
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    for p in (a, b):
        assert cli("-j", "2", cwd=p).returncode == 0 and cli("-j", "2", cwd=p).returncode == 0
    for args in (["-j", "2"], ["--jobs=auto", "--json"], ["build", "-j2", "-q"]):
        _, err, status = _same(a, b, *args)
        assert status == 0 and err.startswith("snapshot: answers"), err
    for p in (a, b):
        (p / "data/raw.txt").write_text("3 4\n")
    out, err, status = _same(a, b, "-j", "2")
    assert status == 0 and "2 built" in out and "the build loads" in err, out + err
    _, err, _ = _same(a, b, "-j", "2")
    assert err.startswith("snapshot: answers"), err


def test_the_plain_dry_run_prints_and_ends_as_the_clis(tmp_path: Path) -> None:
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    out, err, status = _same(a, b, "-n")  # never built: no snapshot, the whole project
    assert status == 0 and "would run     total" in out and "snapshot: not used: no snapshot" in err, out + err
    out, err, status = _same(a, b, "-n", "-q")
    assert status == 0 and out == ""
    out, err, status = _same(a, b, "-n", "--json")
    assert status == 0 and out.endswith('"dry_run": true}\n'), out
    for p in (a, b):
        assert cli(cwd=p).returncode == 0
        (p / "data/raw.txt").write_text("100 200\n")
    out, err, status = _same(a, b, "-n")  # the slice a build would decide (or the whole project)
    assert status == 0 and "would run     total" in out and "may run       checked" in out, out
    assert "nothing was run or written" in out and (a / "out/total.json").read_text() == "3"  # (as it was)


def test_the_plain_status_prints_and_ends_as_the_clis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "0")  # (the check decides every asset: no slice)
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    for p in (a, b):
        assert cli(cwd=p).returncode == 0 and cli(cwd=p).returncode == 0  # (the second records the snapshot)
        (p / "data/raw.txt").write_text("100 200\n")
    out, err, status = _same(a, b, "status", "--check")  # the slice a build would decide
    assert status == 1 and "stale   total" in out and "the build loads" in err, out + err
    for p in (a, b):
        (p / "data/raw.txt").write_text("3 4\n")
        assert cli(cwd=p).returncode == 0 and cli(cwd=p).returncode == 0
        (p / "data/raw.txt").unlink()
    out, err, status = _same(a, b, "status")  # a source gone: its readers cannot be built
    assert status == 0 and "source-missing" in out and "the build loads" in err, out + err


def test_the_plain_build_with_a_directory(tmp_path: Path) -> None:
    a, b = _twins(tmp_path / "p", {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    plain = cli("-C", str(a), "build", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    full = cli("-C", str(b), "build", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert plain.returncode == full.returncode == 0
    assert _normal(plain.stdout) == _normal(full.stdout)
    assert (a / "out/total.json").read_text() == "3"


def test_from_a_folder_below_the_project_it_answers_as_the_cli(tmp_path: Path) -> None:
    """Run in a folder below the project, the command moves to the project, saying so on stderr
    (unless -q), as the CLI does; the snapshot answers there, and a slice builds there."""
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n", "notebooks/deep/x.txt": ""})
    for p in (a, b):
        assert cli(cwd=p).returncode == 0 and cli(cwd=p).returncode == 0  # (the second records the snapshot)

    def same(*args: str, **env: str) -> tuple[str, str]:
        out, err, _ = _same(a, b, *args, under="notebooks/deep", **env)
        return out, err

    for args in ([], ["--json"], ["status"]):
        out, err = same(*args)
        said = err.splitlines()  # (answered, and checked against the full path: the tests' conftest)
        assert said[0] == "(using AssetFile in ../..)" and said[1].startswith("snapshot: answers"), err
    out, err = same("-q")
    assert out == "" and err.startswith("snapshot: answers") and len(err.splitlines()) == 1, err
    for p in (a, b):
        (p / "data/raw.txt").write_text("3 4\n")
    out, err = same()
    assert "2 built" in out and "the build loads" in err and (a / "out/total.json").read_text() == "7", out + err
    out, err = same(ASSETBUILD_CACHE_DIR="here")  # (left to the CLI: relative to where the command started)
    assert "(using AssetFile in ../..)" in err and "ASSETBUILD_CACHE_DIR is set" in err, err
    assert "2 built" in out and (a / "notebooks/deep/here").is_dir() and not (a / "here").exists(), out


def test_a_repository_root_ends_the_search_for_the_project_as_in_the_cli(tmp_path: Path) -> None:
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n", "sub/.git/HEAD": ""})
    for p in (a, b):
        assert cli(cwd=p).returncode == 0 and cli(cwd=p).returncode == 0
    plain = cli(cwd=a / "sub", env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    full = cli(cwd=b / "sub", env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert plain.returncode == full.returncode == 2 and "AssetFile" in full.stderr
    assert _normal(plain.stderr.split("\n", 1)[1], a) == _normal(full.stderr, b), plain.stderr
    assert "snapshot: not used: no AssetFile in the working directory or above it" in plain.stderr


@pytest.mark.parametrize("kind", ["loop", "dangling", "directory"])
def test_an_assetfile_that_is_no_file_is_reported_not_passed_over_as_in_the_cli(tmp_path: Path, kind: str) -> None:
    """A folder below a project whose AssetFile is a symlink loop, a dangling link or a
    directory: the command says so (status 2, naming it), from that folder and from one below
    it, with or without the snapshot; it never answers for, or builds, the project above."""
    a, b = _twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n", "child/deep/x.txt": ""})
    for p in (a, b):
        assert cli(cwd=p).returncode == 0 and cli(cwd=p).returncode == 0  # (the second records the snapshot)
        entry = p / "child" / "AssetFile"
        if kind == "loop":
            entry.symlink_to("AssetFile")
        elif kind == "dangling":
            entry.symlink_to(p / "gone" / "AssetFile")
        else:
            entry.mkdir()
    why = {"loop": "is a symlink loop", "dangling": "is a dangling symlink", "directory": "is a directory"}[kind]
    for under, args in (("child", []), ("child", ["--json"]), ("child", ["status"]), ("child", ["-f", "AssetFile"]),
                        ("child/deep", []), ("child/deep", ["-q", "--json"])):
        out, err, status = _same(a, b, *args, under=under)
        said = [ln for ln in err.splitlines() if not ln.startswith("snapshot:")]
        assert status == 2 and said[-1].startswith(f"assetbuild: error: {a / 'child' / 'AssetFile'} {why}"), err
        assert said[:-1] == (["(using AssetFile in ..)"] if under == "child/deep" and "-q" not in args else []), err
        if "--json" in args:
            assert out.startswith('{"ok": false, "error": ') and '"results": []' in out, out


@pytest.mark.parametrize("args", [[], ["--json"], ["status"], ["-C", "."]])
def test_a_deleted_working_directory_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """A shell whose directory was deleted under it: one line saying so and status 2, with or
    without the snapshot, not a traceback (the entry point and the CLI both asked for it)."""
    import subprocess

    from projects import cli_cmd

    gone = tmp_path / "gone"
    for mode in ("1", "0"):
        gone.mkdir()
        r = subprocess.run(cli_cmd(*args), cwd=gone, capture_output=True, text=True, timeout=60,
                           env=clean_env(ASSETBUILD_SNAPSHOT=mode), preexec_fn=gone.rmdir)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.splitlines()[-1].startswith("assetbuild: error: "), r.stderr
        assert ("cannot be read" in r.stderr) or ("-C ." in r.stderr), r.stderr
        if "--json" in args:
            assert r.stdout.startswith('{"ok": false, "error": "the working directory cannot be read'), r.stdout


def test_the_plain_build_imports_no_click(tmp_path: Path) -> None:
    write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    r = cli(cwd=tmp_path, env=clean_env(PYTHONPROFILEIMPORTTIME="1"))
    assert r.returncode == 0, r.stderr
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")}
    assert "assetbuild.scheduler" in imported  # (it built: the list is the build's)
    assert not {m for m in imported if m == "click" or m.startswith(("click.", "assetbuild.cli"))}
    # nor what only some builds need: a logger for an asset that logs (capture.LazyLogger), the
    # futures of workers (executors.Ended), a failure's traceback
    assert not imported & {"logging", "concurrent.futures", "traceback"}, imported & {"logging", "concurrent.futures", "traceback"}


GC_ASSETFILE = '''\
import gc

from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="json", path="out/on.json")
def on(raw):
    return [raw.read_text(), gc.isenabled()]
'''


def test_assets_run_with_the_collector_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry point looks with the garbage collector off: the assets it then builds, whole
    or in a slice, run with it on (cyclic garbage an asset makes is collected)."""
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "0")  # (tests/conftest.py: no slices under the check)
    root = write(tmp_path, {"AssetFile": GC_ASSETFILE, "data/raw.txt": "1\n"})
    r = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert (root / "out/on.json").read_text() == '["1\\n",true]'
    cli(cwd=root)  # (decides again what the first build wrote in its clock tick)
    for n in range(2, 4):
        (root / "data/raw.txt").write_text(f"{n}\n")
        r = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
        assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
        assert (root / "out/on.json").read_text() == f'["{n}\\n",true]'
    assert "the build loads 1 of the 1 assets" in r.stderr, r.stderr  # (a slice, by then)


STREAMS_ASSETFILE = ASSETFILE + '''

@asset(io="json")
def stdout_is_null(raw):
    import os
    return os.path.samestat(os.fstat(1), os.stat(os.devnull))
'''


@pytest.mark.parametrize("closed", [(1,), (2,), (1, 2)], ids=[">&-", "2>&-", ">&- 2>&-"])
def test_a_closed_standard_stream_loses_no_work(tmp_path: Path, closed: tuple[int, ...]) -> None:
    """``assetbuild >&-`` (or ``2>&-``, or both): the build runs and records its work, on every
    path (the CLI, the plain build, the snapshot's answer), without a traceback. Output written
    to a closed stdout ends the command as a reader that went away does (status 1), with one
    line on stderr; ``-q`` writes none and ends with 0. /dev/null holds a closed descriptor, so
    no file the build opens is an asset's stdout. (Python's sys.stdout was None: a traceback,
    status 1, nothing built.)"""
    import subprocess

    from projects import cli_cmd

    root = write(tmp_path, {"AssetFile": STREAMS_ASSETFILE})
    steps = [(["build", "-v"], "0", "1 2\n"),  # the CLI
             ([], "explain", "3 4\n"),  # the plain build (no snapshot yet)
             ([], "explain", None),  # the snapshot answers
             (["-q"], "explain", "5 6\n")]  # nothing to print
    for args, mode, data in steps:
        if data is not None:
            (root / "data").mkdir(exist_ok=True)
            (root / "data/raw.txt").write_text(data)
        else:  # (a second build settles what the last wrote in its clock tick)
            assert cli(cwd=root, env=clean_env(ASSETBUILD_CHECK_SNAPSHOT="0")).returncode == 0
        r = subprocess.run(cli_cmd(*args), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, env=clean_env(ASSETBUILD_SNAPSHOT=mode, ASSETBUILD_CHECK_SNAPSHOT="0"),
                           preexec_fn=lambda: [os.close(fd) for fd in closed], timeout=120)
        said = [ln for ln in r.stderr.splitlines() if not ln.startswith("snapshot:")]
        lost = 1 in closed and "-q" not in args
        if 2 in closed:
            assert r.returncode == (1 if lost else 0) and r.stderr == "", (args, r.returncode, r.stderr)
        else:
            assert "Traceback" not in r.stderr, r.stderr
            assert r.returncode == (1 if lost else 0), (args, r.returncode, r.stderr)
            assert said == (["assetbuild: error: standard output is closed: what this command printed there "
                             "was lost"] if lost else []), (args, r.stderr)
            if data is None:
                assert "snapshot: answers" in r.stderr, r.stderr
        status = cli("status", "--check", cwd=root, env=clean_env(ASSETBUILD_CHECK_SNAPSHOT="0"))
        assert status.returncode == 0, (args, status.stdout)  # (every asset fresh: the work recorded)
        total = sum(int(x) for x in (root / "data/raw.txt").read_text().split())
        assert (root / "out/total.json").read_text() == str(total)
    assert cli("show", "stdout_is_null", "--json", cwd=root).stdout == "true\n"


@pytest.mark.parametrize("args", [[], ["list"]])  # (the plain build, and a command through click)
def test_a_fault_in_c_code_says_so_rather_than_nothing(tmp_path: Path, args: list[str]) -> None:
    """A fault inside C code (LMDB reading past the end of an index damaged in a way
    ``store.pagecheck`` does not foresee is SIGBUS, not an exception) ends the command with
    faulthandler's report of where, not without a word. A program that imports assetbuild keeps
    its own fault handling: only the command turns it on."""
    import signal
    import subprocess
    import sys

    write(tmp_path, {"AssetFile": "import os, signal\nos.kill(os.getpid(), signal.SIGBUS)\n"})
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == -signal.SIGBUS and "Fatal Python error: Bus error" in r.stderr, r.stderr
    code = "import faulthandler\nimport assetbuild.entry, assetbuild.store\nprint(faulthandler.is_enabled())\n"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


SURROGATE_ASSETFILE = '''\
import json
import os
from pathlib import Path
from assetbuild import asset, observable_source, source

raw = source("raw", os.fsdecode(b"caf\\xe9.txt"))  # a file name that is not UTF-8


@observable_source
def api():
    return json.loads(Path("api.json").read_text())["etag"]  # half an emoji, as an API may cut it


@asset(io="json")
def mirror(api, raw):
    return raw.read_text()
'''


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_text_that_is_not_unicode_is_printed_escaped_and_json_stays_json(tmp_path: Path, errors: str) -> None:
    """A version holding a lone surrogate was recorded by the build, then ``observe`` and ``log``
    died of a UnicodeEncodeError (a strict stdout, or surrogateescape's: a C.UTF-8 locale's). It
    is printed as its escape, which is the same in a JSON string; a file name's undecodable bytes
    still print as the bytes they were."""
    root = write(tmp_path, {"AssetFile": SURROGATE_ASSETFILE, "api.json": '{"etag": "v1 \\ud83d"}'})
    (root / os.fsdecode(b"caf\xe9.txt")).write_text("x")
    env = clean_env(PYTHONIOENCODING=f"utf-8:{errors}")
    assert cli("build", cwd=root, env=env).returncode == 0
    for args in (["observe"], ["log", "api"], ["log", "mirror"], ["show", "mirror"], ["status", "-v"]):
        r = cli(*args, cwd=root, env=env)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
    assert "api  v1 \\ud83d" in cli("observe", cwd=root, env=env).stdout
    r = cli("observe", "--json", cwd=root, env=env)
    assert json.loads(r.stdout)["observations"][0]["version"] == "v1 \ud83d"
    r = cli("log", "api", "--json", cwd=root, env=env)
    assert json.loads(r.stdout)["events"][0]["data_version"] == "v1 \ud83d", r.stdout
    out = subprocess.run(cli_cmd("list"), cwd=root, env=env, capture_output=True).stdout
    # the undecodable byte goes out as it came in, where the stream takes it so; else escaped
    assert (b"caf\xe9.txt" if errors == "surrogateescape" else b"caf\\udce9.txt") in out, out


def test_a_shell_completion_request_in_a_project_completes_and_never_builds(tmp_path: Path) -> None:
    """Click's completion protocol (``_ASSETBUILD_COMPLETE``) reads an empty command line, which
    the fast path takes for a build of everything: inside a project, before the snapshot exists
    (the plain build) and after (its answer), the request gets the script or the candidates, and
    the assets' code never runs."""
    write(tmp_path, {"AssetFile": "from assetbuild import asset\n\n\n@asset\ndef a():\n"
                                  "    open('RAN', 'a').write('x')\n    return 1\n",
                     "sub/notes.txt": ""})
    for built in (False, True):
        if built:
            assert cli(cwd=tmp_path).returncode == 0 and cli(cwd=tmp_path).returncode == 0
            (tmp_path / "RAN").unlink()
        script = cli(cwd=tmp_path, env=clean_env(_ASSETBUILD_COMPLETE="bash_source"))
        assert script.returncode == 0 and "_assetbuild_completion" in script.stdout, script.stdout + script.stderr
        words = cli(cwd=tmp_path / "sub",  # (from a folder below it too: the project is looked for upwards)
                    env=clean_env(_ASSETBUILD_COMPLETE="bash_complete", COMP_WORDS="assetbuild st", COMP_CWORD="1"))
        assert words.returncode == 0 and "plain,status" in words.stdout.splitlines(), words.stdout + words.stderr
        assert not (tmp_path / "RAN").exists()
