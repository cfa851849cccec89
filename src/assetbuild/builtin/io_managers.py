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
        import cloudpickle

        return cloudpickle.dumps(value, protocol=5)

    def load(self, data: bytes) -> Any:
        import pickle

        return pickle.loads(data)


class JsonIOManager:
    """JSON with canonical bytes (sorted keys, fixed separators): equal values give equal bytes."""

    name = "json"
    version = "1"

    def dump(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")

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
