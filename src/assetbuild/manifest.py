"""The manifest of the files an asset writes itself (``@asset(outputs=[...])``): what was
declared, and per produced file its project-relative path, content digest, mode and size.

Its bytes are the asset's stored output and their digest its data version, so readers' keys
change only when some file's bytes, name or executable bit change (early cutoff per asset).
The encoding is canonical (sorted, fixed separators) and holds no absolute path, time or
host: a manifest built on one machine is valid on any other. Pure: no disk.

A manifest read back may come from an imported archive or a remote cache, and its paths are
joined to the project directory: ``decode_manifest`` takes only one a build could have written
(``check_manifest``), so nothing it names lies outside the outputs it declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

MAGIC = b"assetbuild-files 1\n"
FILES_IO = "files"  # the IO manager name of an asset that declares outputs=
MODES = (0o644, 0o755)  # the modes a manifest records (normal_mode)
# an empty, "." or ".." part (a leading or doubled "/" makes an empty one), or a NUL
_NOT_PLAIN = re.compile(r"(?:\A|/)\.{0,2}(?:/|\Z)|\x00")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


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
    """The manifest in ``data``; ValueError if it is not one, or not one a build writes
    (``check_manifest``)."""
    raw = bytes(data)
    if not raw.startswith(MAGIC):
        raise ValueError("not a manifest of produced files")
    try:
        doc = json.loads(raw[len(MAGIC):])
        outputs = doc["outputs"]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise ValueError("its outputs are not a list of paths")
        files = tuple(FileEntry(p, d, m, s) for p, d, m, s in doc["files"])
    except (KeyError, TypeError, RecursionError) as e:
        raise ValueError(f"a malformed list of files ({type(e).__name__})") from None
    return check_manifest(Manifest(tuple(outputs), files))


def is_plain_path(rel: object) -> bool:
    """Whether ``rel`` is a plain project-relative path: a str with no empty, "." or ".." part
    (so neither absolute nor leaving the project) and no NUL."""
    return isinstance(rel, str) and _NOT_PLAIN.search(rel) is None


def check_manifest(manifest: Manifest) -> Manifest:
    """``manifest`` if a build could have written it, else ValueError naming what is wrong: each
    declared output a plain path (a directory's with one '/' after it), each file a plain path
    under one of them, with a sha256, a mode of ``MODES`` and a size. Linear in its files."""
    outputs = manifest.outputs
    for decl in outputs:
        if not is_plain_path(decl[:-1] if isinstance(decl, str) and decl.endswith("/") else decl):
            raise ValueError(f"its declared output {decl!r} is not a plain path inside the project")
    dirs = tuple(d for d in outputs if d.endswith("/"))
    named = frozenset(d for d in outputs if not d.endswith("/"))
    for f in manifest.files:
        rel = f.path
        if not is_plain_path(rel):
            raise ValueError(f"it lists {rel!r}, not a plain path inside the project")
        if rel not in named and not rel.startswith(dirs):
            raise ValueError(f"it lists {rel!r}, under none of its declared outputs")
        if not isinstance(f.digest, str) or not _SHA256.match(f.digest):
            raise ValueError(f"it gives {rel!r} a digest that is not a sha256")
        if f.mode not in MODES or type(f.mode) is not int or type(f.size) is not int or f.size < 0:
            raise ValueError(f"it gives {rel!r} a mode or size no build records")
    return manifest


def is_dir_output(declared: str) -> bool:
    return declared.endswith("/")


def output_path(declared: str) -> str:
    """The project-relative path of a declared output, without the directory marker."""
    return declared.rstrip("/")


def owner_of(rel: str, outputs: Sequence[str]) -> str | None:
    """The declared output that ``rel`` (a project-relative file path) is or lies under; None
    for a path that is not plain (``out/../x`` lies under no ``out/``)."""
    if not is_plain_path(rel):
        return None
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


def listed_outputs(place: object) -> frozenset[str]:
    """The declared outputs a latest build placed files for, from its ``Head.path`` (their key
    part, ``outputs_key_part``, for an asset with ``outputs=``): the directories it owns."""
    if not isinstance(place, str) or not place.startswith("outputs:"):
        return frozenset()
    try:
        listed = json.loads(place[len("outputs:"):])
    except ValueError:
        return frozenset()
    return frozenset(o for o in listed if isinstance(o, str)) if isinstance(listed, list) else frozenset()


def output_place(outputs: Sequence[str], path: str | None) -> str | None:
    """Where an asset writes, as its key and its head (``Head.path``) record it: its outputs' key
    part, else its path output (None: neither)."""
    return outputs_key_part(outputs) if outputs else path
