"""Resources: ``@resource`` objects that assets receive by naming them.

Each resource writes an event line when it is made and when it is torn down (with its process
id), so a test reads exactly how often, where and in which order that happened, across worker
processes. Real builds, a real LMDB store, real worker processes and the real command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from projects import Project, clean_env, cli, cli_cmd, process_alive

import assetbuild
from assetbuild.errors import ConfigError, DefinitionError, SelectionError
from assetbuild.keys import KeyParts, explain_change, make_key

PRELUDE = '''
import os
from assetbuild import asset, resource, source

EVENTS = {events!r}


def _event(*words):
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (" ".join(str(w) for w in words) + "\\n").encode())
    os.close(fd)
'''

ASSETFILE = '''

@resource(version="1")
def warehouse(context):
    _event("made", context.resource, os.getpid())
    conn = {{"dir": str(context.project_dir), "closed": False}}
    yield conn
    conn["closed"] = True
    _event("down", "warehouse", os.getpid())


@resource
def answer():
    _event("made", "answer", os.getpid())
    return 42


@asset(io="json")
def users(warehouse):
    _event("ran", "users", os.getpid())
    assert not warehouse["closed"]
    return {users_value!r}


@asset(io="json")
def orders(warehouse, answer):
    _event("ran", "orders", os.getpid())
    return answer


@asset(io="json", ins={{"db": "warehouse"}})
def report_db(db):
    _event("ran", "report_db", os.getpid())
    return 1


@asset(io="json")
def report(users, orders):
    _event("ran", "report", os.getpid())
    return [users, orders]


@asset(io="json", ins={{"db": "warehouse"}})
def spare(db):
    _event("ran", "spare", os.getpid())
    return 1


@asset(io="json")
def plain():
    _event("ran", "plain", os.getpid())
    return 0
'''


def write(project: Project, tmp_path: Path, body: str = ASSETFILE, **fmt: object) -> Path:
    events = tmp_path / "events"
    fmt.setdefault("users_value", "u")
    text = PRELUDE.format(events=str(events)) + (body.format(**fmt) if body is ASSETFILE or "{{" in body else body)
    project.write("AssetFile", text, dedent=False)
    return events


def events(path: Path) -> list[tuple[str, str, int]]:
    """(what, name, pid) per line, then start afresh."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        what, name, pid = line.split()
        out.append((what, name, int(pid)))
    path.unlink()
    return out


def made(evs: list[tuple[str, str, int]], name: str = "warehouse") -> list[int]:
    return [pid for what, n, pid in evs if what == "made" and n == name]


def down(evs: list[tuple[str, str, int]], name: str = "warehouse") -> list[int]:
    return [pid for what, n, pid in evs if what == "down" and n == name]


def ok(r) -> list[str]:
    assert r.ok, [(x.asset, x.status, x.error, x.traceback) for x in r.results if x.status != "cached"]
    return sorted(r.names("built"))


# --- lifetime ------------------------------------------------------------------------------------

def test_lazy_a_build_that_uses_none_and_a_null_build_make_none(project, tmp_path):
    ev = write(project, tmp_path)
    assert ok(project.build("plain")) == ["plain"]
    assert events(ev) == [("ran", "plain", os.getpid())]
    ok(project.build())
    evs = events(ev)
    assert made(evs) == [os.getpid()] and down(evs) == [os.getpid()]
    assert made(evs, "answer") == [os.getpid()]
    assert ok(project.build()) == []  # a null build
    assert events(ev) == []
    assert ok(project.build(dry_run=True)) == [] and events(ev) == []  # nor does -n, status or why
    project.status()
    assetbuild.why("users", project_dir=project.root)
    assert events(ev) == []


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_made_once_per_build_by_several_users_and_torn_down_after_the_last(project, tmp_path, executor):
    ev = write(project, tmp_path)
    for _ in range(2):  # once per build, each build
        ok(project.build(executor=executor, jobs=4, force=True))
        evs = events(ev)
        assert made(evs) == [os.getpid()] and down(evs) == [os.getpid()]
        assert made(evs, "answer") == [os.getpid()] and down(evs, "answer") == []  # a plain return: no teardown
        ran = [i for i, e in enumerate(evs) if e[0] == "ran" and e[1] in ("users", "orders", "spare")]
        assert len(ran) == 3
        assert evs.index(("down", "warehouse", os.getpid())) > max(ran)


