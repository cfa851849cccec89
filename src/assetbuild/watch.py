"""Watch mode's file watching: which file-system events count, debouncing, and the watch loop.

The only importer of watchdog (imported when a :class:`Watcher` starts, so importing this module
stays cheap). It knows nothing about loading or building: ``session.watch`` hands the loop a
``cycle`` callable and tells the :class:`Watcher`, after each load, what to watch
(:class:`WatchSet`). Events are classified on watchdog's thread against that set and the paths
that count are collected; the loop takes them once no new one arrived for the debounce time.

What counts: the AssetFile and the project modules it imported (and their symlinks' targets), a
new ``.py`` file anywhere in the project (it may be a module an import looked for, or one that
shadows an import), declared sources (a file, or anything below a directory, or a directory above
one appearing or vanishing), and the cache directory's file of dynamic partition keys. What never
counts: the rest of the cache directory, path outputs and their temp files, ``.git``, ``__pycache__``, editor
swap/backup/lock files, reads (open/close-without-write events, which hashing sources causes),
and the close of a file written (its writes said it; only a write through ``mmap`` has nothing
but the close to say it). An atomic save (write a temp file, rename it over the target) is a move
whose destination counts, and the temp file's own events do not, nor its close after the rename,
so it is one change of the target.

A cycle learns what it read only as it goes (the load the modules it imports, the build those
imported inside functions), so an event is judged against a set that may lack its file. Events
that did not count are kept from the start of a cycle and judged again against each set the cycle
installs: a file the cycle read and that changed while it ran leads to one more cycle.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

DEFAULT_DEBOUNCE_MS = 20
_POLL_S = 0.5  # PollingObserver interval when inotify is out of watches
_WAKE_S = 0.2  # how often a waiting loop looks at a stop event set by another thread

# Editors' swap, backup, lock and probe files: vim (.x.swp, x~, 4913), emacs (.#x, #x#),
# JetBrains (x___jb_tmp___), Kate, gedit, LibreOffice, Chrome. They trigger no build; a directory
# source's version still covers them (workspace: an asset may read every file of its directory).
_EDITOR_NOISE = re.compile(r"""^(?:4913|\.\#.*|\#.*\#|\..*\.sw[a-px]|.*~|.*___jb_(?:tmp|old)___|
                               \..*\.kate-swp|\.goutputstream-.*|\.~lock\..*\#|.*\.crswap|.*\.tmp)$""",
                           re.X)
_NEVER = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_OUTPUT_TEMP = ".assetbuild-tmp"  # atomicfile writes ".<name>.<random>.assetbuild-tmp" (older: ".<name>.assetbuild-tmp[-pid]")
# Events that say nothing about contents: metadata changes. Opens and closes say something only
# together (``_OpenFiles``): every write also sends ``modified`` (or the file is ``created`` or
# ``moved`` into place), except a write through ``mmap``, which only its close reveals.
_IGNORED_EVENTS = frozenset({"attrib"})
# What a cycle names as changed when the system's queue of file events overflowed (watchdog's
# EventsLostEvent names the watched directory, not a file): anything may have changed.
EVENTS_LOST = "(unknown: the file watcher lost events, its queue overflowed)"
_OPEN_CLOSE = frozenset({"opened", "closed", "closed_no_write"})


@dataclass(frozen=True)
class WatchSet:
    """What to watch after a load: absolute paths of code files, sources and path outputs (files,
    and directories of ``outputs=``: what is below one is an output too).

    ``load_failed``: the last load failed, so any ``.py`` file under the project counts too
    (the fix may be a module the AssetFile could not import yet). ``cache_files``: the only files
    of the cache directory that count (``partitions add`` in another terminal writes one).
    ``library_dirs``: the folders of libraries installed editable that keys named (their source
    enters keys): a ``.py`` file edited, added or removed in one counts.
    """

    code_files: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    outputs: frozenset[str] = frozenset()
    load_failed: bool = False
    cache_files: frozenset[str] = frozenset()  # in the cache directory, yet inputs: dynamic partition keys
    library_dirs: frozenset[str] = frozenset()  # editable libraries' folders: a module in one counts


