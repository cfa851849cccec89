"""`cache import` of hostile archives (cache.py import_archive): members are streamed and hashed,
never read whole; extended headers and the manifest are bounded; what does not verify leaves
nothing behind; what an entry says about the project's files (a list of files, a head's path)
cannot make a build write, or clean delete, anywhere an asset of the AssetFile does not write.
The memory figures are measured in tests/cli/test_untrusted_memory.py."""

from __future__ import annotations

import gzip
import hashlib
import io
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


# --- what an archive's records name in the project -----------------------------------------------
# A genuine export keeps real keys, which anyone with the project's code can compute: a crafted
# archive can keep them and change what their records say about the project's files.

FILES_ASSETFILE = '''
from assetbuild import asset
from lib.helpers import greet


@asset(outputs=["out/"])
def files(context):
    d = context.out("out/")
    (d / "a.txt").write_text(greet())


@asset(io="text", path="build/a.txt")
def a():
    return greet()
'''
HELPERS = 'def greet():\n    return "hi\\n"\n'
FILES_MAGIC = b"assetbuild-files 1\n"


def _checkout(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "AssetFile").write_text(FILES_ASSETFILE)
    (root / "lib" / "helpers.py").write_text(HELPERS)
    (root / "README.md").write_text("# hand-written notes\n")
    return root


@pytest.fixture
def exported(tmp_path) -> Path:
    """A genuine export of a built checkout."""
    from projects import cli

    ci = _checkout(tmp_path / "ci")
    for args in (("build", "-q"), ("cache", "export", str(tmp_path / "good.tar"))):
        r = cli(*args, cwd=ci)
        assert r.returncode == 0, r.stderr
    return tmp_path / "good.tar"


