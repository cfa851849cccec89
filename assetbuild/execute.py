"""The one place that calls user functions: call, unwrap ``Output``, serialize, digest.

A failure becomes an ``AssetFailed`` whose traceback shows only the user's frames (the AssetFile
and the project's modules), the way a user reads it, not assetbuild's own plumbing.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .definitions import AssetDef, Output
from .errors import AssetFailed


@dataclass
class Produced:
    """An asset's fresh output: its bytes, their digest, its data version and metadata."""

    data: bytes
    digest: str
    data_version: str
    duration_s: float
    metadata: dict[str, Any] = field(default_factory=dict)


def user_traceback(exc: BaseException, is_user_file: Callable[[str], bool]) -> str:
    """The exception's traceback reduced to frames in user files (all frames if none are)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if is_user_file(f.filename)]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(mine or frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_asset(adef: AssetDef, kwargs: dict[str, Any], io: Any, *,
              is_user_file: Callable[[str], bool], context: Any = None) -> Produced:
    """Call the asset's function and serialize its value with ``io``; AssetFailed on any error."""
    if context is not None:
        kwargs["context"] = context
    t0 = time.perf_counter()
    try:
        value = adef.fn(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's exception is the asset's failure
        raise AssetFailed(adef.name, describe(e), user_traceback(e, is_user_file)) from e
    duration = time.perf_counter() - t0
    metadata: dict[str, Any] = {}
    data_version = None
    if isinstance(value, Output):
        metadata.update(value.metadata)
        data_version = value.data_version
        value = value.value
    if context is not None and context.metadata:
        metadata.update(context.metadata)
    try:
        data = io.dump(value)
    except Exception as e:  # noqa: BLE001
        raise AssetFailed(adef.name, f"cannot store its value ({type(value).__module__}."
                          f"{type(value).__qualname__}) with io={adef.io!r}: {describe(e)}") from e
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise AssetFailed(adef.name, f"IO manager {adef.io!r} returned {type(data).__name__}, not bytes")
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return Produced(data, digest, data_version or digest, duration, metadata)


def is_user_file_for(project_dir: str) -> Callable[[str], bool]:
    """A predicate: is this filename the AssetFile or a project module (not an installed package)?"""
    root = os.path.join(project_dir, "")
    own = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")

    def is_user(filename: str) -> bool:
        return filename.startswith(root) and "site-packages" not in filename \
            and "dist-packages" not in filename and not filename.startswith(own)

    return is_user