class ChangeFilter:
    """Decides whether a path an event names is a change that counts; immutable, so the observer
    thread can use one while the loop swaps in the next."""

    def __init__(self, project_dir: Path, cache_dir: Path, ws: WatchSet) -> None:
        self.root = os.path.join(str(project_dir), "")
        self.cache = os.path.join(str(cache_dir), "")
        try:
            self.cache_real: str | None = os.path.join(os.path.realpath(cache_dir), "")
        except OSError:
            self.cache_real = None
        self.ws = ws
        self.source_dirs = tuple(os.path.join(s, "") for s in ws.sources)
        self.output_dirs = tuple(os.path.join(o, "") for o in ws.outputs)
        self.library_dirs = tuple(os.path.join(d, "") for d in ws.library_dirs)

    def display(self, path: str) -> str:
        """A path as the user knows it: relative to the project (posix), else absolute."""
        return path[len(self.root):].replace(os.sep, "/") if path.startswith(self.root) else path

    def ignored(self, path: str) -> bool:
        """Whether ``path`` never counts, whatever a load says to watch: the cache directory, a
        path output's temp file, ``.git``, ``__pycache__``, editors' swap and backup files."""
        if path.startswith(self.cache) or (self.cache_real and path.startswith(self.cache_real)):
            return True
        base = os.path.basename(path)
        if _OUTPUT_TEMP in base and base.startswith("."):
            return True
        inside = path[len(self.root):] if path.startswith(self.root) else path
        return bool(_NEVER.intersection(inside.split(os.sep)) or _EDITOR_NOISE.match(base))

    def counts(self, path: str, *, is_directory: bool = False, created: bool = False) -> bool:
        """Whether a change of ``path`` counts; ``created``: the path appeared (created, or the
        destination of a move)."""
        ws = self.ws
        if path in ws.cache_files:
            return True
        if path.startswith(self.cache) or (self.cache_real and path.startswith(self.cache_real)):
            return False
        if path in ws.code_files or path in ws.sources:
            return True
        if path in ws.outputs or path.startswith(self.output_dirs) or self.ignored(path):
            return False
        if path.startswith(self.library_dirs) and (is_directory or path.endswith(".py")):
            return True  # (a package moved or removed: a directory)
        for d in self.source_dirs:
            if path.startswith(d):  # a file in a source directory
                return True
        if is_directory:  # a directory holding a source or code file appeared, vanished or moved
            below = os.path.join(path, "")
            if any(s.startswith(below) for s in ws.sources) or any(c.startswith(below) for c in ws.code_files):
                return True
        if (created or ws.load_failed) and path.endswith(".py") and path.startswith(self.root) and not is_directory:
            # a new module may be one an import looked for (a failing or optional import, or the
            # fix of an AssetFile that did not load), or one that shadows an import (lib/x/__init__.py
            # beside lib/x.py, a json.py): a cycle finds out, at the cost of a null build if not
            from .modulefinder import in_site_directory

            return not in_site_directory(path[len(self.root) - 1:])  # (from the root's own separator)
        return False


class _OpenFiles:
    """Files that count, opened and not seen written since: a ``closed`` event (IN_CLOSE_WRITE)
    counts only when it is the one sign of a write (through ``mmap``). Any other write sent
    ``modified``, ``created`` or ``moved`` already: its close repeats it, and arrives late when
    the writer closes after renaming its temp file over the target (assetbuild's own
    ``write_atomically`` does), under the target's name, which was never opened."""

    def __init__(self) -> None:
        self.unwritten: dict[str, int] = {}  # path -> its opens not followed by a content event

    def written(self, event_type: str, path: str, *, counts: bool) -> bool:
        """Whether this event of ``path`` is a close after a write that no other event showed.
        A content event settles the path's opens; an open is tracked only for a path that
        ``counts`` (the cache's and the outputs' files would pile up)."""
        n = self.unwritten.pop(path, 0)
        if event_type == "opened" and counts:
            self.unwritten[path] = n + 1
        elif event_type in ("closed", "closed_no_write") and n > 1:  # (a reader beside the writer)
            self.unwritten[path] = n - 1
        return event_type == "closed" and n > 0