def _craft(src: Path, dest: Path, edit) -> None:
    """Copy an export, ``edit(entries, blobs)`` changing its entries and blobs (digest -> bytes)."""
    with tarfile.open(src) as t:
        doc = json.load(t.extractfile("MANIFEST.json"))
        blobs = {m.name[len("blobs/"):]: t.extractfile(m).read() for m in t if m.name.startswith("blobs/")}
    edit(doc["entries"], blobs)
    with tarfile.open(dest, "w") as t:
        for name, data in [*((f"blobs/{d}", b) for d, b in blobs.items()), ("MANIFEST.json", json.dumps(doc).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def _add_blob(blobs: dict[str, bytes], data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


def _point_at(entry: dict, digest: str, size: int) -> None:
    for rec in (entry["trace"], entry["head"]):
        rec.update(output_digest=digest, data_version=digest, size=size)


def _files_listing(outputs: list[str], extra: list[str]):
    """An edit: the ``files`` entry's list of files, with ``extra`` (paths, holding b"evil") added
    and its outputs made ``outputs`` (its head's place too)."""
    def edit(entries: list[dict], blobs: dict[str, bytes]) -> None:
        (e,) = [e for e in entries if e["asset"] == "files"]
        doc = json.loads(blobs[e["trace"]["output_digest"]][len(FILES_MAGIC):])
        evil = b"evil = 1\n"
        doc["outputs"] = outputs
        doc["files"] += [[p, _add_blob(blobs, evil), 0o644, len(evil)] for p in extra]
        new = FILES_MAGIC + json.dumps(doc, separators=(",", ":")).encode()
        _point_at(e, _add_blob(blobs, new), len(new))
        e["head"]["path"] = "outputs:" + json.dumps(outputs, separators=(",", ":"))
    return edit


@pytest.mark.parametrize("case", ["leaves the project", "outside its outputs", "other outputs", "no head"])
def test_an_archive_cannot_make_a_build_write_outside_the_declared_outputs(exported, tmp_path, case):
    """The entry keeps its real key; its list of files names a project module and a path out of
    the project. The import skips it (a list no build writes), or the build does not restore
    it (a list for other outputs than the asset declares): the asset runs here instead."""
    from projects import cli

    edit = {"leaves the project": _files_listing(["out/"], ["out/../../escaped.txt"]),
            "outside its outputs": _files_listing(["out/"], ["lib/helpers.py"]),
            "other outputs": _files_listing(["out/", "lib/"], ["lib/helpers.py"]),
            "no head": _files_listing(["out/", "lib/"], ["lib/helpers.py"])}[case]
    if case == "no head":
        def edit(entries, blobs, inner=edit):
            inner(entries, blobs)
            for e in entries:
                e["head"] = None
    evil = tmp_path / "evil.tar"
    _craft(exported, evil, edit)
    victim = _checkout(tmp_path / "deep" / "victim")
    r = cli("cache", "import", str(evil), "--json", cwd=victim)
    summary = json.loads(r.stdout)
    if case.startswith(("leaves", "outside")):
        assert r.returncode == 1 and summary["skipped"] == 1, r.stdout + r.stderr
        assert "skipping 'files': its list of files is unusable" in r.stderr, r.stderr
    else:
        assert r.returncode == 0 and summary["skipped"] == 0, r.stdout + r.stderr
    r = cli("build", cwd=victim)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert (victim / "lib" / "helpers.py").read_text() == HELPERS
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    assert (victim / "out" / "a.txt").read_text() == "hi\n"
    assert "built" in next(ln for ln in r.stdout.splitlines() if " files" in ln), r.stdout


def _ghost_heads(victims: dict[str, bytes]):
    """An edit: heads of assets no AssetFile declares (``ghost0``...) and one more for ``a`` under
    another key, each naming a project file (path -> its current bytes) with its sha256."""
    def edit(entries: list[dict], blobs: dict[str, bytes]) -> None:
        (a,) = [e for e in entries if e["asset"] == "a"]
        for i, (path, data) in enumerate(victims.items()):
            e = json.loads(json.dumps(a))
            key = hashlib.sha256(b"k%d" % i + data).hexdigest()
            e["asset"], e["key"] = ("a" if path == "lib/helpers.py" else f"ghost{i}"), key
            _point_at(e, _add_blob(blobs, data), len(data))
            e["head"].update(key=key, path=path)
            entries.append(e)
        entries.remove(a)  # (else its own head, for 'a', comes first)
    return edit


def test_an_archive_cannot_make_clean_delete_a_file_assetbuild_never_wrote(exported, tmp_path):
    """Heads of assets this project does not declare, or naming another place than the asset
    declares, are left out of an import: clean deletes only what a build of a declared asset
    wrote, and clean --orphans only what one once did."""
    from projects import cli

    victim = _checkout(tmp_path / "victim")
    evil = tmp_path / "evil.tar"
    _craft(exported, evil, _ghost_heads({"README.md": (victim / "README.md").read_bytes(),
                                         "lib/helpers.py": HELPERS.encode()}))
    r = cli("cache", "import", str(evil), "--json", cwd=victim)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert (summary["heads_added"], summary["heads_left_out"]) == (1, 2), summary  # files's
    r = cli("build", cwd=victim)
    assert r.returncode == 0 and "orphaned" not in r.stderr, r.stdout + r.stderr
    before = {p: (victim / p).read_bytes() for p in ("README.md", "lib/helpers.py", "AssetFile")}
    r = cli("clean", "--orphans", "--yes", cwd=victim)
    assert r.returncode == 0 and r.stdout == "no orphaned outputs to delete\n", r.stdout + r.stderr
    r = cli("clean", "--yes", cwd=victim)
    assert r.returncode == 0 and "deleted 2 files assetbuild wrote" in r.stdout, r.stdout + r.stderr
    assert {p: (victim / p).read_bytes() for p in before} == before
    assert not (victim / "build" / "a.txt").exists() and not (victim / "out" / "a.txt").exists()


def test_imported_heads_of_declared_assets_still_make_orphans_that_clean_deletes(exported, tmp_path):
    from projects import cli

    victim = _checkout(tmp_path / "victim")
    r = cli("cache", "import", str(exported), "--json", cwd=victim)
    assert r.returncode == 0 and json.loads(r.stdout)["heads_added"] == 2, r.stdout + r.stderr
    assert cli("build", cwd=victim).returncode == 0 and (victim / "build" / "a.txt").is_file()
    (victim / "AssetFile").write_text(FILES_ASSETFILE.split("\n\n@asset(io=")[0] + "\n")  # 'a' removed
    r = cli("build", cwd=victim)
    assert r.returncode == 0 and "1 orphaned output" in r.stderr, r.stdout + r.stderr
    r = cli("clean", "--orphans", "--yes", cwd=victim)
    assert r.returncode == 0 and r.stdout == "deleted 1 orphaned output\n", r.stdout + r.stderr
    assert not (victim / "build" / "a.txt").exists() and (victim / "README.md").is_file()


def test_without_an_assetfile_that_loads_the_entries_come_without_heads(exported, tmp_path):
    from projects import cli

    victim = _checkout(tmp_path / "victim")
    (victim / "AssetFile").write_text("this is not python\n")
    r = cli("cache", "import", str(exported), "--json", cwd=victim)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert (summary["entries"], summary["heads_added"], summary["heads_left_out"]) == (2, 0, 2), summary
    assert "without the latest build of any asset: the AssetFile does not load" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    (victim / "AssetFile").write_text(FILES_ASSETFILE)
    r = cli("build", cwd=victim)
    assert r.returncode == 0 and "\n0 built, 0 cached, 2 restored" in r.stdout, r.stdout + r.stderr  # by key


@pytest.mark.parametrize("field,value", [("created_ns", 2 ** 80), ("created_ns", -5), ("built_ns", 2 ** 80),
                                         ("duration_s", float("nan")), ("duration_s", -1.0)])
def test_an_entry_whose_times_are_out_of_range_is_skipped(exported, tmp_path, field, value):
    """A time no build records (past 2500, before 1970), or a duration that is no finite
    non-negative number, is a malformed entry, as in a remote record: the entry is skipped
    (with a warning, exit 1), never recorded for ``show --meta``, ``log`` or an age to trip on
    (a time of 2**80 was stored, and ``show --meta`` died with a raw traceback)."""
    from projects import cli

    def edit(entries: list[dict], blobs: dict[str, bytes]) -> None:
        for e in entries:
            if field == "built_ns":
                e["head"][field] = value
            else:
                e["trace"][field] = e["head"][field] = value
    bad = tmp_path / "bad.tar"
    _craft(exported, bad, edit)
    victim = _checkout(tmp_path / "victim")
    r = cli("cache", "import", str(bad), "--json", cwd=victim)
    summary = json.loads(r.stdout)
    assert r.returncode == 1 and summary["entries"] == 0 and summary["skipped"] >= 1, r.stdout + r.stderr
    assert "skipping a malformed entry" in r.stderr
    r = cli("show", "--meta", "a", cwd=victim)
    assert "Traceback" not in r.stderr and "never been built" in r.stderr, r.stdout + r.stderr
