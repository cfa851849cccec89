"""The exception hierarchy's helpers (``errors``)."""

from __future__ import annotations

import os
import traceback

from assetbuild.errors import StoreError, describe_exception, disk_fault


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


def test_a_failing_disk_is_a_store_error_naming_the_file() -> None:
    """EIO, EBADMSG (ext4's bad checksum) and EUCLEAN (a corrupted file system) from anywhere
    were raw tracebacks (a stat in the cache directory's checks, the AssetFile's, an output's);
    the CLI and the fast path now say them in one line, exit 2."""
    import errno

    for code in (errno.EIO, errno.EBADMSG, errno.EUCLEAN):
        err = OSError(code, os.strerror(code), "/p/.assetbuild/STORE")
        fault = disk_fault(err)
        assert isinstance(fault, StoreError) and fault.__cause__ is err
        assert str(fault).startswith(f"/p/.assetbuild/STORE: {os.strerror(code)}: the disk or its file system reports")
    assert disk_fault(OSError(errno.ENOENT, "No such file or directory", "x")) is None
    assert disk_fault(ValueError("x")) is None