def test_process_workers_make_it_once_each_and_tear_it_down_when_they_exit(project, tmp_path):
    ev = write(project, tmp_path)
    ok(project.build(executor="processes", jobs=2))
    evs = events(ev)
    users = {pid for what, n, pid in evs if what == "ran" and n in ("users", "orders", "spare", "report_db")}
    assert os.getpid() not in users
    makers = made(evs)
    assert len(makers) == len(set(makers)) >= 1  # at most once per worker
    assert set(makers) <= users and os.getpid() not in makers
    assert sorted(down(evs)) == sorted(makers)  # each worker tore its own down as it exited


def test_what_a_resource_logs_and_prints_as_it_is_made_comes_with_the_asset_that_needed_it(project, tmp_path):
    body = '''

@resource
def talker(context):
    context.log.info("connecting to %s", context.resource)
    print("made in", context.project_dir.name)
    return 1


@asset(io="json")
def needs(talker):
    return talker
'''
    write(project, tmp_path, body)
    for executor in ("serial", "processes"):
        r = project.build(executor=executor, force=True)
        (res,) = r.results
        assert [text for _, text in res.logs] == ["connecting to talker", "made in proj"], executor


def test_teardown_runs_in_reverse_order_of_making(project, tmp_path):
    body = '''

@resource
def first():
    _event("made", "first", os.getpid())
    yield 1
    _event("down", "first", os.getpid())


@resource
def second():
    _event("made", "second", os.getpid())
    yield 2
    _event("down", "second", os.getpid())


@asset(io="json")
def both(first, second):
    return first + second
'''
    ev = write(project, tmp_path, body)
    ok(project.build())
    assert [(w, n) for w, n, _ in events(ev)] == [("made", "first"), ("made", "second"),
                                                 ("down", "second"), ("down", "first")]
    assert project.value("both") == 3


def test_teardown_on_failure_and_on_ctrl_c(project, tmp_path):
    body = '''

@resource
def conn():
    _event("made", "conn", os.getpid())
    yield "c"
    _event("down", "conn", os.getpid())


@asset(io="json")
def fails(conn):
    raise RuntimeError("no")


@asset(io="json")
def interrupted(conn):
    import signal
    if os.environ.get("AB_INTERRUPT"):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C while it runs
    return 1
'''
    ev = write(project, tmp_path, body)
    r = project.build("fails")
    assert not r.ok and r.results[0].status == "failed"
    assert [(w, n) for w, n, _ in events(ev)] == [("made", "conn"), ("down", "conn")]
    os.environ["AB_INTERRUPT"] = "1"
    try:
        with pytest.raises(KeyboardInterrupt):
            project.build("interrupted")
    finally:
        del os.environ["AB_INTERRUPT"]
    assert [(w, n) for w, n, _ in events(ev)] == [("made", "conn"), ("down", "conn")]


def test_threads_wanting_it_at_once_make_it_once(project, tmp_path):
    body = '''

import threading


@resource
def slow():
    _event("made", "slow", threading.get_ident())
    import time
    time.sleep(0.3)  # the other threads ask for it meanwhile
    return "s"
''' + "".join(f'''

@asset(io="json")
def wants{i}(slow):
    return {i}
''' for i in range(3))
    ev = write(project, tmp_path, body)
    ok(project.build(executor="threads", jobs=3))
    assert len(made(events(ev), "slow")) == 1


def test_a_cancelled_process_build_tears_down_in_its_workers(project, tmp_path):
    body = '''

@resource
def conn():
    _event("made", "conn", os.getpid())
    yield "c"
    _event("down", "conn", os.getpid())


@asset(io="json")
def stops_the_build(conn):
    import signal
    import time
    os.kill(int(os.environ["AB_BUILD_PID"]), signal.SIGINT)  # Ctrl-C in the build
    time.sleep(60)  # ended by the build
    return 1
'''
    ev = write(project, tmp_path, body)
    os.environ["AB_BUILD_PID"] = str(os.getpid())
    try:
        with pytest.raises(KeyboardInterrupt):
            project.build(executor="processes", jobs=2)
    finally:
        del os.environ["AB_BUILD_PID"]
    evs = events(ev)
    (worker,) = made(evs, "conn")
    assert worker != os.getpid() and down(evs, "conn") == [worker]


