"""A build's tasks in a worker process that outlives builds and serves several (a dask worker):
one build at a time holds the process's project imports, working directory and declared
environment, as a process pool's worker holds them for its one build.

A pool worker lives for one build and is set up once for it (``executors._worker_init``: the
project's modules imported afresh from their files, the build's environment and working
directory). A long-lived worker runs tasks of one build, then of another, maybe of another
project, in several threads at once; run through :func:`run_visiting` (what
``executor.run_serialized`` does with a :class:`WorkerVisit`), the tasks of one build in one
process share a *visit*:

- the first task of a visit enters it: the project's modules are imported afresh from their
  files (``loader.ProjectImports``: digested, and modules named like them from elsewhere, such
  as another project's ``lib``, hidden meanwhile) and the process moves to the project
  directory; the last task of the visit to end leaves it: its modules are forgotten (the next
  visit imports them again, edited or not), the working directory and the environment are put
  back. A task of another visit waits until then, and tasks of the visit under way that come
  after it wait for it in turn;
- each task sets the environment variables its asset declares to the values its key holds
  (the same in every task of a build: read once, when its keys were made). A secret's value
  never travels (its key holds a digest of it): the worker's own must be that one, or the
  asset fails saying so;
- while a visit lasts, the build lock files its build holds count as held by this process too
  (``usercode.BUILD_LOCKS``; those the process holds itself are left alone): an asset that
  calls the API on its own project fails at once (``ReentrantCall``), as in a pool worker;
- the outcome names the digests of the project code the asset reached, as a pool worker's
  does, so the build records it only if that is the code its key was made from;
- a task that ran where a library its build's keys name is imported at another installed
  version (``Task.libraries``) fails; on another machine, one whose sources or upstream
  ``outputs=`` files are not there as its key holds them (``Task.sources``: another copy of
  the project at that path) fails before it runs.

A worker that cannot see the project directory (another machine) runs the task in an empty
directory of its own and imports none of the project's module names from elsewhere: an asset
that reads a path relative to its working directory, or imports a project module its task did
not carry, fails saying so, where it read the worker's files or ran another copy of the code.

``os.environ``, the working directory and ``sys.modules`` are the process's: other work in it
(not assetbuild's) sees them change too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any

from .execute import Failed, Produced, Skipped, Task, run_payload


class WorkerVisit:
    """What a worker must know of a build before it loads one of its tasks: which build it is
    (``id``: new for each), its project directory, the folders inside it that the build's
    ``sys.path`` names (``project_paths``: a ``src/`` layout on ``PYTHONPATH``; the worker puts
    them on its own path too, or it imports another copy of those modules from its own path),
    the names of the project's top-level modules and packages there and in those folders
    (``project_names``: none of them is imported from elsewhere on a worker that cannot see
    the directory), and the build lock files the build holds (``build_locks``,
    ``usercode.BUILD_LOCKS`` when the visit is sent: an asset on a worker that calls the API on
    its own project is refused, ``ReentrantCall``, instead of waiting for the build that waits
    for it). Made by the executor on the build's machine."""

    __slots__ = ("id", "project_dir", "project_names", "build_locks", "project_paths", "machine")

    def __init__(self, project_dir: str, project_names: Iterable[str] | None = None,
                 build_locks: Iterable[tuple[int, int]] | None = None,
                 project_paths: Iterable[str] | None = None) -> None:
        self.id = os.urandom(16).hex()  # (not uuid: it imports platform, a cost for every build)
        self.project_dir = os.path.abspath(project_dir)
        self.project_paths = tuple(paths_inside(self.project_dir) if project_paths is None else project_paths)
        self.project_names = frozenset(
            set().union(*map(top_level_modules, (self.project_dir, *self.project_paths))) if project_names is None
            else project_names)
        self.machine = machine_id()  # (a worker elsewhere checks the sources a task reads: ``Task.sources``)
        # None: the build's, read when the visit is sent (the executor may be made before the lock is taken)
        self.build_locks = None if build_locks is None else frozenset(build_locks)

    def locks(self) -> frozenset[tuple[int, int]]:
        """The build lock files (``(st_dev, st_ino)``) of the build this visit belongs to."""
        if self.build_locks is not None:
            return self.build_locks
        from .usercode import BUILD_LOCKS

        return frozenset(BUILD_LOCKS)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled, it is a plain tuple (:meth:`of` makes it a visit again; ``run_serialized``
        takes either): a worker whose assetbuild predates visits then fails the task (a
        TypeError), where unpickling a class it lacks ended the whole dask worker process."""
        return tuple, ((self.id, self.project_dir, self.project_names, self.locks(), self.project_paths,
                        self.machine),)

    @classmethod
    def of(cls, visit: WorkerVisit | tuple[Any, ...]) -> WorkerVisit:
        """``visit`` itself, or the visit its pickled tuple describes (of 3 items from a build
        whose assetbuild sent no build locks, 4 from one that sent no project paths, 5 from one that
        sent no machine, else 6)."""
        if isinstance(visit, WorkerVisit):
            return visit
        made = cls.__new__(cls)
        made.id, made.project_dir, made.project_names = visit[:3]
        made.build_locks = frozenset(tuple(k) for k in visit[3]) if len(visit) > 3 else frozenset()
        made.project_paths = tuple(visit[4]) if len(visit) > 4 else ()
        made.machine = visit[5] if len(visit) > 5 else None
        return made

    def __repr__(self) -> str:
        return f"WorkerVisit({self.project_dir!r}, id={self.id[:8]})"


def top_level_modules(project_dir: str) -> set[str]:
    """Names ``import NAME`` finds in the project directory: its ``.py`` files and its packages
    (folders with an ``__init__.py``)."""
    try:
        entries = os.listdir(project_dir)
    except OSError:
        return set()
    out = set()
    for entry in entries:
        if entry.endswith(".py") and entry[:-3].isidentifier():
            out.add(entry[:-3])
        elif entry.isidentifier() and os.path.isfile(os.path.join(project_dir, entry, "__init__.py")):
            out.add(entry)
    return out


def machine_id() -> str | None:
    """This machine and mount namespace (host name, boot id, the namespace's inode): where a
    path names the same file as on the build's machine. None where that cannot be told."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return f"{os.uname().nodename}/{boot}/{os.stat('/proc/self/ns/mnt').st_ino}"
    except (OSError, AttributeError):
        return None


def paths_inside(project_dir: str) -> list[str]:
    """The folders inside ``project_dir`` (not itself) that this process's ``sys.path`` names,
    in its order: where the build imports project modules from besides the project directory
    (``PYTHONPATH=src``), so that a worker imports them from there too."""
    from .modulefinder import _is_installed

    root = os.path.join(project_dir, "")
    out: list[str] = []
    for entry in sys.path:
        if isinstance(entry, str) and entry:
            path = os.path.abspath(entry)
            # (a virtualenv inside the project: its site-packages holds libraries, not project code)
            if path.startswith(root) and path not in out and not _is_installed(os.path.join(path, "")):
                out.append(path)
    return out


def run_visiting(payload: bytes, visit: WorkerVisit | tuple[Any, ...],
                 spool_dir: str | None = None) -> Failed | Produced | Skipped:
    """Run a task's bytes (``Task.to_bytes``) as part of ``visit`` (or its pickled tuple): its
    build's imports, working directory and declared environment around it (see the module
    docstring)."""
    visit = WorkerVisit.of(visit)
    here = _enter(visit)
    ran: list[Task] = []

    def prepare(task: Task) -> Failed | None:
        ran.append(task)
        return here.prepare(task)

    try:
        outcome = run_payload(payload, spool_dir, prepare=prepare)
        problem = here.other_library(getattr(ran[0], "libraries", ())) if ran and outcome.ok else None
    finally:
        _leave(here)
    if problem is not None:
        spooled = getattr(outcome, "file", None)
        if isinstance(spooled, str):  # (the build never takes it)
            with contextlib.suppress(OSError):
                os.unlink(spooled)
        return Failed(problem, duration_s=outcome.duration_s, logs=outcome.logs)
    if isinstance(outcome, Failed) and not here.visible and outcome.error.startswith(_PATH_ERRORS):
        outcome.error += (f" (the project directory {visit.project_dir} is not on this worker, which ran it in "
                          "an empty directory: an asset that reads or writes files needs workers that see "
                          "the project at the same path)")
    return outcome


_PATH_ERRORS = ("FileNotFoundError", "PermissionError", "IsADirectoryError", "NotADirectoryError",
                "FileExistsError", "OSError")


class _Visit:
    """A build's visit to this process, under way: what it changed, to put back when it ends."""

    def __init__(self, visit: WorkerVisit) -> None:
        from pathlib import Path

        from .loader import ProjectImports
        from .usercode import BUILD_LOCKS

        self.id = visit.id
        self.tasks = 0
        self.env_before: dict[str, str | None] = {}
        self.installed: dict[str, Any] = {}  # import name -> its version on this worker (other_library)
        self.visible = os.path.isdir(visit.project_dir)
        # another machine (or mount namespace), where the project directory may be another copy: sources checked
        self.elsewhere = visit.machine is None or visit.machine != machine_id()
        self.project_dir = visit.project_dir
        self.sources_seen: dict[str, str | None] = {}  # source path -> its version on this worker
        try:
            self.cwd_before: str | None = os.getcwd()
        except OSError:  # (the worker's directory was removed)
            self.cwd_before = None
        self.imports: Any = (ProjectImports(Path(visit.project_dir)) if self.visible
                             else _Elsewhere(visit.project_dir, visit.project_names))
        self.imports.__enter__()
        self.guard: _Elsewhere | None = None
        try:
            if self.visible:
                self._add_paths(visit)
            try:
                os.chdir(visit.project_dir if self.visible else _empty_dir())
            except OSError:  # (a project directory this worker may not enter)
                os.chdir(_empty_dir())
        except BaseException:
            self.imports.__exit__(None, None, None)
            raise
        # the build's lock files that this process does not hold itself: added while the visit lasts
        self.build_locks = set(visit.locks()) - BUILD_LOCKS
        BUILD_LOCKS.update(self.build_locks)

    def _add_paths(self, visit: WorkerVisit) -> None:
        """The build's folders of project modules (``WorkerVisit.project_paths``: ``src/`` on its
        ``PYTHONPATH``) on ``sys.path`` after the project directory while the visit lasts
        (``ProjectImports`` puts the path back as it was); and the build's project module names
        are imported from this project directory or not at all: modules of those names that
        this process imported from elsewhere (another copy on its own path) are hidden
        meanwhile, and one this directory lacks (another checkout at the same path) is refused
        rather than found elsewhere on the path."""
        paths = [p for p in visit.project_paths if os.path.isdir(p)]
        at = sys.path.index(visit.project_dir) + 1 if visit.project_dir in sys.path else 0
        sys.path[at:at] = paths
        self.guard = _Elsewhere(visit.project_dir, visit.project_names, after=self.imports)
        self.guard.__enter__()

    def prepare(self, task: Task) -> Failed | None:
        """Before the task runs: the environment its key was made from (None), or why it
        cannot have it here (its failure)."""
        from .keys import env_parts, is_env_digest, is_secret

        other = self._other_source(getattr(task, "sources", ()))
        if other is not None:
            return Failed(other)
        for name, value in getattr(task, "env", ()):
            if value is not None and (is_secret(name) or is_env_digest(value)):  # (a digest: the value stays on the build's machine)
                if env_parts((name,), os.environ)[0][1] != value:
                    here = "is unset on this worker" if name not in os.environ else \
                        "has another value on this worker than in the build"
                    return Failed(f"the environment variable {name} {here} (its key holds the build's value; "
                                  f"a secret's value is never sent to a worker: give the workers the build's {name})")
                continue
            with _COND:
                self.env_before.setdefault(name, os.environ.get(name))
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return None

    def _other_source(self, sources: Iterable[tuple[str, Any, Any]]) -> str | None:
        """Before a task runs on a worker elsewhere that sees a project directory at the build's
        path: why a source it reads there, or the files an upstream wrote itself (``outputs=``),
        are not those its key was made from (``Task.sources``: another copy of the project at
        that path, whose files the asset would read); else None. Each is looked at once in a
        visit."""
        if not self.elsewhere or not self.visible:
            return None
        for path, version, by_mtime in sources:
            key = path if by_mtime is not None else "\0" + path
            if key not in self.sources_seen:
                self.sources_seen[key] = (self._source_here(path, by_mtime) if by_mtime is not None
                                          else self._files_here(version))
            if self.sources_seen[key] != (version if by_mtime is not None else "same"):
                what = f"its source {path}" if by_mtime is not None else f"the files {path!r} wrote"
                how = "not there" if self.sources_seen[key] is None else "other data"
                return (f"{what} hold{'s' if by_mtime is not None else ''} {how} on this worker, where the project "
                        f"directory {self.project_dir} is not the build's (another copy of the project at that "
                        "path?): it would read other data than its key was made from; give the workers the "
                        "project's own files (a shared filesystem), or build with another executor")
        return None

    def _source_here(self, path: str, by_mtime: bool) -> str | None:
        """A source's data version on this worker (as ``Workspace.source_version``), None if missing."""
        from pathlib import Path

        from .errors import AssetbuildError
        from .workspace import Workspace

        files = Workspace(Path(self.project_dir), None, record=False,
                          by_mtime=frozenset((path,)) if by_mtime else frozenset())
        try:
            return files.source_version(path)
        except AssetbuildError:  # (missing, unusable)
            return None

    def _files_here(self, manifest: bytes) -> str:
        """"same" if the files an upstream's manifest lists are so on this worker, else "other"."""
        from .manifest import decode_manifest
        from .produced import outputs_state
        from .workspace import hash_file

        try:
            problems = outputs_state(self.project_dir, decode_manifest(manifest), lambda p, st: hash_file(p))
        except (ValueError, OSError):
            return "other"
        return "other" if problems else "same"

    def other_library(self, libraries: Iterable[tuple[str, str]]) -> str | None:
        """After a task ran: why its value may not be the one its key names, if a library the
        build's keys name at one version (``Task.libraries``) is installed at another on this
        worker, and imported in this process; else None. A library this process has not
        imported ran no code for the task."""
        for top, keyed in libraries:
            if top not in sys.modules:
                continue
            wanted = keyed.split(" ", 1)[0]  # (an editable one's: its version, then its source's digest)
            if top not in self.installed:
                self.installed[top] = _installed_version(top, self.installed)
            have = self.installed[top]
            if have != wanted:
                here = f"{have} on this worker" if have else "not an installed distribution on this worker"
                return (f"library {top} is {here}, but the build's keys name {wanted} (the version on the build's "
                        f"machine): install {top} {wanted} on the workers, or build with another executor")
        return None

    def close(self) -> None:
        try:
            for name, value in self.env_before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            if self.cwd_before is not None:
                try:
                    os.chdir(self.cwd_before)
                except OSError:
                    pass
        finally:
            try:
                try:
                    self.imports.__exit__(None, None, None)
                finally:
                    if self.guard is not None:
                        self.guard.__exit__(None, None, None)
            finally:
                self._forget_locks()

    def _forget_locks(self) -> None:
        """Only the build locks this visit added: a worker in the build's own process (a dask
        LocalCluster without processes) keeps those its build holds."""
        from .usercode import BUILD_LOCKS

        BUILD_LOCKS.difference_update(self.build_locks)
        self.build_locks = set()


class _Elsewhere:
    """The project's module names are not imported from anywhere else while a visit lasts
    (hidden if loaded, refused if asked for): on a worker that cannot see the project directory;
    and on one that sees it, ``after`` the project's own finder (``ProjectImports``), for a name
    the build imports from the project that the directory on this worker lacks."""

    def __init__(self, project_dir: str, names: frozenset[str], after: Any = None) -> None:
        self.project_dir = project_dir
        self.names = names - sys.stdlib_module_names  # (never the standard library's: the worker's own code uses it)
        self.after = after
        self.hidden: dict[str, Any] = {}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname.partition(".")[0] in self.names and not (self.after is not None and self._in_project(fullname, path)):
            where = ("which this worker cannot see" if self.after is None else
                     "where this worker does not find it (the project directory on this worker is not the build's)")
            raise ModuleNotFoundError(
                f"No module named {fullname!r} on this worker: it is a module of the project at "
                f"{self.project_dir}, {where} (a module the AssetFile imports travels with each task; one "
                "imported only inside a function does not)", name=fullname)
        return None

    def _in_project(self, fullname: str, path: Any) -> bool:
        """Whether the path finder finds ``fullname`` in the project directory (what the
        project's finder leaves to it: a compiled extension module, a namespace package)."""
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        where = [spec.origin] if spec is not None and spec.origin else list(
            getattr(spec, "submodule_search_locations", None) or ())
        root = os.path.join(self.project_dir, "")
        return any(isinstance(w, str) and w.startswith(root) for w in where)

    def _ours(self) -> list[str]:
        return [n for n in list(sys.modules) if n.partition(".")[0] in self.names]

    def __enter__(self) -> _Elsewhere:
        self.hidden = {n: sys.modules.pop(n) for n in self._ours()}
        # (behind the project's own finder, if any: it finds the project's modules first)
        at = 0 if self.after is None else sys.meta_path.index(self.after.finder) + 1
        sys.meta_path.insert(at, self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        # (behind ProjectImports, which forgets the project's modules and puts back those it hid:
        # only the names this one hid go, for the modules it hid)
        tops = self.names if self.after is None else {n.partition(".")[0] for n in self.hidden}
        for name in [n for n in list(sys.modules) if n.partition(".")[0] in tops]:
            del sys.modules[name]
        sys.modules.update(self.hidden)
        self.hidden = {}


# --- one visit at a time ---------------------------------------------------------------------

_COND = threading.Condition()
_HERE: _Visit | None = None  # the visit under way in this process
_WAITING: dict[str, int] = {}  # visit id -> its tasks waiting to enter, in the order the visits came


def _enter(visit: WorkerVisit) -> _Visit:
    """Join ``visit`` (entering it if none is under way), once no other visit is under way and
    no task of another visit has waited longer."""
    global _HERE
    with _COND:
        _WAITING[visit.id] = _WAITING.get(visit.id, 0) + 1
        try:
            while (_HERE is not None and _HERE.id != visit.id) or next(iter(_WAITING)) != visit.id:
                _COND.wait()
        finally:
            _WAITING[visit.id] -= 1  # (in place: the visit keeps its turn)
            if not _WAITING[visit.id]:
                del _WAITING[visit.id]
            _COND.notify_all()
        if _HERE is None:
            _HERE = _Visit(visit)
        _HERE.tasks += 1
        return _HERE


def _leave(here: _Visit) -> None:
    """A task of ``here`` ended; the last one ends the visit and lets the next one in."""
    global _HERE
    with _COND:
        here.tasks -= 1
        if here.tasks:
            return
        _HERE = None
        try:
            here.close()
        finally:
            _COND.notify_all()


def _installed_version(top: str, known: dict[str, Any]) -> str | None:
    """The version of the installed distribution that import name ``top`` comes from (the one
    named so, else the first that provides it), as the build's machine finds it
    (``session.distributions``); None if none does. The map of import names to distributions,
    a read of every distribution's files, is made once into ``known`` (a visit's)."""
    from importlib import metadata

    try:
        return metadata.version(top)
    except metadata.PackageNotFoundError:
        pass
    if " names" not in known:  # (no import name has a space)
        known[" names"] = metadata.packages_distributions()
    for dist in known[" names"].get(top, ()):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


_EMPTY: str | None = None


def _empty_dir() -> str:
    """A directory of this process with nothing in it, that nothing can write to: the working
    directory of a task whose project directory is not on this machine."""
    global _EMPTY
    if _EMPTY is None or not os.path.isdir(_EMPTY):
        import atexit
        import tempfile

        _EMPTY = tempfile.mkdtemp(prefix="assetbuild-no-project-")
        os.chmod(_EMPTY, 0o555)
        atexit.register(_remove_empty, _EMPTY)
    return _EMPTY


def _remove_empty(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


__all__ = ["WorkerVisit", "run_visiting", "top_level_modules"]


# --- what a task carries for such a worker to check (made by session.building) ----------

def keyed_libraries(fp: Any, adef: Any, libraries: dict[str, str], *, sliced: bool) -> tuple[tuple[str, str], ...]:
    """The libraries the build's keys name, at the versions they name (``Task.libraries``): a
    worker that outlives builds checks those it imported against its own (``sharedworkers``).
    A slice took its keys' code fingerprints from the snapshot, looking up no library: the
    asset's function is fingerprinted here for them (the code is the same, proved)."""
    if sliced and adef.code_version is None:
        try:
            fp.fingerprint_function(adef.fn, adef.name)
        except Exception:  # noqa: BLE001 - its key was made without it; the check is what is lost
            pass
    return tuple(sorted(libraries.items()))


def source_versions(graph: Any, name: str, files: Any, store: Any) -> tuple[tuple[str, Any, Any], ...]:
    """(path, data version, by mtime) of each source ``name`` reads, as its key holds them, and
    (upstream, its manifest's bytes, None) of each upstream whose files (``outputs=``) it reads
    (``Task.sources``): a worker on another machine checks that the files it reads at those
    paths are those (``sharedworkers``)."""
    from .definitions import AssetDef, SourceDef
    from .errors import AssetbuildError

    out: list[tuple[str, Any, Any]] = []
    for _, up in graph.inputs.get(name, ()):
        d = graph.nodes.get(up)
        try:
            if isinstance(d, SourceDef):
                out.append((d.path, files.source_version(d.path), d.path in graph.mtime_paths))
            elif isinstance(d, AssetDef) and d.outputs and store is not None:
                head = store.get_head(up)
                if head is not None:
                    out.append((up, bytes(store.read_blob(head.output_digest)), None))
        except AssetbuildError:  # (its key could not be made without it: not sent)
            continue
    return tuple(out)
