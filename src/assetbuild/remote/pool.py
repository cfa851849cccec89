"""The threads that carry transfers to and from the remote cache: a pool whose threads never
keep the process alive.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so one
transfer stuck in a request that no timeout bounds (a server that accepts a connection and never
reads, a hung network file system) kept the command from ever exiting after the build had
abandoned it. These threads are daemons: an abandoned transfer ends with the process. That is
safe for the remote because every write there is whole or absent (an object store's PUT, a
folder's temp file and rename) and a record is written only after its blobs, so an upload cut
short leaves at most an unreferenced blob, never an entry a reader would use (and the temp file
of a folder's is removed: ``RemoteUploads._abandon``, or the next write in that folder).
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Item = tuple["cf.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool(cf.Executor):
    """At most ``max_workers`` daemon threads running what is submitted, in order; see the module
    docstring. ``shutdown(wait=False)`` leaves running transfers to end (or not) on their own."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max = max(1, max_workers)
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> cf.Future[T]:
        fut: cf.Future[T] = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((fut, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                t = threading.Thread(target=self._work, name=f"{self._prefix}_{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)
        return fut

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, fn, args, kwargs = item
            del item
            if fut.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as e:  # noqa: BLE001 - the future carries it
                    fut.set_exception(e)
                else:
                    fut.set_result(result)
            del fut, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for t in threads:
                t.join()