def test_a_timed_asset_makes_and_tears_down_in_its_own_worker(project, tmp_path):
    ev = write(project, tmp_path, ASSETFILE.replace('@asset(io="json")\ndef users(', '@asset(io="json", timeout=60)\ndef users('))
    ok(project.build("users"))  # -j 1, serial: the timed asset runs in a worker process of its own
    evs = events(ev)
    (worker,) = made(evs)
    assert worker != os.getpid() and down(evs) == [worker]


def test_a_failing_teardown_is_a_warning(project, tmp_path):
    body = '''

@resource
def flaky():
    yield 1
    raise OSError("cannot close")


@asset(io="json")
def uses(flaky):
    return flaky
'''
    write(project, tmp_path, body)
    r = cli("build", cwd=project.root)
    assert r.returncode == 0, r.stderr
    assert "resource 'flaky': its teardown failed: OSError: cannot close" in r.stderr
    assert "Traceback" not in r.stderr


HANGING_TEARDOWN = '''

@resource
def calm():
    yield "c"
    _event("down", "calm", os.getpid())


@resource
def slow():
    yield "s"
    _event("tearing", "slow", os.getpid())
    import time
    time.sleep(600)  # a teardown that waits on something that never comes


@asset(io="json")
def uses(calm, slow):
    return 1
'''


