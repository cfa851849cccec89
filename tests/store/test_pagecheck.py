"""The page check before LMDB maps the index (``store.pagecheck``): no healthy index flagged
(across random workloads, agreeing with py-lmdb's full offline verifier), and each kind of
damage that makes LMDB read past the end of the file is flagged."""

from __future__ import annotations

import os
import random
import shutil
import struct
from pathlib import Path

import lmdb
import pytest
from lmdb.verify import verify

from assetbuild.store import check_data_file

PSIZE = 4096


def _random_index(d: Path, seed: int) -> Path:
    r = random.Random(seed)
    env = lmdb.open(str(d), map_size=1 << 30, max_dbs=20)
    dbs = [env.open_db(f"db{i}".encode()) for i in range(r.randint(1, 12))]
    keys: list[tuple[bytes, object]] = []
    for _ in range(r.randint(1, 8)):
        with env.begin(write=True) as txn:
            for _ in range(r.randint(1, 200)):
                if keys and r.random() < 0.3:
                    k, db = r.choice(keys)
                    txn.delete(k, db=db)
                else:
                    k, db = r.randbytes(r.randint(1, 200)), r.choice(dbs)
                    txn.put(k, r.randbytes(r.choice([0, 10, 300, 3000, 9000])), db=db)
                    keys.append((k, db))
    env.close()
    return d / "data.mdb"


@pytest.mark.parametrize("seed", range(8))
def test_a_healthy_index_passes(tmp_path, seed):
    data = _random_index(tmp_path, seed)
    assert verify(str(data)) == []
    assert check_data_file(tmp_path) is None


def _pages(data: Path) -> list[tuple[int, int, int, int]]:
    """(pgno, flags, lower, upper) of every page."""
    b = data.read_bytes()
    return [(i, *struct.unpack_from("=HHH", b, i * PSIZE + 10)) for i in range(2, len(b) // PSIZE)]


def _poke(data: Path, offset: int, raw: bytes) -> None:
    with open(data, "r+b") as f:
        f.seek(offset)
        f.write(raw)


def _nodes(data: Path, pgno: int) -> list[int]:
    b = data.read_bytes()
    lower = struct.unpack_from("=H", b, pgno * PSIZE + 12)[0]
    return list(struct.unpack_from(f"={(lower - 16) // 2}H", b, pgno * PSIZE + 16))


def _last_leaf(data: Path) -> int:
    return max(p for p, flags, _, _ in _pages(data) if flags & 0x02 and verify_reaches(data, p))


def verify_reaches(data: Path, pgno: int) -> bool:
    """Whether the page is live: zeroing its number is then reported."""
    b = data.read_bytes()
    data.write_bytes(b[:pgno * PSIZE] + bytes(8) + b[pgno * PSIZE + 8:])
    try:
        return check_data_file(data.parent) is not None
    finally:
        data.write_bytes(b)


def test_node_offsets_past_the_page_are_flagged(tmp_path):
    data = _random_index(tmp_path, 1)
    pgno = _last_leaf(data)
    _poke(data, pgno * PSIZE + 16, b"\xff" * 8)
    assert check_data_file(tmp_path) == f"page {pgno} is damaged (a node outside the page)"


def test_a_key_size_reaching_past_the_end_of_the_file_is_flagged(tmp_path):
    data = _random_index(tmp_path, 1)
    pgno = _last_leaf(data)
    ptr = _nodes(data, pgno)[0]
    _poke(data, pgno * PSIZE + ptr + 6, b"\xff\xff")  # mn_ksize
    assert "outside the page" in check_data_file(tmp_path)


def test_a_child_past_the_last_page_is_flagged(tmp_path):
    data = _random_index(tmp_path, 3)
    branch = [p for p, flags, _, _ in _pages(data) if flags & 0x01 and verify_reaches(data, p)][0]
    ptr = _nodes(data, branch)[-1]
    _poke(data, branch * PSIZE + ptr, b"\xff\xff\xff\x7f")  # the child's page number (lo, hi)
    assert "outside the file" in check_data_file(tmp_path)


def test_an_overflow_value_longer_than_its_pages_is_flagged(tmp_path):
    env = lmdb.open(str(tmp_path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i in range(50):
            txn.put(b"k%03d" % i, bytes(9000))  # on three overflow pages each
    env.close()
    data = tmp_path / "data.mdb"
    assert check_data_file(tmp_path) is None
    leaf = [p for p, flags, _, _ in _pages(data) if flags & 0x02 and verify_reaches(data, p)][0]
    ptr = _nodes(data, leaf)[0]
    _poke(data, leaf * PSIZE + ptr, b"\xff\xff\xff\x7f")  # mn_lo, mn_hi: the value's size
    assert "a value of" in check_data_file(tmp_path)


def test_a_zeroed_page_is_flagged(tmp_path):
    data = _random_index(tmp_path, 2)
    pgno = _last_leaf(data)
    _poke(data, pgno * PSIZE, bytes(PSIZE))
    assert check_data_file(tmp_path) == f"page {pgno} is damaged (its page number)"


def test_an_index_as_the_last_build_left_it_is_not_walked_again(tmp_path):
    """A command that wrote the index notes its signature as it closes it (``note_sound``): the
    next open trusts pages only LMDB wrote since. Any other write, a copy or a restore changes
    the signature, and the pages are checked again."""
    from projects import cli, write

    from assetbuild.store.pagecheck import note_sound, signature, sound_signature

    root = write(tmp_path / "p", {"AssetFile": "from assetbuild import asset\n\n@asset\ndef a():\n    return 1\n"})
    assert cli(cwd=root).returncode == 0
    db = root / ".assetbuild" / "db"
    assert sound_signature(db) == signature((db / "data.mdb").stat())
    data = _random_index(tmp_path / "idx", 1)
    pgno = _last_leaf(data)
    _poke(data, pgno * PSIZE + 16, b"\xff" * 8)
    assert check_data_file(data.parent) == f"page {pgno} is damaged (a node outside the page)"
    note_sound(data.parent)  # (as if a build had left it so: then it is taken as it is)
    assert check_data_file(data.parent) is None
    copy = data.with_name("copy.mdb")  # a restored copy, its time kept (cp -p): checked again
    shutil.copy2(data, copy)
    os.replace(copy, data)
    assert check_data_file(data.parent) == f"page {pgno} is damaged (a node outside the page)"
