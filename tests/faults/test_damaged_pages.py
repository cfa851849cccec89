"""Damaged pages in the cache index (bit rot, a bad copy of a restored cache), through the real
command: it says the index is damaged, naming it; a build moves it aside and rebuilds. None dies
with SIGBUS: 8 bytes of 0xFF at offset 16 of a page are node offsets pointing 64 KiB past the
page, which LMDB follows without a check, past the end of a small file (probe B, section 6).
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from projects import clean_env, cli, write

ASSETFILE = '''from assetbuild import asset, source
raw = source("raw", "data/in.csv")

@asset(io="json")
def rows(raw):
    return [line.split(",") for line in raw.read_text().splitlines()[1:]]

@asset(io="text", path="build/count.txt")
def count(rows):
    return f"{len(rows)} rows\\n"
'''
PSIZE = 4096
# (command, whether it moves the index aside: ``cache verify`` opens the store to write, as it
# drops bad blobs; the others only read, and read a damaged index as empty)
COMMANDS = [(("status",), False), (("show", "rows"), False), (("why", "count"), False), (("runs",), False),
            (("cache", "verify"), True)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = write(tmp_path_factory.mktemp("built"), {"AssetFile": ASSETFILE, "data/in.csv": "a,b\n1,2\n3,4\n"})
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    # a compacting copy: the main tree's root is the file's last page, so a node offset 64 KiB
    # past it lies past the end of the file however many commits the build made (a loaded
    # machine's build commits more often, and its index grew past what the offset reaches)
    import lmdb

    db = root / ".assetbuild" / "db"
    compact = tmp_path_factory.mktemp("compact")
    env = lmdb.open(str(db), max_dbs=64, readonly=True, lock=False)
    try:
        env.copy(str(compact), compact=True)
    finally:
        env.close()
    (compact / "data.mdb").replace(db / "data.mdb")
    assert _main_root(db / "data.mdb") == (db / "data.mdb").stat().st_size // PSIZE - 1
    return root


def _copy(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    return root


def _data(root: Path) -> Path:
    return root / ".assetbuild" / "db" / "data.mdb"


def _main_root(data: Path) -> int:
    """The root page of the newest meta page's main tree (the list of named databases)."""
    b = data.read_bytes()
    metas = [b[i * PSIZE:i * PSIZE + 152] for i in (0, 1)]
    newest = max(metas, key=lambda m: struct.unpack_from("=Q", m, 144)[0])
    return struct.unpack_from("=Q", newest, 128)[0]


def _damage(data: Path, page: int) -> None:
    with open(data, "r+b") as f:
        f.seek(page * PSIZE + 16)
        f.write(b"\xff" * 8)


def _no_signal(r) -> None:
    assert 0 <= r.returncode < 128, (r.returncode, r.stdout, r.stderr)  # -7: SIGBUS
    assert "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("args, moves", COMMANDS, ids=[" ".join(c) for c, _ in COMMANDS])
def test_every_command_says_the_index_is_damaged(built, tmp_path, args, moves):
    root = _copy(built, tmp_path)
    data = _data(root)
    page = _main_root(data)
    # the node the offset points at (its 8-byte header) lies past the end of the file, whichever
    # page the build's commits left the root on (their number depends on timing)
    assert page * PSIZE + 0xFFFF + 8 > data.stat().st_size
    _damage(data, page)
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    _no_signal(r)
    moved = list((root / ".assetbuild").glob("db.corrupt-*"))
    if moves:
        assert "the cache index was damaged" in r.stderr and f"moved it to {moved[0]}" in r.stderr, r.stderr
    else:
        assert f"the cache index at {root / '.assetbuild' / 'db'} is damaged" in r.stderr, r.stderr
        assert not moved


def test_a_build_moves_the_damaged_index_aside_and_rebuilds(built, tmp_path):
    root = _copy(built, tmp_path)
    data = _data(root)
    _damage(data, _main_root(data))
    r = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    _no_signal(r)
    assert r.returncode == 0 and "the cache index was damaged" in r.stderr and "moved it to" in r.stderr, r.stderr
    assert len(list((root / ".assetbuild").glob("db.corrupt-*"))) == 1
    assert (root / "build" / "count.txt").read_text() == "2 rows\n"
    r = cli(cwd=root)
    assert r.returncode == 0 and "0 built" in r.stdout and "damaged" not in r.stderr, (r.stdout, r.stderr)


def test_no_page_damaged_this_way_kills_a_command(built, tmp_path):
    """Every page of the index in turn (the probe's loop): no signal, whichever page."""
    size = _data(built).stat().st_size
    for page in range(2, size // PSIZE):
        root = _copy(built, tmp_path / str(page))
        _damage(_data(root), page)
        for args in [("status",), ()]:
            r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
            _no_signal(r)
            assert r.returncode == 0, (page, args, r.stderr)
        assert (root / "build" / "count.txt").read_text() == "2 rows\n"
