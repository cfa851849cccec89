"""Interrupts raised where a signal's handler could raise them, one point at a time: for tests
that check code stays consistent wherever Ctrl-C or SIGTERM lands (``sys.settrace``)."""

from __future__ import annotations

import dis
import sys
import types
from collections.abc import Callable
from typing import Any


def signal_points(code: types.CodeType) -> set[int]:
    """Where CPython runs a Python signal handler in ``code`` (so where Ctrl-C or SIGTERM can
    raise): as a call returns, at a loop's back edge, as the function starts."""
    ins = list(dis.get_instructions(code))
    points = {ins[0].offset}
    for prev, cur in zip(ins, ins[1:]):
        if prev.opname.startswith("CALL"):
            points.add(cur.offset)
        if "BACKWARD" in cur.opname or cur.opname == "JUMP_ABSOLUTE":
            points.add(cur.argval)
    return points


def interrupt_at(n: int, watched: set[types.CodeType]) -> Callable[..., Any]:
    """A trace function that raises KeyboardInterrupt, as a signal's handler would, at the nth
    point where one can come in the code of ``watched`` and in what it calls (main thread)."""
    left = [n]
    points: dict[types.CodeType, set[int]] = {}
    # 3.12 and 3.13 deliver opcode events only once a frame asked for them before the watched
    # code is called: the caller's, which runs it
    sys._getframe(1).f_trace_opcodes = True

    def local(frame: types.FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True  # (3.13.0 ignores it set in ``trace``, at the call: again at each event)
        if event == "opcode":
            where = points.get(frame.f_code)
            if where is None:
                where = points[frame.f_code] = signal_points(frame.f_code)
            if frame.f_lasti in where:
                left[0] -= 1
                if left[0] == 0:
                    raise KeyboardInterrupt
        return local

    def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
        f: types.FrameType | None = frame
        while f is not None and f.f_code not in watched:
            f = f.f_back
        if f is None:
            return None
        frame.f_trace_opcodes = True
        return local

    return trace
