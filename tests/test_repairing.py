"""Repairing a build in flight (``assetbuild.repairing``): an input whose stored value does not
load. Stored by an earlier build, the asset runs again (once); built by this one, its IO manager
cannot read back what it just wrote, and the asset fails in one line naming the manager, its value
dropped (its history says so). Real commands, with the IO manager installed as a plugin."""

from __future__ import annotations

import json
import os
from pathlib import Path

from projects import clean_env, cli, run_counter, take_runs, write

PLUGIN = '''
import json

import assetbuild


class Unreadable:
    """Writes JSON; reads an int (or, with $AB_LOAD_OK, JSON): load cannot read back what dump
    wrote."""

    name = "unreadable"
    version = "1"

    def dump(self, value):
        return json.dumps(value).encode()

    def load(self, data):
        import os
        return json.loads(data) if os.environ.get("AB_LOAD_OK") else int(data)


@assetbuild.hookimpl
def register_io_managers():
    return [Unreadable()]
'''

ASSETFILE = "from assetbuild import asset\n" + run_counter() + '''

@asset(io="unreadable")
def a():
    _ran("a")
    return {"x": 1}


@asset(io="json")
def b(a):
    _ran("b")
    return a


@asset(io="json")
def c():
    return 3
'''

ERROR = ("its IO manager 'unreadable' cannot load the value it stored (ValueError: invalid literal for "
         "int() with base 10: b'{\"x\": 1}'); the value is dropped from the cache")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The plugin installed (an entry point, as a distribution's), the runs counted."""
    site = tmp_path / "site"
    (site / "unreadable-0.1.dist-info").mkdir(parents=True, exist_ok=True)
    (site / "unreadable-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\nunreadable = unreadable\n")
    (site / "unreadable.py").write_text(PLUGIN)
    env = clean_env(PYTHONPATH=os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH")))),
                    AB_RUNS=str(tmp_path / "runs"), **extra)
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    (tmp_path / "runs").mkdir(exist_ok=True)
    return env


def _results(r) -> dict[str, tuple[str, str | None]]:
    return {x["asset"]: (x["status"], x["error"]) for x in json.loads(r.stdout)["results"]}


def test_a_value_its_io_manager_cannot_read_back_fails_its_asset_once(tmp_path: Path) -> None:
    """It ran twice ("repaired"), was reported built, its reader skipped as if it had failed,
    and its record kept: every later build ran it twice again, status said fresh, show gave a
    traceback. Now show says it has no stored value, and why."""
    root = write(tmp_path / "p", {"AssetFile": ASSETFILE})
    env = _env(tmp_path)
    for _ in range(2):  # the next build does the same, no more
        r = cli("-k", "--json", cwd=root, env=env)
        assert r.returncode == 1, r.stderr
        assert _results(r) == {"a": ("failed", ERROR), "b": ("skipped", "not run: upstream 'a' failed"),
                               "c": ("built" if _ == 0 else "cached", None)}
        assert "could not be used" not in r.stderr, r.stderr  # (no repair: a rerun cannot help)
        assert take_runs(tmp_path / "runs") == {"a": 1}
    r = cli("-k", cwd=root, env=env)  # the text: the one line of the failure, naming the manager
    assert r.returncode == 1 and r.stderr == f"FAILED    a: {ERROR}\n", r.stdout + r.stderr
    st = cli("status", cwd=root, env=env).stdout
    assert "failed  a" in st and "fresh   a" not in st, st  # (no record of a value that does not load)
    show = cli("show", "a", cwd=root, env=env)
    assert show.returncode == 1 and "Traceback" not in show.stderr, show.stderr
    assert show.stderr == f"assetbuild: error: asset 'a' has no stored value: its last run failed ({ERROR})\n"


def test_a_value_dropped_as_unloadable_is_said_so_by_its_history_and_show(tmp_path: Path) -> None:
    """The build said "nothing of it was recorded", but the run kept the materialization as if
    it held, and ``show --version 0`` put the missing value down to cache gc, which never ran.
    Now the failure that follows the materialization in the history says the value was dropped,
    and why; show says so too. The summary counts it once, failed."""
    root = write(tmp_path / "p", {"AssetFile": ASSETFILE})
    env = _env(tmp_path, ASSETBUILD_NOW="2024-03-01T09:00:00Z")
    r = cli("-k", cwd=root, env=env)
    assert r.returncode == 1 and "1 built, 0 cached, 0 restored, 1 failed, 1 skipped" in r.stdout, r.stdout  # (c)
    events = json.loads(cli("log", "a", "--json", cwd=root, env=env).stdout)["events"]
    assert [(e["kind"], e["run"]) for e in events] == [("failed", "000001"), ("materialized", "000001")]
    failed, made = events
    assert failed["key"] == made["key"] and failed["error"] == ERROR
    assert [x["code"] for x in failed["reasons"]] == ["never-built", "dropped"], failed["reasons"]
    log = cli("log", "a", cwd=root, env=env).stdout
    assert "000001  failed" in log and "the value is dropped from the cache" in log, log
    run = json.loads(cli("runs", "show", "1", "--json", cwd=root, env=env).stdout)
    assert run["counts"] == {"failed": 1, "skipped": 1, "built": 1}, run["counts"]
    assert [(e["asset"], e["kind"]) for e in run["events"]][:2] == [("a", "materialized"), ("a", "failed")]
    show = cli("show", "a", "--version", "0", cwd=root, env=env)
    assert (show.returncode, show.stdout) == (1, ""), show.stderr
    assert show.stderr == (f"assetbuild: error: version 0 of 'a' (key {made['key'][:12]}, built 2024-03-01T09:00:00Z) "
                           "is no longer in the cache: its value could not be loaded back, so run 000001 dropped it "
                           "(assetbuild log a)\n"), show.stderr


def test_a_stored_value_that_stopped_loading_is_rebuilt_once_then_fails(tmp_path: Path) -> None:
    """A value an earlier build stored and loaded, which the manager no longer reads (its load
    changed, its version did not): the asset runs again once, as for damaged bytes; then, its
    fresh value not loading either, it fails as above."""
    root = write(tmp_path / "p", {"AssetFile": ASSETFILE})
    r = cli(cwd=root, env=_env(tmp_path, AB_LOAD_OK="1"))
    assert r.returncode == 0 and take_runs(tmp_path / "runs") == {"a": 1, "b": 1}, r.stdout + r.stderr
    show = cli("show", "a", cwd=root, env=_env(tmp_path))  # (a traceback)
    assert (show.returncode, show.stdout) == (1, ""), show.stderr
    assert show.stderr == ("assetbuild: error: the stored value of 'a' cannot be loaded by its IO manager "
                           "'unreadable': ValueError: invalid literal for int() with base 10: b'{\"x\": 1}'\n")
    (root / "AssetFile").write_text(ASSETFILE.replace("return a\n", "return [a]\n"))  # b runs again
    r = cli("-k", "--json", cwd=root, env=_env(tmp_path))
    assert r.returncode == 1 and _results(r)["a"] == ("failed", ERROR), r.stdout
    assert "the stored output of 'a' could not be used" in r.stderr  # (the repair, once)
    assert take_runs(tmp_path / "runs") == {"a": 1}


SKIPPING = "from assetbuild import Skip, asset, source\n" + run_counter() + '''
n = source("n", "n.txt")


@asset(io="unreadable", output_required=False)
def a(n):
    _ran("a")
    k = int(n.read_text())
    return Skip("odd") if k % 2 else {"x": k}


@asset(io="json")
def b(a):
    _ran("b")
    return a
'''


def test_a_skip_whose_previous_value_stopped_loading_skips_the_readers_once(tmp_path):
    """An asset that returned Skip this build, whose previous value (kept current for its
    readers) no longer loads: it has no usable value, and its readers are skipped with
    ``no-output``, no failure; it is not run again. The repair ran it again, took its second
    skip for a failure ("not run: asset 'a' failed: failed", exit 1 with "0 failed"), reported
    it twice, and warned that "its input 'a'" of 'a' could not be loaded."""
    root = write(tmp_path / "p", {"AssetFile": SKIPPING, "n.txt": "2"})
    for n in ("2", "3"):  # a value, then a skip that keeps it
        (root / "n.txt").write_text(n)
        r = cli(cwd=root, env=_env(tmp_path, AB_LOAD_OK="1"))
        assert r.returncode == 0, r.stdout + r.stderr
    take_runs(tmp_path / "runs")
    (root / "AssetFile").write_text(SKIPPING.replace("return a\n", "return [a]\n"))  # b runs again
    r = cli(cwd=root, env=_env(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x for x in r.stdout.splitlines() if x.startswith("skipped")] == [
        "skipped   a  (odd)", "skipped   b  (upstream 'a' produced no output)"], r.stdout
    assert "0 built, 0 cached, 0 restored, 0 failed, 2 skipped" in r.stdout
    assert r.stderr == ("warning: 'a' returned Skip, and its previous value cannot be used (ValueError: invalid "
                        "literal for int() with base 10: b'{\"x\": 2}'): its readers are skipped as if it had "
                        "none\n"), r.stderr
    assert take_runs(tmp_path / "runs") == {"a": 1}
    r = cli("--json", cwd=root, env=_env(tmp_path))
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"] is True, r.stdout + r.stderr
    assert {x["asset"]: (x["status"], x["skip_reason"]) for x in doc["results"]} == {
        "a": ("skipped", "odd"), "b": ("skipped", "upstream 'a' produced no output")}


def test_a_repair_whose_run_skips_leaves_the_asset_without_a_value(tmp_path):
    """A cached value that stopped loading is repaired: the asset runs again, and this time
    returns Skip. The value it would keep is the one that did not load: its readers are skipped
    with ``no-output``, and the build succeeds. The skip was taken for a failure ("asset 'a'
    failed: failed", exit 1)."""
    text = SKIPPING.replace('    return Skip("odd")', '    import os\n    if os.environ.get("AB_SKIP"):\n'
                                                     '        return Skip("told")\n    return Skip("odd")')
    root = write(tmp_path / "p", {"AssetFile": text, "n.txt": "2"})
    assert cli(cwd=root, env=_env(tmp_path, AB_LOAD_OK="1")).returncode == 0
    take_runs(tmp_path / "runs")
    (root / "AssetFile").write_text(text.replace("return a\n", "return [a]\n"))  # b runs again
    r = cli("--json", cwd=root, env=_env(tmp_path, AB_SKIP="1"))
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"] is True, r.stdout + r.stderr
    assert {x["asset"]: (x["status"], x["skip_reason"], x["data_version"]) for x in doc["results"]} == {
        "a": ("skipped", "told", None), "b": ("skipped", "upstream 'a' produced no output", None)}
    assert "'a' returned Skip, and its previous value cannot be used (ValueError: " in r.stderr, r.stderr
    assert take_runs(tmp_path / "runs") == {"a": 1}
