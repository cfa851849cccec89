"""How a worker's large output travels to the store: through a file in the cache directory,
written exclusively and fsynced, then renamed into the store (never whole through the pipe);
and how a worker reads an input stored as a file, verified against its digest."""

from __future__ import annotations

import hashlib
import os


def read_stored_file(path: str, digest: str) -> bytes:
    """The bytes of a blob file of the store, verified against ``digest`` (ValueError if not)."""
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"{path}: its bytes do not match their digest")
    return data


def write_spool_file(directory: str, data: bytes) -> str:
    """Write ``data`` to a new file in ``directory`` and return its path: a temp file of
    ``atomicfile`` (an unguessable name, created exclusively, following no symlink), so a planted
    file or symlink never receives the bytes, nor does a symlink in place of ``directory``
    (``NotASpoolDir``, an OSError). The data is on disk (fsync) when this returns, ready to be renamed into the store."""
    from .atomicfile import create_temp_in

    fd, path = create_temp_in(directory, "output", mode=0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    os.close(fd)
    return path
