"""`assetbuild -j N` in a real subprocess: options, worker logs, Ctrl-C with running workers."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import clean_env, cli, process_alive, shared_assetfile

TWO = """\
from assetbuild import asset

@asset(io="json")
def a(context):
    context.log.info("a says hi")
    return 1

@asset(io="json")
def b(a):
    return a + 1
"""


def test_jobs_and_executor_options(tmp_path):
    (tmp_path / "AssetFile").write_text(TWO)
    r = cli("-j", "2", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [e["status"] for e in json.loads(r.stdout)["results"]] == ["built", "built"]
    assert "[a] a says hi" in r.stderr  # collected in the worker, printed by the parent
    r = cli("build", "-j", "auto", "--executor", "threads", "--force", cwd=tmp_path)
    assert r.returncode == 0 and "[a] a says hi" in r.stderr


def test_bad_options_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "AssetFile").write_text(TWO)
    allowed = "Invalid value for '-j' / '--jobs': must be a whole number of assets at once (1 to 4194304) or 'auto'"
    for args, text in [(["-j", "0"], f"{allowed}, got '0'"),
                       (["-j", "x"], f"{allowed}, got 'x'"),
                       (["-j", "1.5"], f"{allowed}, got '1.5'"),
                       (["-j", "99999999999999999999"], f"{allowed}, got '99999999999999999999'"),
                       (["run", "--once", "-j", "0"], f"{allowed}, got '0'"),
                       (["--executor", "nope"], "unknown executor 'nope'"),
                       (["--executor-option", "novalue"], "use KEY=VALUE"),
                       (["--executor", "threads", "--executor-option", "k=v"], "has no option 'k'")]:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = cli("--help", cwd=tmp_path)
    assert "--jobs" in r.stdout and "--executor" in r.stdout


@pytest.mark.parametrize("where", ["-j", "pyproject"])
def test_jobs_past_what_a_machine_runs_is_refused_before_anything_runs(tmp_path, where):
    """-j 10**20 passed the check, then failed the first asset sent to the worker pool (an
    OverflowError), recorded as its failure; a null build with it exited 0."""
    (tmp_path / "AssetFile").write_text(TWO)
    huge = "99999999999999999999"
    named = "Invalid value for '-j' / '--jobs'" if where == "-j" else "pyproject.toml [tool.assetbuild]: jobs"
    for built in (False, True):  # (built: a null build, which the snapshot might answer)
        if built:
            assert cli(cwd=tmp_path).returncode == 0
        if where == "pyproject":
            (tmp_path / "pyproject.toml").write_text(f"[tool.assetbuild]\njobs = {huge}\n")
        r = cli(*(["-j", huge] if where == "-j" else []), cwd=tmp_path)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert named in r.stderr and "(1 to 4194304) or 'auto', got " in r.stderr, r.stderr
        (tmp_path / "pyproject.toml").unlink(missing_ok=True)
        assert "failed" not in cli("status", cwd=tmp_path).stdout  # (nothing recorded)


SLOW_PAIR = shared_assetfile("slow_pair")


def test_ctrl_c_ends_the_workers_and_the_next_build_resumes(tmp_path):
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "pids.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    pids = {name: int(pid) for name, pid in (line.split() for line in log.read_text().splitlines())}
    assert set(pids) == {"left", "right"} and proc.pid not in pids.values()
    proc.send_signal(signal.SIGINT)  # the parent only, as a terminal's Ctrl-C would reach it first
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(process_alive(p) for p in pids.values()):
        time.sleep(0.05)
    assert not any(process_alive(p) for p in pids.values()), "a worker outlived the interrupted build"
    (tmp_path / "AssetFile").write_text(SLOW_PAIR.replace("nap(30)", "pass"))
    r = cli("-j", "2", "--json", cwd=tmp_path)
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"first": "cached", "left": "built", "right": "built", "both": "built"}



@pytest.mark.slow
def test_an_interrupt_while_workers_start_prints_no_worker_traceback(tmp_path):
    """Ctrl-C or SIGTERM while the pool starts its workers: one that was half started (the
    forkserver had forked it, the build did not know its pid yet) later found the pool's
    semaphores gone and printed multiprocessing's traceback after assetbuild's last line (3 of
    16 tries). The build now holds interrupts while a worker starts."""
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    rng = random.Random(20261203)
    for i in range(24):
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        shutil.rmtree(tmp_path / ".assetbuild", ignore_errors=True)
        proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2"], cwd=tmp_path,
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.45, 0.85))  # the workers start about then, after the imports
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        time.sleep(0.3)  # a half-started worker prints (to the same stderr) after the build ended
        assert "Traceback" not in err, (i, sig, err)
        assert proc.returncode in (0, 130, 143, -sig), (i, sig, proc.returncode, err)


# `gate` waits (on files) while the test edits lib/words.py; `said` starts after it, in a worker
# that imports lib/words.py from disk, as it is then.
EDITED_DURING_RUN = """\
import time
from pathlib import Path

