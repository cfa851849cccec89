"""The transport: one remote cache reached through fsspec (``file://``, ``s3://`` and
S3-compatible servers), with bounded reads and a circuit breaker. Layout under the remote URL::

    records/ab/<key>      one signed record per key (see ``records``)
    blobs/cd/<digest>     output bytes, content-addressed by sha256 (written before any record
                          that names them)

The only importer of fsspec (and, through it, s3fs), on the first request: a build that needs
nothing from the remote never imports them. Whoever can write to the remote can plant anything
there, so reads are bounded: a record at most MAX_RECORD bytes, a blob one byte past its signed
size, and in a ``file://`` folder no symlink, FIFO or device is followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..atomicfile import atomic_writer, create_temp_in, open_dir_below, sweep_temps
from ..redaction import display_url, redact_text, remote_secrets
from ..wording import words
from .folder import local_chunks, read_local
from .listing import listed_keys, watch_pages
from .records import MAX_RECORD, NO_KEYS, RecordKeys, RemoteRejected

REMOTE_ENV = "ASSETBUILD_REMOTE"
# A temp file in a folder remote is a killed or abandoned upload's once nothing has written to it
# for this long: a writer on another machine may hold it without this one seeing its lock.
LEFTOVER_IDLE = 3600.0
DEFAULT_TIMEOUT = 10.0
_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
_COPY_CHUNK = 1 << 20  # an upload from a local file to a local folder, read this much at a time
_STREAM_CHUNK = 8 << 20  # a download into a file: one ranged read per this much (of an object store)


class RemoteDown(Exception):
    """The remote is unusable for the rest of this build (set once, by the first failure)."""


class UploadFailed(Exception):
    """One write to the remote failed (the caller stops uploading for the rest of the build)."""


@dataclass
class RemoteSettings:
    """What ``--remote`` and its options asked for."""

    url: str
    read_only: bool = False
    trust_unsigned: bool = False
    timeout: float = DEFAULT_TIMEOUT  # connect and read timeouts of one request, in seconds
    options: dict[str, Any] = field(default_factory=dict)  # fsspec storage options
    keys: RecordKeys = NO_KEYS
    concurrency: int = 32
    prefetch: int | None = None  # records to fetch ahead (default: from the plan's size)

    def deadline(self, size: int = 0) -> float:
        """Seconds a transfer of ``size`` bytes may take in all: far beyond the request timeouts
        (and 1 MB/s). Past it the remote counts as down (a hung file system, or a server that
        accepts a connection and never reads, has no timeout of its own)."""
        return 4 * self.timeout + 5 + size / 1e6

    @property
    def shown(self) -> str:
        """The URL as every message shows it: its credentials hidden (see ``redaction``)."""
        return display_url(self.url)

    @property
    def secrets(self) -> list[str]:
        """What no message may show: the URL's credentials, secret storage options' values."""
        return remote_secrets(self.url, self.options)

    @classmethod
    def from_env(cls, url: str | None, **kw: Any) -> RemoteSettings | None:
        """None when neither ``url`` nor $ASSETBUILD_REMOTE names a remote; ConfigError for a
        malformed key in the environment, or a URL missing its slashes (``s3:/bucket``: a folder
        named ``s3:`` in the working directory otherwise, and no shared cache); ValueError for a
        timeout that is no positive number of seconds."""
        where = words("--remote {}", "remote={!r}") if url is not None else f"${REMOTE_ENV} {{}}"
        url = url if url is not None else os.environ.get(REMOTE_ENV)
        if not url:
            return None
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):(?!//)", url)
        if scheme is not None:
            from ..errors import ConfigError

            slashes = ":///" if scheme[1].lower() == "file" else "://"  # (file://x/... names a host x)
            meant = display_url(f"{scheme[1]}{slashes}{url[scheme.end():].lstrip('/')}")
            raise ConfigError(f"{where.format(display_url(url))}: a URL's scheme is followed by '://' (did you mean "
                              f"{meant}?); a folder is a path or file:///path")
        if kw.get("timeout") is not None:  # (NaN, inf and 0 were taken, and left to the requests)
            from ..clock import check_span

            check_span(kw["timeout"], "remote_timeout", positive=True)
        return cls(url, keys=RecordKeys.from_env(), **{k: v for k, v in kw.items() if v is not None})


def _storage_options(url: str, settings: RemoteSettings) -> dict[str, Any]:
    """fsspec options: bounded timeouts and no listing cache; S3 endpoint from the AWS variables."""
    opts = dict(settings.options)
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            opts.setdefault("endpoint_url", endpoint)
        cfg = dict(opts.get("config_kwargs") or {})
        cfg.setdefault("connect_timeout", settings.timeout)
        cfg.setdefault("read_timeout", settings.timeout)
        cfg.setdefault("retries", {"total_max_attempts": 2, "mode": "standard"})  # one retry
        opts["config_kwargs"] = cfg
        opts.setdefault("skip_instance_cache", True)
        opts.setdefault("max_concurrency", 1)  # else every GET is preceded by a HEAD (chunked reads)
    opts.setdefault("use_listings_cache", False)  # a stale listing would hide new entries
    return opts


_KEPT: dict[tuple[Any, ...], tuple[Any, str]] = {}  # oldest first
_KEPT_MAX = 4  # a process that reaches many remotes keeps the newest clients only
_KEPT_LOCK = threading.Lock()


def _file_system(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """fsspec's file system for ``url`` and the path in it, kept for the process: the next build
    in it (a watch cycle, a tick of ``assetbuild run``) reuses its client and connections. A new
    S3 file system and its first listing took 120-360 ms, a listing on a kept one 9 ms. Kept
    per process (a forked one makes its own), URL, options and AWS_* variables (credentials,
    profile, region: what the client read when it was made); the newest ``_KEPT_MAX``."""
    from fsspec.core import url_to_fs

    key = (os.getpid(), url, repr(sorted(options.items())),
           tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    with _KEPT_LOCK:
        kept = _KEPT.pop(key, None)
        if kept is not None:
            _KEPT[key] = kept  # the newest again
    if kept is None:
        made = url_to_fs(url, **options)
        with _KEPT_LOCK:
            kept = _KEPT.setdefault(key, made)
            while len(_KEPT) > _KEPT_MAX:
                del _KEPT[next(iter(_KEPT))]
    return kept


def _quiet_lost_connections(loop: Any) -> None:
    """Drop asyncio's report of an unretrieved connection error on fsspec's event loop. When a
    server resets connections while bodies upload, aiohttp's task writing each body fails on
    its own, and asyncio printed a "Task exception was never retrieved" traceback for each
    (dozens in one build), though the request those tasks served failed with the same error
    and gave the remote's one warning. Anything else is reported as before (the handler that
    was set, or asyncio's default). The loop is the process's (fsspec's), so installed once."""
    earlier = loop.get_exception_handler()
    if getattr(earlier, "_assetbuild", False):
        return

    def handler(loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (context.get("message", "").startswith("Task exception was never retrieved")
                and (isinstance(exc, OSError) or type(exc).__module__.startswith("aiohttp"))):
            return
        if earlier is not None:
            earlier(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._assetbuild = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


_DESCRIBED_MAX = 240  # characters of an error's text a warning shows


def describe_error(err: BaseException, secrets: Iterable[str] = ()) -> str:
    """An error in one line, with its type: what a warning about the remote shows. A first line
    that only introduces the next (botocore's ``Parameter validation failed:``) is joined to it;
    any URL in the text is in its display form, and ``secrets`` (``RemoteSettings.secrets``) are
    hidden (a client may quote what it misread as a bucket or host name)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "")
    text = redact_text(text, secrets)
    if len(text) > _DESCRIBED_MAX:
        text = text[:_DESCRIBED_MAX - 1].rstrip() + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class RemoteCache:
    """One remote cache: listing, batched record fetches, blob transfers, with a circuit breaker.

    Thread-safe: its methods run in the pool's threads. ``down`` is set by the first failure of
    a request (anything but "not found"); after that every method returns at once.
    """

    def __init__(self, settings: RemoteSettings, *, create: bool = True) -> None:
        self.settings = settings
        self.create = create  # a missing file:// folder is made (not by a dry run or status)
        self.url = settings.url  # as given: for fsspec only (messages show ``shown``)
        self.shown = settings.shown
        self.down: str | None = None
        self.progress = 0.0  # (time.monotonic) a listing's start, then each page's arrival
        self.local = False
        self.root = ""
        self._fs: Any = None
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self.abandoned = threading.Event()  # set by ``abandon``: writes in a local folder stop
        self._temps: dict[int, tuple[int, str]] = {}  # a local write under way -> (its folder, dup'd; temp file)
        self._swept: set[str] = set()  # folders of a local remote whose leftover temp files are gone
        self.requests: dict[str, int] = {"list": 0, "records": 0, "record": 0, "blob": 0, "exists": 0, "put": 0}

    @property
    def fs(self) -> Any:
        """The fsspec file system, made on first use: a build that needs nothing from the remote
        never imports fsspec or s3fs (half a second)."""
        if self._fs is None:
            with self._connect_lock:
                if self._fs is None:
                    self._connect()
        return self._fs

    def _connect(self) -> None:
        fs, root = _file_system(self.url, _storage_options(self.url, self.settings))
        if hasattr(fs, "retries"):
            fs.retries = 1  # s3fs's own retry loop (5, with backoff) on top of botocore's
        if getattr(fs, "async_impl", False) and getattr(fs, "loop", None) is not None:
            _quiet_lost_connections(fs.loop)
        self.root = root.rstrip("/")
        self.local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        if self.local and self.create:
            fs.makedirs(self.root, exist_ok=True)  # a file:// folder that does not exist yet
        self._fs = fs

    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.requests[kind] += n

    def record_path(self, key: str) -> str:
        self._guard()
        return f"{self.root}/records/{key[:2]}/{key}"

    def blob_path(self, digest: str) -> str:
        self._guard()
        return f"{self.root}/blobs/{digest[:2]}/{digest}"

    def fail(self, err: BaseException) -> None:
        with self._lock:
            if self.down is None:
                self.down = describe_error(err, self.settings.secrets)

    def _guard(self) -> None:
        """Raise RemoteDown once the remote failed; connect on first use (a failure to connect counts)."""
        if self.down is not None:
            raise RemoteDown(self.down)
        if self._fs is None:
            try:
                self.fs  # noqa: B018 - connects
            except ImportError as e:  # (missing_library found it importable: an install that is broken)
                self.fail(e)
                raise RemoteDown(self.down) from e
            except Exception as e:  # noqa: BLE001 - a bad URL or options, a folder we cannot create
                self.fail(e)
                raise RemoteDown(self.down) from e

    def list_records(self) -> dict[str, float]:
        """Every key with a record, and its modification time (one listing, paginated by the
        server; ``progress``: when its last page came, see ``listing``)."""
        self._guard()
        self._count("list")
        self.progress = time.monotonic()
        watch_pages(self.fs, self._paged)
        try:
            found = self.fs.find(f"{self.root}/records", detail=True)
        except FileNotFoundError:
            return {}
        except Exception as e:  # noqa: BLE001 - any transport error: the remote is down
            self.fail(e)
            raise RemoteDown(self.down) from e
        return listed_keys(found)

    def _paged(self) -> None:
        self.progress = time.monotonic()

    def get_records(self, keys: list[str]) -> dict[str, bytes | None]:
        """The raw records of ``keys`` (None: not there), fetched concurrently in one call."""
        self._guard()
        paths = {self.record_path(k): k for k in keys}
        self._count("records", len(paths))
        try:  # bounded: a record beyond MAX_RECORD is rejected, never read whole
            if self.local:
                got = {p: read_local(p, MAX_RECORD + 1, on_error="return") for p in paths}
            else:
                got = self.fs.cat(list(paths), on_error="return", start=0, end=MAX_RECORD + 1)
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise RemoteDown(self.down) from e
        out: dict[str, bytes | None] = {}
        for path, value in got.items():
            k = paths.get(path) or paths.get(self.fs._strip_protocol(path))
            if k is None:
                continue
            if isinstance(value, FileNotFoundError):
                out[k] = None
            elif _empty_object(value):
                out[k] = b""
            elif isinstance(value, BaseException):
                self.fail(value)
                raise RemoteDown(self.down) from value
            else:
                out[k] = value
        return out

    def get_record(self, key: str) -> bytes | None:
        self._guard()
        self._count("record")
        try:
            return self._cat(self.record_path(key), MAX_RECORD + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            if _empty_object(e):
                return b""
            self.fail(e)
            raise RemoteDown(self.down) from e
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise RemoteDown(self.down) from e

    def get_blob(self, digest: str, size: int) -> bytes:
        """The bytes of ``digest``, verified against the signed ``digest`` and ``size``.

        One ranged read that stops one byte past ``size``: an object larger than signed (a sparse
        file of gigabytes) costs no more memory than the genuine output would, and is rejected.
        """
        if size == 0 and digest == _EMPTY_DIGEST:
            return b""  # nothing to fetch (and an empty range is an error on S3)
        self._guard()
        self._count("blob")
        try:
            data = self._cat(self.blob_path(digest), size + 1)
        except FileNotFoundError:
            raise RemoteRejected("its output bytes are missing from the remote") from None
        except OSError as e:
            if not _empty_object(e):
                self.fail(e)
                raise RemoteDown(self.down) from e
            data = b""
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise RemoteDown(self.down) from e
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise RemoteRejected("its bytes do not match the signed digest"
                                 + (" (the object is larger than signed)" if len(data) > size else ""))
        return data

    def get_blob_file(self, digest: str, size: int, directory: str) -> str:
        """The bytes of ``digest``, verified as ``get_blob`` verifies them, streamed into a new
        temp file in ``directory`` (the local store's spool folder): its path. Never whole in
        memory (a restore of many large outputs at once holds a chunk of each); read at most
        one byte past ``size``, as ``get_blob``: a single ranged read up to 8 MiB, more beyond.
        A fault of ``directory`` (a symlink planted there, a full disk) is the local cache's: a
        StoreError, never the remote's (the remote's are RemoteDown or RemoteRejected)."""
        self._guard()
        self._count("blob")
        try:
            fd, tmp = create_temp_in(directory, "download", mode=0o644)  # (a planted symlink: NotASpoolDir)
        except OSError as e:
            raise spool_fault(directory, e) from e
        kept = False
        try:
            h, n = hashlib.sha256(), 0
            for chunk in self._chunks(self.blob_path(digest), size + 1):
                h.update(chunk)
                n += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            if n != size or h.hexdigest() != digest:
                raise RemoteRejected("its bytes do not match the signed digest"
                                     + (" (the object is larger than signed)" if n > size else ""))
            os.fsync(fd)
            kept = True
            return tmp
        except OSError as e:  # (writing the spool file: _chunks turns the remote's into RemoteDown)
            raise spool_fault(directory, e) from e
        finally:
            os.close(fd)
            if not kept:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _chunks(self, path: str, limit: int) -> Iterator[bytes]:
        """At most ``limit`` bytes of the object at ``path``, in pieces; errors as ``get_blob``
        gives them (missing: RemoteRejected; anything else: the remote is down). The last
        ranged read always starts before the object's end (no empty range, an error on S3)."""
        try:
            if self.local:
                yield from local_chunks(path, limit)
                return
            done = 0
            while done < limit:
                left = limit - done
                want = left if left <= _STREAM_CHUNK + 1 else _STREAM_CHUNK
                chunk = self.fs.cat_file(path, start=done, end=done + want)
                if chunk:
                    yield chunk
                done += len(chunk)
                if len(chunk) < want:
                    return
        except FileNotFoundError:
            raise RemoteRejected("its output bytes are missing from the remote") from None
        except OSError as e:
            if _empty_object(e):
                return
            self.fail(e)
            raise RemoteDown(self.down) from e
        except RemoteRejected:
            raise
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise RemoteDown(self.down) from e

    def _cat(self, path: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the object at ``path`` (a planted object that is not a
        regular file reads as empty: a malformed entry)."""
        if self.local:
            return read_local(path, limit)
        return self.fs.cat_file(path, start=0, end=limit)

    def has_blob(self, digest: str, size: int) -> bool:
        self._guard()
        self._count("exists")
        try:
            return self.fs.size(self.blob_path(digest)) == size
        except FileNotFoundError:
            return False
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise RemoteDown(self.down) from e

    def put(self, path: str, data: bytes) -> None:
        """Write one object; on a local folder through a temp file and a rename (readers never see half)."""
        self._guard()
        self._count("put")
        try:
            if self.local:
                with self._local_writer(path) as out:
                    for i in range(0, len(data), _COPY_CHUNK):
                        self._go_on()
                        out.write(data[i:i + _COPY_CHUNK])
            else:
                self._bounded("pipe_file", len(data), path, data)
        except RemoteDown:
            raise
        except Exception as e:  # noqa: BLE001
            raise UploadFailed(describe_error(e, self.settings.secrets)) from e

    def put_file(self, path: str, source: str | os.PathLike[str]) -> None:
        """Write one object from the local file ``source`` (a blob of the local store), as ``put``
        does, without reading it whole into memory: a local folder gets it in 1 MiB chunks, an
        object store through fsspec's ``put_file`` (s3fs: one request below 100 MiB, else
        multipart in 50 MiB parts)."""
        self._guard()
        self._count("put")
        try:
            if self.local:
                with open(source, "rb") as src, self._local_writer(path) as out:
                    while True:
                        self._go_on()
                        chunk = src.read(_COPY_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
            else:
                self._bounded("put_file", os.path.getsize(source), os.fspath(source), path)
        except RemoteDown:
            raise
        except Exception as e:  # noqa: BLE001
            raise UploadFailed(describe_error(e, self.settings.secrets)) from e

    def _bounded(self, method: str, size: int, *args: Any) -> None:
        """The file system's ``method``, given ``settings.deadline(size)`` in all: the request
        timeouts bound connecting and reading an answer, not sending a body to a server that
        stopped reading. An async file system's request (s3fs) is cancelled at the deadline
        (an object store writes an object whole or not at all); any other is called as is."""
        fs = self.fs
        coro = getattr(fs, f"_{method}", None)
        if not getattr(fs, "async_impl", False) or coro is None:
            getattr(fs, method)(*args)
            return
        from fsspec.asyn import sync
        from fsspec.exceptions import FSTimeoutError

        limit = self.settings.deadline(size)
        try:
            sync(fs.loop, coro, *args, timeout=limit)
        except FSTimeoutError:
            raise TimeoutError(f"no answer in {limit:.0f}s") from None

    @contextmanager
    def _local_writer(self, path: str) -> Iterator[BinaryIO]:
        """A file that becomes the object at ``path`` of a local folder when the block ends (a temp
        file and a rename: readers never see half). Others may write here too: no symlink below
        the root is followed."""
        *parts, name = path[len(self.root) + 1:].split("/")
        fd = open_dir_below(self.root, parts)
        token = id(parts)
        try:
            with atomic_writer(name, dir_fd=fd, crash_at="remote-upload",
                               on_temp=lambda tmp: self._hold_temp(token, fd, tmp)) as out:
                yield out
            folder = "/".join(parts)
            if folder not in self._swept:  # the first write here went through: a killed one's leftovers go
                self._swept.add(folder)
                sweep_temps(fd, idle_for=LEFTOVER_IDLE)
        finally:
            with self._lock:
                held = self._temps.pop(token, None)
            if held is not None:
                os.close(held[0])
            os.close(fd)

    def _hold_temp(self, token: int, fd: int, tmp: str) -> None:
        with self._lock:
            self._temps[token] = (os.dup(fd), tmp)

    def _go_on(self) -> None:
        """Raise RemoteDown once the uploads were abandoned (``abandon``)."""
        if self.abandoned.is_set():
            raise RemoteDown("uploads abandoned")

    def abandon(self) -> None:
        """Stop the writes under way in a local folder and remove their temp files: what an upload
        given up at its deadline would leave there once the process exits (in a folder that
        stopped answering this may block: call it where that blocks no one). An object store
        writes an object whole or not at all (a multipart upload's parts: see the README)."""
        self.abandoned.set()
        with self._lock:
            held, self._temps = list(self._temps.values()), {}
        for dir_fd, tmp in held:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            os.close(dir_fd)


def check_spool_dir(directory: str) -> None:
    """Whether a download could be spooled into ``directory`` now: a temp file made there and
    removed, else the StoreError ``get_blob_file`` would raise (a symlink planted there, no
    permission). Asked on the deciding thread before a large download starts: found in the
    worker, the failure came after the build had said ``restored  big  (remote)``, a success,
    then the error. (A disk that fills during the download is still found there.)"""
    try:
        fd, tmp = create_temp_in(directory, "probe")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise spool_fault(directory, e) from e


def spool_fault(directory: str, err: OSError) -> Exception:
    """A download's write into the local store's spool folder that failed: the local cache's
    StoreError (one line, exit 2), which leaves the remote on and its bytes unsuspected."""
    from pathlib import Path

    from ..atomicfile import NotASpoolDir
    from ..errors import StoreError
    from ..store.failures import disk_message

    if isinstance(err, NotASpoolDir):
        return StoreError(f"cannot restore from the remote cache into the local cache: {err}")
    return StoreError(disk_message(Path(directory), f"cannot write a download from the remote cache into {directory}",
                                   err))


def _empty_object(err: object) -> bool:
    """True for an object store's answer to a ranged read of an empty object (HTTP 416): a
    planted empty file is a malformed entry, not a remote that is down."""
    return isinstance(err, OSError) and err.errno == errno.EINVAL and "range" in str(err).lower()

