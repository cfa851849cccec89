"""The manifest of the files an asset writes itself (``@asset(outputs=[...])``): what was
declared, and per produced file its project-relative path, content digest, mode and size.

Its bytes are the asset's stored output and their digest its data version, so readers' keys
change only when some file's bytes, name or executable bit change (early cutoff per asset).
The encoding is canonical (sorted, fixed separators) and holds no absolute path, time or
host: a manifest built on one machine is valid on any other. Pure: no disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

MAGIC = b"assetbuild-files 1\n"
FILES_IO = "files"  # the IO manager name of an asset that declares outputs=


class FileEntry(NamedTuple):
    """One produced file: its path relative to the project, sha256, mode (0o644 or 0o755) and size."""

    path: str
    digest: str
    mode: int
    size: int


class Manifest(NamedTuple):
    """The declared outputs (directories end with '/') and every file produced under them."""

    outputs: tuple[str, ...]
    files: tuple[FileEntry, ...]

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}


def normal_mode(st_mode: int) -> int:
    """Modes are recorded the way git records them: executable or not. The rest (group and
    other bits) follows each machine's umask and would otherwise make equal outputs differ."""
    return 0o755 if st_mode & 0o111 else 0o644


def encode_manifest(outputs: Sequence[str], files: Iterable[FileEntry]) -> bytes:
    rows = sorted((f.path, f.digest, f.mode, f.size) for f in files)
    body = json.dumps({"outputs": list(outputs), "files": rows}, separators=(",", ":"), ensure_ascii=False)
    return MAGIC + body.encode("utf-8")


def is_manifest(data: bytes | memoryview) -> bool:
    return bytes(data[:len(MAGIC)]) == MAGIC


def decode_manifest(data: bytes | memoryview) -> Manifest:
    """The manifest in ``data``; ValueError if it is not one."""
    raw = bytes(data)
    if not raw.startswith(MAGIC):
        raise ValueError("not a manifest of produced files")
    doc = json.loads(raw[len(MAGIC):])
    files = tuple(FileEntry(str(p), str(d), int(m), int(s)) for p, d, m, s in doc["files"])
    return Manifest(tuple(str(o) for o in doc["outputs"]), files)


def is_dir_output(declared: str) -> bool:
    return declared.endswith("/")


def output_path(declared: str) -> str:
    """The project-relative path of a declared output, without the directory marker."""
    return declared.rstrip("/")


def owner_of(rel: str, outputs: Sequence[str]) -> str | None:
    """The declared output that ``rel`` (a project-relative file path) is or lies under."""
    for decl in outputs:
        if is_dir_output(decl):
            if rel.startswith(decl):
                return decl
        elif rel == decl:
            return decl
    return None


def overlaps(a: str, b: str) -> bool:
    """Whether two project-relative paths (outputs, path outputs, sources) are one inside the other."""
    a, b = output_path(a), output_path(b)
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def outputs_key_part(outputs: Sequence[str]) -> str:
    """What an asset's declared outputs put in its key (where a path output puts its path)."""
    return "outputs:" + json.dumps(list(outputs), separators=(",", ":"), ensure_ascii=False)