import pytest
from assetbuild import asset
from lib.words import word

HERE = Path(__file__).parent

@asset(io="json")
def gate():
    USES_WORD
    (HERE / "started").write_text("")
    while not (HERE / "go").exists():
        time.sleep(0.01)
    return 1

@asset(io="text")
def said(gate):
    return word()
"""


def _build_while_editing(root: Path, *args: str, edit: str) -> subprocess.CompletedProcess:
    """Build with ``args``; once `gate` runs, replace lib/words.py's word by ``edit``, let it go on."""
    for f in ("started", "go"):
        (root / f).unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "--json", *args], cwd=root,
                            env=clean_env(ASSETBUILD_CACHE_KEY="k3y"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (root / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    (root / "lib/words.py").write_text(f"def word():\n    return {edit}\n")
    (root / "go").write_text("")
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _words_project(root: Path, *, gate_uses_word: bool) -> None:
    (root / "lib").mkdir()
    (root / "lib/__init__.py").write_text("")
    (root / "lib/words.py").write_text("def word():\n    return 'old'\n")
    (root / "AssetFile").write_text(EDITED_DURING_RUN.replace("USES_WORD", "word" if gate_uses_word else "pass"))


def _statuses(r: subprocess.CompletedProcess) -> dict[str, tuple[str, str | None]]:
    return {e["asset"]: (e["status"], e.get("error")) for e in json.loads(r.stdout)["results"]}


@pytest.mark.slow
def test_code_edited_during_a_process_build_is_never_recorded_under_the_old_key(tmp_path):
    remote = f"file://{tmp_path / 'shared'}"
    proj = tmp_path / "proj"
    proj.mkdir()
    _words_project(proj, gate_uses_word=False)
    r = _build_while_editing(proj, "-j", "2", "--executor", "processes", "--remote", remote, edit="'new'")
    st = _statuses(r)
    assert r.returncode == 1 and st["gate"][0] == "built", (r.stdout, r.stderr)
    assert st["said"][0] == "failed" and st["said"][1].startswith(
        "lib/words.py changed while 'said' was running, and the asset ran the changed code"), st
    assert "Traceback" not in r.stderr
    (proj / "lib/words.py").write_text("def word():\n    return 'old'\n")  # the edit is undone
    # nothing went to the remote cache either: a fresh checkout runs `said` (not restored)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _words_project(fresh, gate_uses_word=False)
    r = cli("--remote", remote, "--json", cwd=fresh, env=clean_env(ASSETBUILD_CACHE_KEY="k3y"))
    assert r.returncode == 0 and _statuses(r) == {"gate": ("restored", None), "said": ("built", None)}, r.stdout
    assert cli("show", "said", cwd=fresh).stdout.strip() == "old"
    tmp_path = proj
    r = cli("-j", "2", "--executor", "processes", "--json", cwd=tmp_path)
    assert r.returncode == 0 and _statuses(r)["said"] == ("built", None), r.stdout
    assert cli("show", "said", cwd=tmp_path).stdout.strip() == "old"  # what a clean build gives
    (tmp_path / "lib/words.py").write_text("def word():\n    return 'new'\n")
    r = cli("-j", "2", "--executor", "processes", "--json", cwd=tmp_path)
    assert _statuses(r)["said"] == ("built", None) and cli("show", "said", cwd=tmp_path).stdout.strip() == "new"


@pytest.mark.slow
def test_code_a_worker_loaded_before_an_edit_is_what_ran_and_is_recorded(tmp_path):
    """One worker imports lib/words.py for `gate`, before the edit, and runs `said` with it: that
    result belongs to the key made from the old code, so it is recorded (no needless failure)."""
    _words_project(tmp_path, gate_uses_word=True)
    r = _build_while_editing(tmp_path, "-j", "1", "--executor", "processes", edit="'new'")
    assert r.returncode == 0 and _statuses(r)["said"] == ("built", None), (r.stdout, r.stderr)
    assert cli("show", "said", cwd=tmp_path).stdout.strip() == "old"
    r = cli("-j", "2", "--json", cwd=tmp_path)  # the edit is there now: a new key, run again
    assert _statuses(r)["said"] == ("built", None) and cli("show", "said", cwd=tmp_path).stdout.strip() == "new"
    (tmp_path / "lib/words.py").write_text("def word():\n    return 'old'\n")
    r = cli("-j", "2", "--json", cwd=tmp_path)  # back to the old code: its stored value, restored
    assert _statuses(r)["said"] == ("restored", None) and cli("show", "said", cwd=tmp_path).stdout.strip() == "old"


@pytest.mark.slow
def test_a_helper_edited_into_a_syntax_error_during_a_process_build_fails_only_its_callers(tmp_path):
    _words_project(tmp_path, gate_uses_word=False)
    r = _build_while_editing(tmp_path, "-j", "2", "--executor", "processes", edit="'new' +")
    st = _statuses(r)
    assert r.returncode == 1 and st["gate"][0] == "built", (r.stdout, r.stderr)
    assert st["said"][0] == "failed" and "SyntaxError" in st["said"][1], st
    assert "Traceback" not in r.stderr
    (tmp_path / "lib/words.py").write_text("def word():\n    return 'old'\n")
    r = cli("-j", "2", "--json", cwd=tmp_path)
    assert _statuses(r)["said"] == ("built", None) and cli("show", "said", cwd=tmp_path).stdout.strip() == "old"


@pytest.mark.parametrize("args", [(), ("-j", "2", "--executor", "threads")], ids=["serial", "threads"])
def test_a_module_an_asset_imports_as_it_runs_here_edited_during_the_build_is_never_recorded(tmp_path, args):
    """In the build's own process, the modules loaded before the build are the ones keyed; one an
    asset imports inside its function is compiled from its file as it is then: edited after the
    keys were made, the asset ran other code than its key says, so it fails and nothing is kept."""
    _words_project(tmp_path, gate_uses_word=False)
    text = (tmp_path / "AssetFile").read_text().replace("from lib.words import word\n", "")
    (tmp_path / "AssetFile").write_text(text.replace("def said(gate):\n", "def said(gate):\n    from lib.words import word\n"))
    r = _build_while_editing(tmp_path, *args, edit="'new'")
    st = _statuses(r)
    assert r.returncode == 1 and st["gate"][0] == "built", (r.stdout, r.stderr)
    assert st["said"][0] == "failed" and st["said"][1].startswith(
        "lib/words.py changed while 'said' was running, and the asset ran the changed code"), st
    (tmp_path / "lib/words.py").write_text("def word():\n    return 'old'\n")  # the edit is undone
    r = cli("--json", *args, cwd=tmp_path)
    assert r.returncode == 0 and _statuses(r)["said"] == ("built", None), r.stdout
    assert cli("show", "said", cwd=tmp_path).stdout.strip() == "old"  # what a clean build gives
    r = cli("--json", *args, cwd=tmp_path)  # and it stays built: no needless failure without an edit
    assert _statuses(r) == {"gate": ("cached", None), "said": ("cached", None)}, r.stdout


# `gate` waits while the test edits lib/words.py; then, in the one worker, `said` imports the
# edited module, and `greeted` runs after it in that worker, which now holds the edited module.
TWO_HELPERS = """\
import time
from pathlib import Path

from assetbuild import asset
from lib.other import greeting
from lib.words import word

HERE = Path(__file__).parent

@asset(io="json")
def gate():
    (HERE / "started").write_text("")
    while not (HERE / "go").exists():
        time.sleep(0.01)
    return 1

@asset(io="text")
def said(gate):
    return word()

@asset(io="text")
def greeted(gate):
    return greeting()
"""


@pytest.mark.slow
@pytest.mark.parametrize("other", ["unrelated", "imports words"])
def test_a_module_edited_during_a_process_build_fails_only_the_assets_whose_code_reaches_it(tmp_path, other):
    """`greeted` runs in a worker that `said` had made import the edited lib/words.py. Its code
    never reaches that module (``unrelated``): its result is what its key says, and it is
    recorded. When lib/other.py imports lib/words.py and computes a value from it as it loads,
    the worker's value is not the one keyed: not recorded either."""
    _words_project(tmp_path, gate_uses_word=False)
    if other == "unrelated":
        (tmp_path / "lib/other.py").write_text("def greeting():\n    return 'hello'\n")
    else:
        (tmp_path / "lib/other.py").write_text(
            "from lib.words import word\n\nGREETING = 'hello ' + word()\n\ndef greeting():\n    return GREETING\n")
    (tmp_path / "AssetFile").write_text(TWO_HELPERS)
    r = _build_while_editing(tmp_path, "-j", "1", "--executor", "processes", "-k", edit="'new'")
    st = _statuses(r)
    assert r.returncode == 1 and st["gate"][0] == "built", (r.stdout, r.stderr)
    assert st["said"][0] == "failed" and st["said"][1].startswith(
        "lib/words.py changed while 'said' was running, and the asset ran the changed code"), st
    if other == "unrelated":
        assert st["greeted"] == ("built", None), st
        assert cli("show", "greeted", cwd=tmp_path).stdout.strip() == "hello"
    else:
        assert st["greeted"][0] == "failed" and st["greeted"][1].startswith(
            "lib/words.py changed while 'greeted' was running"), st
    r = cli("-j", "2", "--executor", "processes", "--json", cwd=tmp_path)  # the edit is in the keys now
    assert r.returncode == 0, r.stdout
    assert _statuses(r) == {"gate": ("cached", None), "said": ("built", None),
                            "greeted": ("cached", None) if other == "unrelated" else ("built", None)}, r.stdout
    assert cli("show", "said", cwd=tmp_path).stdout.strip() == "new"
    assert cli("show", "greeted", cwd=tmp_path).stdout.strip() == ("hello" if other == "unrelated" else "hello new")


def test_a_module_another_asset_imported_here_after_an_edit_fails_each_asset_that_reaches_it(tmp_path):
    """In the build's own process, `said` imports lib/words.py as it runs, after the edit; `again`
    imports it next, from sys.modules, without compiling anything: it ran the edited code too,
    under a key made from the old one, and nothing of either is recorded."""
    _words_project(tmp_path, gate_uses_word=False)
    text = (tmp_path / "AssetFile").read_text().replace("from lib.words import word\n", "")
    inside = "    from lib.words import word\n"
    (tmp_path / "AssetFile").write_text(text.replace("def said(gate):\n", "def said(gate):\n" + inside) + (
        f'\n@asset(io="text")\ndef again(gate):\n{inside}    return word() + "!"\n'))
    r = _build_while_editing(tmp_path, "-k", edit="'new'")
    st = _statuses(r)
    assert r.returncode == 1 and st["gate"][0] == "built", (r.stdout, r.stderr)
    for name in ("said", "again"):
        assert st[name][0] == "failed" and st[name][1].startswith(
            f"lib/words.py changed while {name!r} was running, and the asset ran the changed code"), st
    r = cli("--json", cwd=tmp_path)  # the edit is in the keys now
    assert r.returncode == 0 and _statuses(r)["again"] == ("built", None), r.stdout
    assert cli("show", "again", cwd=tmp_path).stdout.strip() == "new!"


# `box` (built before) stores a pickled lib.shapes.Box; `area` calls a method of it. Its key covers
# Box's code through its input's data version (assetbuild.fingerprint.refs), not through its own.
BOXES = """\
import time
from pathlib import Path

from assetbuild import asset
from lib.shapes import Box

HERE = Path(__file__).parent

@asset(io="pickle")
def box():
    return Box()

@asset(io="json")
def gate():
    (HERE / "started").write_text("")
    while not (HERE / "go").exists():
        time.sleep(0.01)
    return 1

@asset(io="json")
def area(box, gate):
    return box.area()
"""


@pytest.mark.slow
def test_a_class_edited_during_a_process_build_fails_the_readers_of_its_instances(tmp_path):
    """`area`'s worker unpickles its input after lib/shapes.py was edited, and runs the new
    `Box.area` under a key made from the old one: not recorded."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/__init__.py").write_text("")
    (tmp_path / "lib/shapes.py").write_text("class Box:\n    def area(self):\n        return 1\n")
    (tmp_path / "AssetFile").write_text(BOXES)
    r = cli("build", "box", "--json", cwd=tmp_path)
    assert r.returncode == 0 and _statuses(r) == {"box": ("built", None)}, r.stdout
    for f in ("started", "go"):
        (tmp_path / f).unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "--json", "-j", "1", "--executor", "processes"],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    (tmp_path / "lib/shapes.py").write_text("class Box:\n    def area(self):\n        return 2\n")
    (tmp_path / "go").write_text("")
    out, err = proc.communicate(timeout=60)
    st = _statuses(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert proc.returncode == 1 and st["box"] == ("cached", None) and st["gate"][0] == "built", (out, err)
    assert st["area"][0] == "failed" and st["area"][1].startswith(
        "lib/shapes.py changed while 'area' was running, and the asset ran the changed code"), st
    r = cli("-j", "2", "--executor", "processes", "--json", cwd=tmp_path)  # the edit is in the keys now
    assert r.returncode == 0 and _statuses(r)["area"] == ("built", None), r.stdout
    assert cli("show", "area", cwd=tmp_path).stdout.strip() == "2"


# `boxes` imports lib.box only inside its function (or unpickles it from a source): the build's
# own process never imports the module, and the code its value names must count all the same.
NAMED_IN_A_WORKER = {
    "inside": ("from assetbuild import asset\n\n\n@asset\ndef boxes():\n    from lib.box import Box\n\n"
               "    return [Box(2), Box(3)]\n"),
    "unpickled": ('import pickle\n\nfrom assetbuild import asset, source\n\nraw = source("raw", "boxes.pkl")\n\n\n'
                  "@asset\ndef boxes(raw):\n    return pickle.loads(raw.read_bytes())\n"),
}


@pytest.mark.parametrize("how, executor", [("inside", "processes"), ("inside", "serial"), ("unpickled", "serial")])
def test_code_a_value_names_counts_when_the_build_never_imported_its_module(tmp_path, how, executor):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/__init__.py").write_text("")
    box = "class Box:\n    def __init__(self, w):\n        self.w = w\n\n    def area(self):\n        return self.w * {k}\n"
    (tmp_path / "lib/box.py").write_text(box.format(k=1))
    if how == "unpickled":
        subprocess.run([sys.executable, "-c", "import pickle; from lib.box import Box; "
                        "open('boxes.pkl', 'wb').write(pickle.dumps([Box(2), Box(3)]))"], cwd=tmp_path, check=True)
    (tmp_path / "AssetFile").write_text(NAMED_IN_A_WORKER[how] + "\n\n@asset\ndef areas(boxes):\n"
                                        "    return [b.area() for b in boxes]\n")
    env = clean_env(ASSETBUILD_SNAPSHOT="0")
    for _ in range(2):  # (the second: nothing to do)
        r = cli("-j", "2", "--executor", executor, "--json", cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
    assert {a: s for a, (s, _) in _statuses(r).items()} == {"boxes": "cached", "areas": "cached"}
    (tmp_path / "lib/box.py").write_text(box.format(k=10))
    r = cli("-j", "2", "--executor", executor, "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0 and _statuses(r)["areas"][0] == "built", r.stdout
    assert cli("show", "areas", cwd=tmp_path).stdout.strip() == "[20, 30]"
