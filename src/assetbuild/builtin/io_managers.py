"""The built-in IO managers: ``pickle`` (the default), ``json``, ``text`` and ``bytes``; ``files``
for assets that write their own files (``outputs=``)."""

from __future__ import annotations

import json
from typing import Any

from ..hookspecs import hookimpl


class PickleIOManager:
    """Any picklable value, with cloudpickle (functions and classes defined in the AssetFile too).

    Pickle bytes are not canonical (equal sets or dicts can pickle differently), so early cutoff
    works best with the ``json``/``text``/``bytes`` managers. Loading a pickle runs code: only
    bytes whose digest matches a trace of this cache are ever loaded.
    """

    name = "pickle"
    version = "1"

    def dump(self, value: Any) -> bytes:
        import io

        with io.BytesIO() as out:
            _pickler()(out, protocol=5).dump(value)
            return out.getvalue()

    def load(self, data: bytes) -> Any:
        import pickle

        return pickle.loads(data)


_PICKLER: Any = None


def _pickler() -> Any:
    """cloudpickle's Pickler, but refusing an open text file: cloudpickle stores a copy of what is
    left to read in it as an ``io.StringIO``, so the asset's value would come back as another
    type, silently (a binary file, or one open for writing, it refuses itself)."""
    global _PICKLER
    if _PICKLER is None:
        import io
        from collections import ChainMap

        import cloudpickle

        def refuse(f: Any) -> Any:
            raise TypeError(f"io='pickle' cannot store an open file ({getattr(f, 'name', '?')!r}): it would "
                            "come back as an io.StringIO of what was left to read; return its contents "
                            "(f.read()) or its path")

        own, *others = cloudpickle.Pickler.dispatch_table.maps  # its fixed table, then copyreg's (live)

        class Pickler(cloudpickle.Pickler):  # type: ignore[misc]
            # (no map more to look through: every object not of a built-in type is looked up)
            dispatch_table = ChainMap({**own, io.TextIOWrapper: refuse}, *others)

        _PICKLER = Pickler
    return _PICKLER


class JsonIOManager:
    """JSON with fixed separators, each dict in its own order: equal values in equal order give
    equal bytes. Keys are not sorted: a reader gets the dict the asset returned, whose order a
    loop over it sees (a ranking), as a dict constant's order counts in the fingerprint.

    Version 2: version 1 sorted the keys, so each value it stored is made again once (its
    readers run only when the bytes differ: early cutoff)."""

    name = "json"
    version = "2"

    def dump(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

    def load(self, data: bytes) -> Any:
        return json.loads(data)


class TextIOManager:
    """A ``str``, stored as UTF-8."""

    name = "text"
    version = "1"

    def dump(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"io='text' needs a str, got {type(value).__name__}")
        return value.encode("utf-8")

    def load(self, data: bytes) -> Any:
        return data.decode("utf-8")


class BytesIOManager:
    """``bytes`` (or a bytearray/memoryview), stored as they are."""

    name = "bytes"
    version = "1"

    def dump(self, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"io='bytes' needs bytes, got {type(value).__name__}")
        return bytes(value)

    def load(self, data: bytes) -> Any:
        return data


class FilesIOManager:
    """The stored output of an asset that declares ``outputs=``: the manifest of the files it
    wrote (each run makes its own, from its staging directory: see assetbuild.produced).
    ``load`` gives {project-relative path: sha256} of those files (``show``, ``load_value``)."""

    name = "files"
    version = "1"

    def dump(self, value: Any) -> bytes:
        raise TypeError("io='files' belongs to assets that declare outputs=")

    def load(self, data: bytes) -> Any:
        from ..manifest import decode_manifest

        return {f.path: f.digest for f in decode_manifest(data).files}


@hookimpl
def register_io_managers() -> list[Any]:
    return [PickleIOManager(), JsonIOManager(), TextIOManager(), BytesIOManager(), FilesIOManager()]
