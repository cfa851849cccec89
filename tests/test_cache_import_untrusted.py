"""`cache import` of hostile archives (cache.py import_archive): members are streamed and hashed,
never read whole; extended headers and the manifest are bounded; what does not verify leaves
nothing behind. The memory figures are measured in tests/cli/test_untrusted_memory.py."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from assetbuild.cache import MAX_MANIFEST, MAX_TAR_HEADER, import_archive
from assetbuild.errors import StoreError
from assetbuild.reports import Trace
from assetbuild.store import INLINE_MAX, LmdbStore

KEY = "1" * 64


def _manifest(entries: list[dict]) -> bytes:
    return json.dumps({"format": "assetbuild-cache-export", "version": 1, "entries": entries}).encode()


def _entry(data: bytes) -> dict:
    dg = hashlib.sha256(data).hexdigest()
    return {"asset": "a", "key": KEY, "head": None,
            "trace": Trace("dv", dg, "bytes@1", len(data), 0.1, 1, "")._asdict()}


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        for info, data in members:
            gz.write(info.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512))
        gz.write(b"\0" * 1024)


def _member(name: str, data: bytes, type_: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.type = type_
    return info, data


def _cas_files(cache: Path) -> list[Path]:
    return [p for p in (cache / "cas").rglob("*") if p.is_file()] if (cache / "cas").exists() else []


def test_a_large_member_is_streamed_into_the_cas_and_verified(tmp_path):
    data = bytes(range(256)) * (3 * INLINE_MAX // 256)
    archive = tmp_path / "a.tar.gz"
    _write(archive, [_member("blobs/" + hashlib.sha256(data).hexdigest(), data),
                     _member("MANIFEST.json", _manifest([_entry(data)]))])
    with LmdbStore(tmp_path / "cache") as store:
        r = import_archive(store, archive)
        assert r["entries"] == 1 and r["rejected_blobs"] == 0
        assert store.read_blob(hashlib.sha256(data).hexdigest()) == data
    assert [p.name for p in _cas_files(tmp_path / "cache")] == [hashlib.sha256(data).hexdigest()[2:]]


@pytest.mark.parametrize("size", [100, 3 * INLINE_MAX])
def test_a_member_that_does_not_verify_leaves_nothing(tmp_path, size):
    data = b"x" * size
    archive = tmp_path / "a.tar.gz"
    _write(archive, [_member("blobs/" + "ab" * 32, data), _member("MANIFEST.json", _manifest([_entry(data)]))])
    warnings: list[str] = []
    with LmdbStore(tmp_path / "cache") as store:
        r = import_archive(store, archive, warn=warnings.append)
        assert r["rejected_blobs"] == 1 and r["entries"] == 0 and store.get_trace(KEY) is None
    assert any("does not match its digest" in w for w in warnings)
    assert _cas_files(tmp_path / "cache") == []  # no temp file left behind


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_an_oversized_extended_header_is_refused_before_it_is_read(tmp_path, kind):
    archive = tmp_path / "a.tar.gz"
    _write(archive, [_member("MANIFEST.json", _manifest([])),
                     _member("././@LongLink", b"\0" * (MAX_TAR_HEADER + 1), kind),
                     _member("blobs/x", b"")])
    with LmdbStore(tmp_path / "cache") as store, pytest.raises(StoreError, match="not a readable archive"):
        import_archive(store, archive)


@pytest.mark.parametrize("manifest,message", [
    (b"[" * 200000, "is not JSON"),
    (b" " * (MAX_MANIFEST + 1), "larger than 64 MiB"),
    (b'{"format": "\xff"}', "is not JSON"),
])
def test_a_hostile_manifest_is_one_clear_error(tmp_path, manifest, message):
    archive = tmp_path / "a.tar.gz"
    _write(archive, [_member("MANIFEST.json", manifest)])
    with LmdbStore(tmp_path / "cache") as store, pytest.raises(StoreError, match=message):
        import_archive(store, archive)
