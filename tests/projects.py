"""Test projects on disk, built through the public API or by the real command in a subprocess.

``Project`` (the ``project`` fixture) writes files and builds in-process. The writers below
(``pipeline_project``...) make whole projects for the store, workspace and fault tests. Asset
functions that must be counted call ``_ran(name)`` (``run_counter``), which appends one line to
``<runs dir>/<name>``, so that a test can tell how often each function ran, across processes
(``run_counts``, ``take_runs``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import assetbuild

REPO = Path(__file__).resolve().parent.parent
ASSETFILES = Path(__file__).resolve().parent / "assetfiles"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, which only waits to be reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def shared_assetfile(name: str) -> str:
    """The text of ``tests/assetfiles/<name>.py``: an AssetFile more than one test module builds."""
    return (ASSETFILES / f"{name}.py").read_text()


class Project:
    """A project directory with helpers to write files and build it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str, *, dedent: bool = True) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text) if dedent else text)
        return p

    def assetfile(self, text: str) -> Path:
        return self.write("AssetFile", "from assetbuild import asset, source, Output\n" + textwrap.dedent(text),
                          dedent=False)

    def build(self, *assets: str, **kw):
        return assetbuild.build(assets, project_dir=self.root, **kw)

    def built(self, *assets: str, **kw) -> list[str]:
        """The assets the build reports as built (it must succeed)."""
        r = self.build(*assets, **kw)
        assert r.ok, [(x.asset, x.status, x.error, x.traceback) for x in r.results if x.status != "cached"]
        return r.names("built")

    def status(self, *assets: str):
        return {s.asset: s for s in assetbuild.status(assets, project_dir=self.root)}

    def value(self, name: str):
        return assetbuild.load_value(name, project_dir=self.root)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path -> text or bytes) under ``root``."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


DEEP = sys.getrecursionlimit() + 100  # folder levels: past what a recursion per level reaches


def folder_chain(top: Path, depth: int, name: str = "d", bottom: str | None = "bottom.txt") -> Path:
    """``top/name/name/…``, ``depth`` levels deep, with the file ``bottom`` at the bottom (empty),
    made through descriptors (so it may be deeper than PATH_MAX); the path of its last folder."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        if bottom is not None:
            os.close(os.open(bottom, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    return top.joinpath(*[name] * depth)


def run_counter(runs_dir: Path | None = None) -> str:
    """AssetFile code defining ``_ran(name)``: an asset function calls it to count one run of
    itself, a line appended to ``<runs_dir>/<name>`` (O_APPEND: atomic between processes).

    Without ``runs_dir`` the directory is the one named by ``$AB_RUNS`` when the function runs:
    the code, and so the keys, are then the same in every checkout of the project (remote cache
    tests). With it, the directory is written into the code."""
    where = '_os.environ["AB_RUNS"]' if runs_dir is None else repr(str(runs_dir))
    return f'''
import os as _os


def _ran(name):
    """Count one run of ``name`` (see the tests' run_counter)."""
    _os.makedirs({where}, exist_ok=True)
    fd = _os.open(_os.path.join({where}, name), _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
    _os.write(fd, b"x\\n")
    _os.close(fd)
'''


def run_counts(runs_dir: Path) -> dict[str, int]:
    """How many times each counted asset function ran (see ``run_counter``)."""
    if not runs_dir.is_dir():
        return {}
    return {p.name: p.read_text().count("x") for p in runs_dir.iterdir()}


def take_runs(runs_dir: Path) -> dict[str, int]:
    """``run_counts``, then start counting afresh."""
    out = run_counts(runs_dir)
    for p in runs_dir.glob("*"):
        p.unlink()
    return out


def pipeline_project(root: Path, *, sleep: float = 0.0, big: int = 300_000, width: int = 4) -> Path:
    """sources -> ``width`` parallel chains of path outputs -> a large (> INLINE_MAX) blob -> a report.

    Functions run in the project directory's terms: they count their runs (``runs/``) and may
    sleep ``sleep`` seconds so that a test can kill the build in the middle.
    """
    parts = [
        "import hashlib\nimport time\n\nfrom assetbuild import asset, source\n\n",
        run_counter(root / "runs"),
        f'\nSLEEP = {sleep!r}\nBIG = {big!r}\n\nraw = source("raw", "data/raw.txt")\n',
    ]
    for i in range(width):
        parts.append(f'''
@asset(io="json")
def step{i}(raw):
    _ran("step{i}")
    time.sleep(SLEEP)
    return [int(x) * {i + 1} for x in raw.read_text().split()]


@asset(io="text", path="out/step{i}.txt")
def text{i}(step{i}):
    _ran("text{i}")
    time.sleep(SLEEP)
    return "\\n".join(str(x) for x in step{i}) + "\\n"
''')
    inputs = ", ".join(f"step{i}" for i in range(width))
    parts.append(f'''
@asset(io="bytes", path="out/big.bin")
def big({inputs}):
    _ran("big")
    time.sleep(SLEEP)
    seed = repr(({inputs})).encode()
    out = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(out) < BIG:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:BIG])


