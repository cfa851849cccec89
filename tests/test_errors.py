"""The exception hierarchy's helpers (``errors``)."""

from __future__ import annotations

import traceback

from assetbuild.errors import describe_exception


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() fails")


class NotAString(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]  # noqa: PLE0307 - the fault under test


def test_describe_exception_is_one_line_for_any_exception() -> None:
    assert describe_exception(ValueError("bad")) == "ValueError: bad"
    assert describe_exception(KeyboardInterrupt()) == "KeyboardInterrupt"
    # an exception whose __str__ fails is named as Python's traceback module names it (it raised)
    for exc in (Unprintable(), NotAString()):
        said = describe_exception(exc)
        assert said == f"{type(exc).__name__}: <exception str() failed>"
        assert traceback.format_exception_only(exc)[-1].rstrip().endswith(said)