class _Pending:
    """Paths that changed since the loop last took them, with the time of the latest."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.paths: dict[str, None] = {}  # insertion-ordered set
        self.first = 0.0
        self.last = 0.0

    def add(self, paths: list[str]) -> None:
        with self.cond:
            now = time.monotonic()
            if not self.paths:
                self.first = now
            self.paths.update(dict.fromkeys(paths))
            self.last = now
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def take(self, debounce_s: float, stop: threading.Event, max_wait_s: float,
             until: float | None = None) -> list[str] | None:
        """Block until some path changed and none changed for ``debounce_s`` (or the first change
        is ``max_wait_s`` old: a storm that never settles still builds); None once ``stop`` is set,
        [] if nothing changed by the monotonic time ``until``."""
        with self.cond:
            while True:
                if stop.is_set():
                    return None
                if not self.paths and until is not None and time.monotonic() >= until:
                    return []
                if self.paths:
                    deadline = min(self.last + debounce_s, self.first + max_wait_s)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        out = list(self.paths)
                        self.paths.clear()
                        return out
                    self.cond.wait(min(left, _WAKE_S))
                else:
                    left = _WAKE_S if until is None else until - time.monotonic()
                    self.cond.wait(min(max(left, 0.0), _WAKE_S))


class Watcher:
    """A watchdog observer on the project directory (recursively) and on the directories of
    sources outside it, feeding the paths that count to the loop."""

    def __init__(self, project_dir: Path, cache_dir: Path, *, debounce_s: float = DEFAULT_DEBOUNCE_MS / 1000,
                 warn: Callable[[str], None] = lambda msg: None, polling: bool = False) -> None:
        self.project_dir = project_dir
        self.cache_dir = cache_dir
        self.debounce_s = debounce_s
        self.warn = warn
        self.polling = polling
        self.filter = ChangeFilter(project_dir, cache_dir, WatchSet(load_failed=True))
        self.pending = _Pending()
        # (path, is_directory, created) of the events since the cycle began that did not count
        # against the set of their time: judged again by each set_watch (see the module's
        # docstring); None between cycles, when what the next one reads is still to be read
        self._unmatched: dict[tuple[str, bool, bool], None] | None = {}  # (the first cycle runs at once)
        self._lock = threading.Lock()  # the filter and _unmatched change together
        self._open_files = _OpenFiles()
        self._observer: Any = None
        self._handler: Any = None
        # watches outside the project: (path, recursive) -> (the watch, the identity of the folder
        # it was set on); a folder removed and made again (rm -rf x && cp -r new x) is another
        # folder, which the old watch (ended by the removal) does not see
        self._extra: dict[tuple[str, bool], tuple[Any, tuple[int, int] | None]] = {}
        self._extra_paths: frozenset[str] = frozenset()
        self._replaced: set[str] = set()  # those of them an event said were removed, moved or made

    # --- observer ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching; falls back to polling (with a warning) when inotify runs out of watches."""
        import logging
        import warnings

        from watchdog.events import FileSystemEventHandler

        # watchdog's inotify observer warns when a new directory's watch is added twice (a race
        # of its recursive scan with the directory's own creation event) and logs an error when
        # stopped in the middle of a read; both harmless, and without a handler they would land
        # on the user's terminal (errors it raises still reach us).
        warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)
        log = logging.getLogger("watchdog")
        if not log.handlers:
            log.addHandler(logging.NullHandler())
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                watcher._on_event(event)

        self._handler = _Handler()
        try:
            self._start_observer(polling=self.polling)
        except RecursionError:  # (the watcher walks the tree by recursion: os.walk before Python 3.12)
            from .errors import AssetbuildError

            raise AssetbuildError(f"cannot watch {self.project_dir}: a folder in it is nested deeper than the file "
                                  f"watcher can walk on this Python (about {sys.getrecursionlimit()} levels); move "
                                  "that folder out of the project") from None
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EMFILE) or self.polling:
                raise
            self.warn(f"cannot watch {self.project_dir} with inotify ({e.strerror}: raise "
                      f"fs.inotify.max_user_watches); polling every {_POLL_S}s instead")
            self._start_observer(polling=True)

    def _start_observer(self, *, polling: bool) -> None:
        if polling:
            from watchdog.observers.polling import PollingObserver

            observer: Any = PollingObserver(timeout=_POLL_S)
        else:
            from watchdog.observers import Observer

            observer = Observer()
        observer.schedule(self._handler, str(self.project_dir), recursive=True)
        observer.daemon = True
        try:
            observer.start()
        except BaseException:
            observer.stop()
            raise
        self._observer = observer
        self.polling = polling

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _on_event(self, event: Any) -> None:
        kind = event.event_type
        if kind == "events_lost":  # the kernel's queue overflowed: anything may have changed, and a
            self.pending.add([EVENTS_LOST])  # cycle decides every asset (it was dropped)
            return
        if kind in _IGNORED_EVENTS or (event.is_directory and kind in _OPEN_CLOSE):
            return
        if event.is_directory and kind == "modified":
            return  # a file inside changed: that file's own event says which
        seen = [(os.fsdecode(event.src_path), event.is_directory, kind == "created")]
        if kind == "moved":
            seen.append((os.fsdecode(event.dest_path), event.is_directory, True))
        hits = []
        with self._lock:
            if kind in ("deleted", "moved", "created"):
                self._replaced.update(p for p, _, _ in seen if p in self._extra_paths)
            f = self.filter
            if not event.is_directory:
                written = [self._open_files.written(kind, p, counts=kind == "opened" and f.counts(p)) for p, _, _ in seen]
                if kind in _OPEN_CLOSE and not written[0]:
                    return
            for path, is_directory, created in seen:
                if f.counts(path, is_directory=is_directory, created=created):
                    hits.append(path)
                elif self._unmatched is not None and not f.ignored(path):
                    self._unmatched[(path, is_directory, created)] = None
        if hits:
            self.pending.add(hits)

    # --- what to watch -------------------------------------------------------------------------

    def set_watch(self, ws: WatchSet) -> None:
        """Swap in what the latest load (or build) says to watch; add or drop watches on sources
        and code files outside the project. A change since the cycle began that counts now (a
        file this cycle read, changed while it ran) is a change for the next cycle."""
        f = ChangeFilter(self.project_dir, self.cache_dir, ws)
        with self._lock:
            self.filter = f
            unmatched = self._unmatched or {}
            if self._unmatched is not None:
                self._unmatched = {}
        hits = [p for p, is_directory, created in unmatched if f.counts(p, is_directory=is_directory, created=created)]
        if hits:
            self.pending.add(hits)
        if self._observer is None:
            return
        wanted: set[tuple[str, bool]] = set()
        root = os.path.join(str(self.project_dir), "")
        for s in ws.sources | ws.code_files | ws.cache_files | ws.library_dirs:
            if s.startswith(root):
                continue
            if os.path.isdir(s):
                wanted.add((s, True))
            parent = os.path.dirname(s)
            while parent and not os.path.isdir(parent) and parent != os.path.dirname(parent):
                parent = os.path.dirname(parent)
            if parent:
                wanted.add((parent, False))
        with self._lock:
            replaced, self._replaced = self._replaced, set()
        for key, (_, ident) in list(self._extra.items()):
            if key not in wanted or key[0] in replaced or _identity(key[0]) != ident:
                try:  # (a watch whose folder went has ended: unscheduled, it can be set again)
                    self._observer.unschedule(self._extra.pop(key)[0])
                except (KeyError, OSError):
                    pass
        for path, recursive in wanted - set(self._extra):
            ident = _identity(path)  # (before the watch: a later change of the folder is an event)
            try:
                self._extra[(path, recursive)] = (self._observer.schedule(self._handler, path, recursive=recursive),
                                                  ident)
            except OSError as e:
                self.warn(f"cannot watch {path}: {e.strerror or e}")
        with self._lock:
            self._extra_paths = frozenset(p for p, _ in self._extra)

    def wait_for_changes(self, stop: threading.Event, until: float | None = None) -> list[str] | None:
        """The paths that changed, once they settled (sorted, relative to the project); None on stop;
        [] if none changed by the monotonic time ``until`` (an observable source's poll is due).

        A code file that is missing then (an editor that renames the old file away before writing
        the new one, and was slower than the debounce) gets a little longer to come back.
        """
        self._keep_unmatched(False)  # the cycle is over, and its last set_watch judged them
        max_wait = max(1.0, 10 * self.debounce_s)
        paths = self.pending.take(self.debounce_s, stop, max_wait, until=until)
        if not paths:
            self._keep_unmatched(True)
            return paths
        code = self.filter.ws.code_files
        grace = time.monotonic() + max(0.25, 5 * self.debounce_s)
        while any(p in code and not os.path.exists(p) for p in paths) and time.monotonic() < grace:
            more = self.pending.take(self.debounce_s, stop, max_wait, until=grace)
            if more is None:
                return None
            paths += more
        # A directory that appeared along with files in it: the files say more.
        dirs = {os.path.dirname(p) for p in paths}
        shown = [p for p in dict.fromkeys(paths) if p not in dirs] or paths
        self._keep_unmatched(True)
        return sorted({self.filter.display(p) for p in shown})

    def _keep_unmatched(self, keep: bool) -> None:
        """Keep the events that do not count while a cycle runs (``keep``: one begins, and what it
        reads is read from now on, so earlier events need no second look), not between cycles."""
        with self._lock:
            self._unmatched = {} if keep else None

    def wake(self) -> None:
        self.pending.wake()


