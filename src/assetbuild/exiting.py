"""How the command ends: without the interpreter's teardown when nothing else would run at
exit; with status 1 when its output went to a stdout the caller had closed; with a report of
where, when C code faults."""

from __future__ import annotations

import io
import sys

TYPE_CHECKING = False  # (typing is not imported: the null build that ends here stays lean)
if TYPE_CHECKING:
    from typing import Any


class LostOutput(io.FileIO):
    """A standard output the caller closed (``streams.stand_in_for_closed_streams``): /dev/null
    holds its descriptor; what is written is counted, not written."""

    written = 0

    def write(self, b: Any) -> int:
        LostOutput.written += len(b)
        return len(b)


def lost_output_status(status: int | str | None) -> int | str | None:
    """The status of a command that ended with ``status``: 1 instead of success if it wrote to a
    stdout its caller had closed (as when the reader of a pipe went away), said on stderr."""
    if not isinstance(getattr(getattr(sys.stdout, "buffer", None), "raw", None), LostOutput):
        return status
    sys.stdout.flush()
    if not LostOutput.written:
        return status
    sys.stderr.write("assetbuild: error: standard output is closed: what this command printed there was lost\n")
    sys.stderr.flush()
    return 1 if status in (0, None) else status


def exit_now(code: Any) -> None:
    """End the process without the interpreter's teardown, which frees every object one by one:
    0.2 s after a build of 90,000 partitions, for nothing. Only when nothing else would run at
    exit: no other thread, no worker process, no atexit callback but logging's (an asset's code
    that registered one keeps the normal exit). Returns when that is not so."""
    import atexit
    import os
    import threading

    files = sys.modules.get("assetbuild.atomicfile")
    if files is not None:  # (its thread frees the files writes replaced: done before the count)
        files.close_replaced()
    count = getattr(atexit, "_ncallbacks", None)
    if count is None or count() > ("logging" in sys.modules) or threading.active_count() != 1 \
            or "multiprocessing" in sys.modules:
        return
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, int) and code is not None:  # sys.exit("message") prints it, as Python would
        print(code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the normal exit would say so, and fail
        return
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    os._exit(status)


def say_faults() -> None:
    """The command's: a fault inside C code (LMDB reading past the end of a damaged index in a way
    ``store.pagecheck`` did not foresee: SIGBUS, no exception) then says so, and where, rather
    than ending the command without a word. Not the library's: a program that imports
    assetbuild keeps its own fault handling."""
    import faulthandler

    try:
        faulthandler.enable()
    except (OSError, ValueError, AttributeError):  # a stderr without a file descriptor
        pass