@pytest.mark.parametrize("args", [(), ("-j", "2", "--executor", "processes")], ids=["serial", "processes"])
def test_ctrl_c_during_a_hanging_teardown_ends_the_build_with_130(project, tmp_path, args):
    """The build's end waits for teardowns (in the build, or in its workers): a Ctrl-C then
    still ends it at once with 130, after the other teardowns ran, and no worker outlives it."""
    ev = write(project, tmp_path, HANGING_TEARDOWN)
    proc = subprocess.Popen(cli_cmd(*args, "build"), cwd=project.root, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (ev.exists() and "tearing" in ev.read_text()):
        time.sleep(0.05)
    tearing = [pid for what, _, pid in events(ev) if what == "tearing"]
    assert tearing, "the teardown never began"
    proc.send_signal(signal.SIGINT)  # the build only, as a terminal's Ctrl-C would reach it first
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 20 s after Ctrl-C: {out} {err}")
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    if not args:  # in the build's process: said, and the other teardown still ran
        assert "resource 'slow': its teardown was interrupted" in err
        assert [w for w, _, _ in events(ev)] == ["down"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_alive(tearing[0]):
        time.sleep(0.05)
    assert not process_alive(tearing[0]), "a worker outlived the interrupted build"


# --- failures ------------------------------------------------------------------------------------

BROKEN = '''

@resource
def db():
    _event("made", "db", os.getpid())
    return connect()


def connect():
    raise ConnectionError("db is down")


@asset(io="json")
def one(db):
    return 1


@asset(io="json")
def two(db):
    return 2


@asset(io="json")
def three(two):
    return 3


@asset(io="json")
def other():
    return 4
'''


def test_a_resource_that_cannot_be_made_fails_its_users_with_its_traceback(project, tmp_path):
    ev = write(project, tmp_path, BROKEN)
    r = project.build(keep_going=True)
    by = {x.asset: x for x in r.results}
    assert not r.ok
    for name in ("one", "two"):
        assert by[name].status == "failed"
        assert by[name].error == "resource 'db' could not be created: ConnectionError: db is down"
        assert "in connect" in by[name].traceback and "AssetFile" in by[name].traceback
        assert "assetbuild/resources.py" not in by[name].traceback  # the user's frames only
    assert by["three"].status == "skipped" and by["other"].status == "built"
    assert made(events(ev), "db") == [os.getpid()]  # tried once in the build, not once per user
    r = cli("build", "-k", cwd=project.root)
    assert r.returncode == 1
    assert "resource 'db' could not be created: ConnectionError: db is down" in r.stdout + r.stderr


OWN_INTERRUPT = '''

@resource
def db():
    raise KeyboardInterrupt  # a library's own, no Ctrl-C


@asset(io="json")
def one(db):
    return 1


@asset(io="json")
def other():
    return 4
'''


@pytest.mark.parametrize("executor", ["serial", "threads", "processes"])
def test_a_keyboard_interrupt_a_resource_raises_itself_fails_its_users(project, tmp_path, executor):
    """Only a real Ctrl-C ends a build: a resource's own KeyboardInterrupt is its failure."""
    write(project, tmp_path, OWN_INTERRUPT)
    r = project.build(keep_going=True, executor=executor, jobs=1 if executor == "serial" else 2)
    by = {x.asset: x for x in r.results}
    assert by["other"].status == "built"
    assert by["one"].status == "failed"
    assert by["one"].error.startswith("resource 'db' could not be created: KeyboardInterrupt (raised by its "
                                      "code without a Ctrl-C"), by["one"].error
    assert "raise KeyboardInterrupt" in by["one"].traceback


def test_a_keyboard_interrupt_a_resource_raises_itself_exits_1(project, tmp_path):
    write(project, tmp_path, OWN_INTERRUPT)
    r = cli("build", "-k", cwd=project.root)
    assert r.returncode == 1, r.stderr
    assert "resource 'db' could not be created: KeyboardInterrupt" in r.stdout + r.stderr
    assert "built     other" in r.stdout


# --- overrides -----------------------------------------------------------------------------------

def test_an_override_is_used_as_it_is_and_changes_no_key(project, tmp_path):
    ev = write(project, tmp_path)
    fake = {"dir": "fake", "closed": False}
    r = project.build("users", "orders", resources={"warehouse": fake, "answer": 7})
    assert ok(r) == ["orders", "users"]
    assert events(ev) == [("ran", "users", os.getpid()), ("ran", "orders", os.getpid())] or \
        sorted(events(ev)) == sorted([("ran", "users", os.getpid()), ("ran", "orders", os.getpid())])
    assert fake == {"dir": "fake", "closed": False}  # never torn down
    assert project.value("orders") == 7
    # the keys are the declared resources': without the override, nothing reruns
    assert ok(project.build("users", "orders")) == []
    assert events(ev) == []
    with pytest.raises(ConfigError, match="resources= names 'warehous', which is not a resource"):
        project.build(resources={"warehous": fake})


def test_an_override_travels_to_process_workers(project, tmp_path):
    ev = write(project, tmp_path)
    r = project.build("orders", executor="processes", jobs=2, resources={"answer": 5})
    ok(r)
    assert made(events(ev), "answer") == []
    assert project.value("orders") == 5


def test_functions_stay_plain_functions(project, tmp_path):
    write(project, tmp_path)
    fns = assetbuild.functions(project_dir=project.root)
    assert fns["orders"]({"closed": False}, 3) == 3
    assert "warehouse" not in fns


# --- keys ----------------------------------------------------------------------------------------

def test_a_version_enters_its_users_keys_and_a_body_without_one_does_not(project, tmp_path):
    ev = write(project, tmp_path)
    ok(project.build())
    events(ev)
    write(project, tmp_path, ASSETFILE.replace('version="1"', 'version="2"'))
    st = project.status()
    assert [(x.code, x.detail) for x in st["users"].reasons] == [
        ("resource-changed", "warehouse version '1' -> '2'")]
    assert st["plain"].state == "fresh"
    assert ok(project.build()) == ["orders", "report_db", "spare", "users"]  # report: same bytes upstream
    info = assetbuild.why("users", project_dir=project.root)
    assert info["resources"] == [{"name": "warehouse", "old": "2", "new": "2", "changed": False}]
    # back to "1": the earlier outputs are reused
    write(project, tmp_path)
    assert ok(project.build()) == []
    # a resource without version=: its body is not in any key (a test double changes nothing)
    write(project, tmp_path, ASSETFILE.replace("return 42", "return 40 + 2"))
    assert ok(project.build()) == []
    # a versioned resource dropped from an asset, or newly used: said so
    old = KeyParts("c", {}, (), "json@1", None, resources=(("warehouse", "1"),))
    new = KeyParts("c", {}, (), "json@1", None)
    assert [(x.code, x.detail) for x in explain_change(old, new)] == [
        ("resource-changed", "warehouse (version '1') removed")]
    assert [x.detail for x in explain_change(new, old)] == ["warehouse (version '1') added"]


def test_keys_without_resources_are_unchanged():
    base = KeyParts("c", {}, (("a", "1"),), "json@1", None)
    assert make_key("x", base) == make_key("x", KeyParts("c", {}, (("a", "1"),), "json@1", None, resources=()))
    assert make_key("x", base) != make_key("x", KeyParts("c", {}, (("a", "1"),), "json@1", None,
                                                          resources=(("w", "1"),)))


# --- definitions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code, message, line", [
    ("@resource\ndef r(orders):\n    return 1\n",
     "resource 'r' takes parameter 'orders': a resource cannot depend on assets", 4),
    ("@resource(version=2)\ndef r():\n    return 1\n", "resource 'r': version must be a non-empty str", 4),
    ("@resource\nasync def r():\n    return 1\n", "resource 'r' is an async function", 4),
    ("@resource\ndef context():\n    return 1\n", "'context' cannot name a resource", 4),
    ("@resource\ndef r():\n    return 1\n\n@asset(deps=['r'])\ndef a():\n    return 1\n",
     "deps names the resource 'r'; a resource is not data", 8),
])
def test_definition_errors(project, code, message, line):
    project.write("AssetFile", "from assetbuild import asset, resource\n\n\n" + code, dedent=False)
    with pytest.raises(DefinitionError, match=message) as e:
        project.build()
    assert f"AssetFile:{line}" in str(e.value)
    r = cli("build", cwd=project.root)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_a_name_both_a_resource_and_an_asset_is_a_definition_error(project):
    project.write("AssetFile", "from assetbuild import asset, resource\n\n\n"
                  "@resource\ndef db():\n    return 1\n\n\n@asset(name='db')\ndef make_db():\n    return 2\n",
                  dedent=False)
    r = cli("build", cwd=project.root)
    assert r.returncode == 2, r.stderr
    assert "'db' names both a resource (" in r.stderr and "AssetFile:4) and an asset (" in r.stderr
    assert "AssetFile:9:" in r.stderr and "Traceback" not in r.stderr