def _identity(path: str) -> tuple[int, int] | None:
    """Which folder ``path`` names now (device, inode); None if none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


# --- the loop --------------------------------------------------------------------------------

@dataclass
class LoopState:
    """Shared between the loop and the signal handlers."""

    stop: threading.Event
    building: bool = False
    interrupted: bool = False  # by a KeyboardInterrupt
    signals: list[str] = field(default_factory=list)


class Poller(Protocol):
    """Polls between builds (observable sources' ``poll``): ``deadline()`` is the monotonic time
    the next poll is due (None: none is); ``poll()`` polls what is due and names what changed."""

    def deadline(self) -> float | None: ...

    def poll(self) -> list[str]: ...


def run_loop(watcher: Watcher, cycle: Callable[[list[str] | None], object], state: LoopState,
             poller: Poller | None = None) -> None:
    """Build once (``cycle(None)``), then after each settled change (``cycle(paths)``) until
    ``state.stop`` is set; a KeyboardInterrupt (Ctrl-C, or a signal during a build) ends it too.
    When no file changed by the time ``poller`` is due, it polls: a build follows when it names
    something that changed (``cycle(names)``).

    Changes that arrive during a build are collected and lead to one more build after it.
    """
    if state.stop.is_set():
        return
    try:
        state.building = True
        try:
            cycle(None)
        finally:
            state.building = False
        while not state.stop.is_set():
            changed = watcher.wait_for_changes(state.stop, poller.deadline() if poller is not None else None)
            if changed is None:
                break
            state.building = True  # a poll runs user code too: a signal interrupts it
            try:
                if not changed and poller is not None:
                    changed = poller.poll()
                if changed:
                    cycle(changed)
            finally:
                state.building = False
    except KeyboardInterrupt:
        state.interrupted = True
        state.stop.set()


@contextmanager
def stop_on_signals(state: LoopState, wake: Callable[[], object] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM stop the loop: while it waits, at once (``wake`` ends a wait that
    ``state.stop`` alone does not, such as the watcher's); during a build, by interrupting the
    build (finished work is kept). Installed explicitly because a process started in the
    background by a non-interactive shell inherits SIGINT ignored. Main thread only. Watch mode's
    loop and ``assetbuild run``'s share it."""

    def handler(signum: int, frame: Any) -> None:
        state.signals.append(signal.Signals(signum).name)
        first = not state.stop.is_set()
        state.stop.set()
        if wake is not None:
            wake()
        if first and state.building:  # Terminated: the interrupted build records SIGTERM's 143, not Ctrl-C's 130
            from .interrupts import Terminated

            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