@asset(io="text", path="out/report.txt")
def report(big):
    _ran("report")
    time.sleep(SLEEP)
    return hashlib.sha256(big).hexdigest() + " " + str(len(big)) + "\\n"
''')
    return write(root, {"AssetFile": "".join(parts), "data/raw.txt": "1 2 3 4 5\n"})


def generated_project(root: Path, n: int) -> Path:
    """``n`` trivial json assets: a binary tree (each asset depends on its parent), no code fingerprinting."""
    lines = ["from assetbuild import asset\n\n",
             '@asset(io="json", code_version="1")\ndef a0():\n    return 0\n\n']
    for i in range(1, n):
        up = (i - 1) // 2
        lines.append(f'@asset(io="json", code_version="1")\ndef a{i}(a{up}):\n    return a{up} + 1\n\n')
    return write(root, {"AssetFile": "".join(lines)})


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: without the bytecode/unbuffered switches these machines
    set, the developer's cache directory, or plugins autoloaded (unless ``extra`` says so)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "ASSETBUILD_CACHE_DIR")}
    env.setdefault("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")
    env.update(extra)
    return env


def hiding(where: Path, *packages: str) -> str:
    """A directory for PYTHONPATH whose sitecustomize makes ``packages`` unimportable, as in an
    install without them (an extra not installed): ModuleNotFoundError naming the package. The
    value keeps the PYTHONPATH this run has (a worktree's ``src``), so the command runs this code."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {tuple(packages)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    return os.pathsep.join(filter(None, (str(where), os.environ.get("PYTHONPATH"))))


# twin projects (tests/test_snapshot_*.py): one builds as a user's does, using the snapshot
# (not under its check), the other never uses it
SNAPSHOT_ENV = {"ASSETBUILD_CHECK_SNAPSHOT": "0"}
FULL_ENV = {"ASSETBUILD_SNAPSHOT": "0", "ASSETBUILD_CHECK_SNAPSHOT": "0"}


def snapshot_twins(where: Path, files: dict[str, str | bytes]) -> tuple[Path, Path]:
    """The project of ``files`` twice under ``where`` (``snap``, ``full``), each built once: the
    first's snapshot answers from then on."""
    import shutil

    a = write(where / "snap", files)
    b = where / "full"
    shutil.copytree(a, b)
    for root, env in ((a, SNAPSHOT_ENV), (b, FULL_ENV)):
        assert cli(cwd=root, env=clean_env(**env)).returncode == 0
    said = cli(cwd=a, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT_ENV)).stderr
    assert "snapshot: answers" in said.splitlines(), said
    return a, b


def cli_cmd(*args: str) -> list[str]:
    """The command line of the real ``assetbuild`` command, in this interpreter."""
    return [sys.executable, "-m", "assetbuild", *args]


def cli(*args: str, cwd: Path | str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real command to its end (by default in ``clean_env()``), its output captured."""
    return subprocess.run(cli_cmd(*args), cwd=cwd, capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout)


def answer_in_pty(args: list[str], cwd: Path, answer: bytes | None) -> tuple[int, str]:
    """Run the command on a terminal, wait for its question, and type ``answer`` (None: Ctrl-C,
    as SIGINT, which a terminal that is the process's own would send)."""
    import pty
    import signal

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *args], cwd=cwd, stdin=slave, stdout=slave,
                            stderr=slave, env=clean_env(TERM="dumb", COLUMNS="200"))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in out and time.monotonic() < deadline:  # (a blocking read: the question comes)
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    # Python's input() writes the question, then reads: a signal between the two is taken only
    # when the read returns (no EINTR before it began), which a typed answer never does. A person
    # types at a question already waiting: so does this, once the child sleeps in its read.
    _wait_until_reading(proc.pid, deadline)
    if answer is None:
        proc.send_signal(signal.SIGINT)
    else:
        os.write(master, answer)
    import select

    while True:
        if not select.select([master], [], [], max(deadline - time.monotonic(), 0))[0]:
            proc.kill()  # (a hang fails the test, it does not hold the suite)
            raise AssertionError(f"assetbuild {' '.join(args)} did not end after the answer: {out!r}")
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child has exited
            break
        if not data:
            break
        out += data
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def _wait_until_reading(pid: int, deadline: float) -> None:
    """Until process ``pid`` sleeps in a read of its terminal (Linux: its wchan); elsewhere a
    moment."""
    try:
        while open(f"/proc/{pid}/wchan").read() not in ("wait_woken", "n_tty_read") and time.monotonic() < deadline:
            time.sleep(0.005)
    except OSError:
        time.sleep(0.2)


def tree_bytes(root: Path, under: str = "out") -> dict[str, bytes]:
    """Every file under ``root/under`` (relative path -> bytes), temp files included."""
    base = root / under
    out = {}
    if base.is_dir():
        for p in sorted(base.rglob("*")):
            if p.is_file():
                out[str(p.relative_to(base))] = p.read_bytes()
    return out


def held_chain_project(root: Path) -> Path:
    """``fast1 -> fast2 -> slow``: ``slow`` marks its start (``runs/slow``), then holds until the file
    ``release`` exists (at most 120 s), so a test can kill the build while it runs, with no sleeps."""
    return write(root, {"AssetFile": "import os\nimport time\n\nfrom assetbuild import asset\n\n"
                        + run_counter(root / "runs") + f'''