def test_a_resource_is_not_selectable(project, tmp_path):
    write(project, tmp_path)
    with pytest.raises(SelectionError, match="'warehouse' is a resource, not an asset"):
        project.build("warehouse")
    # show describes it instead (it has no stored value)
    r = cli("show", "warehouse", "--json", cwd=project.root)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["resource"] == "warehouse" and shown["used_by"] and shown["line"] > 0, shown


# --- list, graph -----------------------------------------------------------------------------------

def test_list_and_graph_show_resources_and_their_users(project, tmp_path):
    write(project, tmp_path)
    r = cli("list", "--json", cwd=project.root)
    assert r.returncode == 0, r.stderr
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert rows["warehouse"]["kind"] == "resource" and rows["warehouse"]["version"] == "1"
    assert rows["warehouse"]["used_by"] == ["users", "orders", "report_db", "spare"]
    assert rows["answer"]["used_by"] == ["orders"] and rows["answer"]["version"] is None
    assert rows["orders"]["resources"] == ["warehouse", "answer"] and rows["plain"]["resources"] == []
    r = cli("graph", "--format", "json", cwd=project.root)
    nodes = json.loads(r.stdout)["nodes"]
    assert {n["kind"] for n in nodes} == {"asset", "resource"}
    assert all("kind" in n for n in nodes)
    dot = cli("graph", cwd=project.root).stdout
    assert '"warehouse" [shape=component];' in dot and '"warehouse" -> "users" [style=dashed];' in dot
    mermaid = cli("graph", "--format", "mermaid", cwd=project.root).stdout
    assert '[/"warehouse"/]' in mermaid and "-.->" in mermaid
    text = cli("list", cwd=project.root).stdout
    rows = {line.split()[0]: " ".join(line.split()) for line in text.splitlines()}  # aligned columns
    assert rows["warehouse"] == "warehouse resource - - - - (version '1') used by users, orders, report_db, spare"


