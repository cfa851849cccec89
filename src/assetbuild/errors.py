"""The exception hierarchy: every error a user can cause, carrying what the CLI needs for one clear line.

Anything raised that is not an ``AssetbuildError`` is a bug in assetbuild and shows its traceback.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is not imported for annotations: `assetbuild --help` loads this)
# The first line of a failed asset's traceback none of whose frames is the project's code (an IO
# manager's or a resource's failure): shown with -v only, the error line says it all
NOT_USER_CODE = "Traceback (most recent call last; none of it in the project's code):\n"
if TYPE_CHECKING:
    from typing import Any


def describe_exception(exc: BaseException) -> str:
    """Any exception in one line, ``Type: message`` (the type alone when it says nothing): how
    a user's failing code and a failing AssetFile are named in messages. An exception whose
    ``__str__`` fails is named as Python's traceback module names it: the message of the user's
    failure, never a failure of assetbuild's own."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - user code: any of its errors
        text = "<exception str() failed>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AssetbuildError(Exception):
    """Base of the errors a user can cause. ``str(err)`` is the one line the CLI prints."""

    exit_status = 2


class DefinitionError(AssetbuildError):
    """The AssetFile cannot be turned into a valid graph (syntax, load failure, bad name, unknown input...).

    ``file`` and ``line`` locate the problem when known; the message is prefixed with them.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 detail: str | None = None, excerpt: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.detail = detail  # full traceback text, shown with -v
        # the source line and its caret, as Python shows a SyntaxError: shown below the one line
        self.excerpt = excerpt
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{where}{message}")


def syntax_excerpt(exc: SyntaxError) -> str | None:
    """The lines Python prints between a SyntaxError's location and its message: the source
    line and the caret under the fault (None when Python has no source line to show)."""
    import traceback

    lines = "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n").splitlines()
    body = [ln for ln in lines[1:-1] if ln.strip()]
    return "\n".join(body) if body and lines[0].lstrip().startswith("File ") else None


class ProjectNotFound(DefinitionError):
    """No AssetFile where one was looked for. ``str()`` speaks the Python API's words
    (``project_dir=``, ``assetfile=``); ``cli_message`` is what the command line says instead
    (``-C DIR``, ``-f FILE``), so each caller is told what it can change."""

    def __init__(self, message: str, *, api_hint: str, cli_hint: str) -> None:
        self.cli_message = f"{message} ({cli_hint})"
        super().__init__(f"{message} ({api_hint})")


class CycleError(DefinitionError):
    """The dependency graph has a cycle; ``cycle`` lists every asset in it, in order."""

    def __init__(self, cycle: list[str], *, file: str | None = None, line: int | None = None) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join([*cycle, cycle[0]]), file=file, line=line)


class SelectionError(AssetbuildError):
    """A selection names an asset that does not exist."""


class AssetFailed(AssetbuildError):
    """An asset's function raised; ``traceback`` is trimmed to user code."""

    exit_status = 1

    def __init__(self, asset: str, error: str, traceback: str = "") -> None:
        self.asset = asset
        self.error = error
        self.traceback = traceback
        super().__init__(f"asset {asset!r} failed: {error}")


class StoreError(AssetbuildError):
    """The cache directory cannot be used (newer format, permissions, disk full...)."""


def disk_fault(err: BaseException) -> StoreError | None:
    """For an OSError by which the disk or its file system says it is failing (EIO; EBADMSG,
    ext4's bad checksum; EUCLEAN, a corrupted file system): a StoreError naming the file, one
    line and exit status 2 where it was a traceback (neither a bug of assetbuild's nor a user's
    mistake; -v shows where). None for any other error."""
    import errno

    faults = (errno.EIO, errno.EBADMSG, getattr(errno, "EUCLEAN", errno.EIO))
    if not isinstance(err, OSError) or err.errno not in faults:
        return None
    where = f"{err.filename}: " if err.filename else ""
    fault = StoreError(f"{where}{err.strerror or err}: the disk or its file system reports a fault "
                       "(the system log says more); check the disk, or restore the file")
    fault.__cause__ = err
    return fault


class CannotWrite(StoreError):
    """A file the user named for a command to write (``cache export FILE``, ``graph -o FILE``,
    ``init DIR``'s files) cannot be written: its directory is missing, it is a directory, no
    permission, the disk is full. One message for all, ``cannot write PATH: reason``, exit 2.
    A ``StoreError`` because ``export_cache`` raised that before it had a class of its own."""

    def __init__(self, path: object, error: OSError) -> None:
        self.path = str(path)
        super().__init__(f"cannot write {path}: {error.strerror or error}")