RELEASE = {str(root / "release")!r}


@asset(io="json")
def fast1():
    _ran("fast1")
    return 1


@asset(io="json")
def fast2(fast1):
    _ran("fast2")
    return fast1 + 1


@asset(io="json", path="out/slow.json")
def slow(fast2):
    _ran("slow")
    deadline = time.monotonic() + 120
    while not os.path.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.01)
    return fast2 + 1
'''})


def recorded_heads(cache_dir: Path) -> set[str]:
    """The assets whose latest build is committed in the index (read by another process's view)."""
    from assetbuild.store import LmdbStore

    if not (cache_dir / "db" / "data.mdb").exists():
        return set()
    with LmdbStore(cache_dir, readonly=True) as s:
        return set(s.heads())


def assert_store_verifies(cache_dir: Path, assets: list[str]) -> None:
    """Every asset has a head; no head or trace points at bytes that are missing or do not verify."""
    from assetbuild.store import LmdbStore

    with LmdbStore(cache_dir, readonly=True) as s:
        heads = s.heads()
        assert sorted(heads) == sorted(assets)
        for head in heads.values():
            s.read_blob(head.output_digest)  # raises CacheCorrupt if missing or wrong
        for _key, trace in s.iter_traces():
            s.read_blob(trace.output_digest)


def stored_values(root: Path, assets: list[str]) -> dict[str, object]:
    """Each asset's stored value, as ``assetbuild show`` loads it (verified against its digest)."""
    from assetbuild import load_value

    return {a: load_value(a, project_dir=root) for a in assets}


def temp_leftovers(root: Path) -> list[str]:
    """Temp files a killed write left where a reader could take them for an output."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "assetbuild-tmp" in p.name)


@contextlib.contextmanager
def holding_build_lock(cache_dir: Path, most_s: float = 60):
    """Another process holds the build lock of ``cache_dir`` (as a running build does) from
    before the block until its end, or until the ``release()`` it yields is called (by a
    command's warning that it waits, say): a command that takes the lock meanwhile waits. It
    lets go after ``most_s`` anyway, so that a command that never says it waits fails its
    test rather than hanging it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import select, sys\nfrom assetbuild.store import LmdbStore\n"
         "s = LmdbStore(sys.argv[1]); s.acquire_lock(); print('locked', flush=True)\n"
         "select.select([sys.stdin], [], [], float(sys.argv[2]))",
         str(cache_dir), str(most_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_env())

    def release() -> None:
        if not holder.stdin.closed:
            holder.stdin.close()
            holder.wait(timeout=60)
            holder.stdout.close()

    try:
        assert holder.stdout.readline().strip() == "locked"
        yield release
    finally:
        release()


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """The command in its own process group, so that a test can end what a killed build leaves."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(cli_cmd(*args), cwd=cwd, env=env or clean_env(), start_new_session=True, **kw)


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (zombies excluded: they have exited)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) != sid:
                continue
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(pid)
    return out


def end_group(proc: subprocess.Popen, wait: float = 5.0) -> None:
    """Kill ``proc`` (started by ``start_cli``) if it still runs, give what it started up to
    ``wait`` seconds to end on its own, then kill what is left of its session (the workers and
    forkserver of a SIGKILLed build), so nothing outlives the test. The wait matters: killed at
    once, multiprocessing's resource tracker leaves the pools' named semaphores in /dev/shm."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    deadline = time.monotonic() + wait
    while session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    # What is left is killed, but the resource tracker last, once it is alone: it removes the
    # pools' semaphores when every process that could use them is gone (a loaded machine can
    # take longer than ``wait`` for the workers to notice their parent is gone).
    trackers = [pid for pid in session_members(proc.pid) if b"resource_tracker" in _cmdline(pid)]
    for pid in session_members(proc.pid):
        if pid not in trackers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 9)
    deadline = time.monotonic() + wait
    while trackers and any(pid in trackers for pid in session_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def things_to_edit(readme: Path, names: set[str]) -> list[tuple[str, list[str], list[set[str]]]]:
    """The rows of an example README's "Things to edit" table (| Edit | Runs again | Restored
    from the cache | Why |): each row's edit, its cells, and the asset names in backquotes in
    its "Runs again" and "Restored" cells (each must name assets of ``names``, or say
    "nothing"). The example tests read the table, so it and the tests cannot drift apart."""
    import re

    section = readme.read_text(encoding="utf-8").split("## Things to edit", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("| Edit | Runs again | Restored from the cache |"), lines[0]
    rows = []
    for line in lines[2:]:  # past the header and its |---| line
        cells = [c.strip() for c in line.strip("|").split("|")]
        sets = []
        for cell in cells[1:3]:
            found = set(re.findall(r"`([^`]+)`", cell))
            assert found or cell == "nothing", f"a cell names assets in backquotes, or says 'nothing': {cell!r}"
            assert found <= names, f"not an asset of the example: {found - names}"
            sets.append(found)
        rows.append((cells[0], cells, sets))
    return rows