# --- watch mode ------------------------------------------------------------------------------------

def test_each_watch_cycle_is_a_build_that_makes_and_tears_down_its_own(project, tmp_path):
    from test_watch import Watching, edit

    body = '''
raw = source("raw", "data/in.txt")


@resource
def conn():
    _event("made", "conn", os.getpid())
    yield "c"
    _event("down", "conn", os.getpid())


@asset(io="text")
def upper(raw, conn):
    return raw.read_text().upper()
'''
    project.write("data/in.txt", "hello")
    ev = write(project, tmp_path, body)
    with Watching(project.root) as w:
        assert [(e[0], e[1]) for e in events(ev)] == [("made", "conn"), ("down", "conn")]
        n = len(w.cycles)
        edit(project.root / "data/in.txt", "bye")
        assert w.wait(n + 1)[-1].result.names("built") == ["upper"]
        assert [(e[0], e[1]) for e in events(ev)] == [("made", "conn"), ("down", "conn")]
    assert project.value("upper") == "BYE"


# --- the records that carry versions ---------------------------------------------------------------

def test_a_declared_name_and_cache_export_and_import_carry_resource_versions(project, tmp_path):
    body = '''

@resource(name="db", version="7", description="the warehouse")
def make_db():
    return "db"


@asset(io="json")
def reads(db):
    return db
'''
    write(project, tmp_path, body)
    assert cli("build", cwd=project.root).returncode == 0
    archive = tmp_path / "a.tar"
    r = cli("cache", "export", str(archive), cwd=project.root)
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    r = cli("cache", "import", str(archive), "--json", cwd=project.root,
            env=clean_env(ASSETBUILD_CACHE_DIR=str(fresh)))
    assert r.returncode == 0 and json.loads(r.stdout)["heads_added"] == 1, r.stdout + r.stderr
    write(project, tmp_path, body.replace('version="7"', 'version="8"'))
    r = cli("why", "reads", cwd=project.root, env=clean_env(ASSETBUILD_CACHE_DIR=str(fresh)))
    assert "resource-changed: db version '7' -> '8'" in r.stdout, r.stdout + r.stderr
    rows = {a["name"]: a for a in assetbuild.list_assets(project_dir=project.root)}
    assert rows["db"]["description"] == "the warehouse" and rows["reads"]["resources"] == ["db"]


# --- the scope itself ------------------------------------------------------------------------------

def test_a_closed_scope_makes_nothing_more_and_a_second_yield_is_a_warning(tmp_path):
    from assetbuild.definitions import ResourceDef
    from assetbuild.resources import ResourceFailed, ResourceScope

    def twice():
        yield 1
        yield 2

    warnings: list[str] = []
    scope = ResourceScope(str(tmp_path), warn=warnings.append)
    rdef = ResourceDef("twice", twice, None, __file__, 1, generator=True)
    assert scope.get(rdef) == 1 and scope.get(rdef) == 1 and scope.created == ["twice"]
    scope.close()
    assert warnings == ["resource 'twice' yielded more than once; the code after its second yield did not run"]
    with pytest.raises(ResourceFailed, match="resource 'twice' could not be created: the build has ended"):
        scope.get(rdef)


def test_releasing_a_builds_scopes_on_a_worker_leaves_other_builds_theirs(tmp_path):
    """A worker that outlives builds (Dask) holds the scopes of several at once: the end of one
    tears down its own resources only (every build's were torn down, under running assets)."""
    from assetbuild.definitions import ResourceDef
    from assetbuild.executor import release_resources
    from assetbuild.resources import worker_scope

    down: list[str] = []

    def conn():
        yield "live"
        down.append("torn")

    rdef = ResourceDef("conn", conn, None, __file__, 1, generator=True)
    mine, theirs = worker_scope("build-a", str(tmp_path)), worker_scope("build-b", str(tmp_path))
    assert mine.get(rdef) == theirs.get(rdef) == "live"
    assert release_resources(["build-a", "never-here"]) == 1 and down == ["torn"]
    assert worker_scope("build-b", str(tmp_path)) is theirs and not theirs.closed
    assert release_resources() == 1 and down == ["torn", "torn"]