class SliceInsufficient(Exception):
    """A build of a sliced project (``session.project.stand_in``) found it needs more of the
    project than the slice: the build starts over with the whole project loaded. ``done``: the
    results of what it ran first (by asset), which the whole build reports as this command's;
    ``run``: the run that recorded them (``history.RunRecorder``), which the whole build goes on."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.done: dict[str, Any] = {}
        self.run: Any = None


class KeysMoved(SliceInsufficient):
    """The project's dynamic partition keys changed while its build waited for the build lock
    (``partitions add`` or ``remove`` took it first): the build starts over with the project
    loaded again, so it neither builds a key just removed nor drops one just added."""


class CacheCorrupt(AssetbuildError):
    """A stored blob is missing or does not hash to its digest. Never loaded; the asset is rebuilt.
    ``said``: the layer that found it already told the user (a remote cache's one warning, or
    its count), so the rebuild it leads to adds no warning of its own."""

    def __init__(self, digest: str, reason: str, *, said: bool = False) -> None:
        self.digest = digest
        self.reason = reason
        self.said = said
        super().__init__(f"stored output {digest[:12]} is {reason}")


class SourceMissing(AssetbuildError):
    """A declared source file or directory does not exist; its dependents fail."""

    exit_status = 1

    def __init__(self, path: str) -> None:
        self.path = path
        self.problem = f"does not exist: {path}"  # after "source 'name' "
        super().__init__(f"source file or directory not found: {path}")


class SourceUnusable(SourceMissing):
    """A declared source exists but cannot be read as data: a FIFO, socket or device (the read
    would block or never end), a symlink loop, no permission. ``path`` names the file at fault
    (inside the source when it is a directory); its dependents fail like a missing source's."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.problem = f"cannot be read: {path} {reason}"
        AssetbuildError.__init__(self, f"source {path} {reason}")


class PluginError(AssetbuildError):
    """A plugin is broken or two plugins register the same name; the message names them."""


class ValueNotFound(AssetbuildError):
    """``show``/``load_value`` asked for an asset that has no stored value."""


class VersionGone(ValueNotFound):
    """An older version of an asset that the cache no longer holds (``cache gc`` dropped it, or
    the build that found it could not be loaded back): said, never guessed from another version."""

    exit_status = 1


class VersionTrimmed(VersionGone):
    """An older version of an asset whose record ``cache gc`` trimmed from the history (it keeps
    the newest events of each asset): it was recorded, unlike a number past every version."""


class AcceptRefused(AssetbuildError):
    """``accept`` will not record an asset's output as its current key's result: the output is
    missing or changed, an input is not up to date, or nothing can be accepted. Exit 1, like
    ``status --check``: it is the project's state, not the command, that is wrong."""

    exit_status = 1


class ReentrantCall(AssetbuildError):
    """An asset called the Python API for something the build running it holds: the process's
    turn (an asset in a thread of the build) or its cache directory's build lock (its own
    project). The call would wait for the build, which waits for the asset: refused at once."""


class ConfigError(AssetbuildError):
    """An option or ``[tool.assetbuild]`` setting is invalid (unknown executor, bad -j value...)."""


class DynamicKeyError(ConfigError):
    """A dynamic partition key (``partitions add``, kept in the cache) makes the project invalid:
    the AssetFile is not at fault, so the message names the key and how to remove it."""

    def __init__(self, name: str, key: str, problem: str) -> None:
        import shlex

        self.name, self.key, self.problem = name, key, problem
        super().__init__(f"dynamic partition key {key!r} of {name} (added with partitions add) makes the "
                         f"project invalid: {problem}; remove it: assetbuild partitions remove {shlex.quote(name)} {shlex.quote(key)}")


class WorkerLost(AssetbuildError):
    """The worker process running an asset died (segfault, ``os._exit``, OOM killer, a lost node).

    ``isolated`` is True when the executor knows this task alone caused it (it already retried it
    elsewhere, or it ran alone); otherwise the scheduler reruns the task by itself to find out.
    """

    exit_status = 1

    def __init__(self, message: str, *, isolated: bool = False) -> None:
        self.isolated = isolated
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_worker_lost, (str(self), self.isolated))


def _worker_lost(message: str, isolated: bool) -> WorkerLost:
    return WorkerLost(message, isolated=isolated)


class ToolError(AssetbuildError):
    """A program a command runs is not installed or failed (Graphviz's ``dot`` for ``graph
    --format png``); the message says how to get it."""


class LibraryChanged(AssetbuildError):
    """A build's keys name a library at the version installed now, but this process has imported
    another version of it (upgraded, downgraded or removed since: ``%pip install -U`` in a
    notebook). Its assets would run the old code under the new version's key, so the build is
    refused; the message names the library, both versions and says to restart the process."""
