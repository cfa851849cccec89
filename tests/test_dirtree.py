"""Folder trees of any depth (``assetbuild.dirtree``): walked as ``os.walk`` walks them, and
removed, deeper than the recursion limit and than PATH_MAX, following no symlink."""

from __future__ import annotations

import errno
import os

from projects import DEEP, folder_chain

from assetbuild.dirtree import prune_empty, remove_tree, symlinks_below, walk

LONG = "x" * 250  # 20 levels of it: past PATH_MAX (4,096)


def test_walk_takes_the_folders_os_walk_takes_in_its_order(tmp_path):
    for rel in ("b/x.txt", "a/z/y.txt", "a/c/w.txt", "top.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "e" / "empty").mkdir(parents=True)
    (tmp_path / "a" / "up").symlink_to(tmp_path, target_is_directory=True)  # a loop
    (tmp_path / "e" / "to_b").symlink_to(tmp_path / "b", target_is_directory=True)
    (tmp_path / "link.txt").symlink_to(tmp_path / "top.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")

    def listing(walker):
        out = []
        for here, dirs, files in walker:
            dirs.sort()
            if "z" in dirs:
                dirs.remove("z")  # pruned: not entered
            out.append((here, list(dirs), sorted(files)))
        return out

    assert listing(walk(str(tmp_path))) == listing(os.walk(str(tmp_path)))
    followed = listing(walk(str(tmp_path), follow_symlinks=True))
    assert [h for h, _, _ in followed] == [str(tmp_path / p) if p else str(tmp_path)
                                           for p in ("", "a", "a/c", "b", "e", "e/empty", "e/to_b")]
    assert followed[-1] == (str(tmp_path / "e" / "to_b"), [], ["x.txt"])  # entered: no ancestor of its own


def test_walk_and_remove_go_deeper_than_the_recursion_limit(tmp_path):
    """Walking says what it cannot reach (a path past PATH_MAX); removing takes it all."""
    top = tmp_path / "t"
    folder_chain(top / "deep", DEEP)
    folder_chain(top / "long", 20, LONG)
    errors: list[OSError] = []
    try:
        seen = list(walk(str(top), onerror=errors.append))
        assert sum(1 for here, _, _ in seen if "/deep" in here) == DEEP + 1
        assert [f for here, _, f in seen if "/deep" in here][-1] == ["bottom.txt"]
        assert len(list(walk(str(top / "deep"), follow_symlinks=True))) == DEEP + 1
        assert [e.errno for e in errors] == [errno.ENAMETOOLONG] and LONG in errors[0].filename
    finally:
        assert remove_tree(str(top)) and not top.exists()


def test_remove_tree_follows_no_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the tree's")
    top = tmp_path / "t"
    folder_chain(top, 5)
    (top / "d" / "link").symlink_to(outside, target_is_directory=True)
    (top / "d" / "d" / "file.txt").write_text("x")
    (top / "other").mkdir()
    assert remove_tree(str(top)) and not top.exists()
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert not remove_tree(str(tmp_path / "gone"))
    link = tmp_path / "link"
    link.symlink_to(outside, target_is_directory=True)
    assert not remove_tree(str(link)) and link.is_symlink() and (outside / "keep.txt").is_file()


def test_what_cannot_be_removed_stays_and_the_rest_goes(tmp_path):
    top = tmp_path / "t"
    folder_chain(top / "a", 5)
    locked = top / "b" / "locked"
    locked.mkdir(parents=True)
    (locked / "f.txt").write_text("x")
    os.chmod(locked, 0o500)
    try:
        gone = remove_tree(str(top))
        if os.geteuid() == 0:  # (root ignores the mode)
            assert gone and not top.exists()
        else:
            assert not gone and not (top / "a").exists() and (locked / "f.txt").is_file()
    finally:
        if locked.exists():
            os.chmod(locked, 0o700)


def test_prune_empty_removes_only_empty_folders_at_any_depth(tmp_path):
    top = tmp_path / "t"
    folder_chain(top / "a", DEEP, bottom=None)
    folder_chain(top / "b", 3)  # a file at its bottom: b stays, down to it
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert not prune_empty(fd, "t")
        assert sorted(os.listdir(top)) == ["b"] and (top / "b/d/d/d/bottom.txt").is_file()
        (top / "b/d/d/d/bottom.txt").unlink()
        assert prune_empty(fd, "t") and not top.exists()
    finally:
        os.close(fd)
        remove_tree(str(top))


def test_symlinks_below_enters_linked_folders_once_and_lists_dangling_links(tmp_path):
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "f.txt").write_text("")
    os.symlink(tmp_path / "other" / "f.txt", top / "sub" / "f.txt")
    os.symlink(tmp_path / "other", top / "o")
    os.symlink(tmp_path / "other", top / "o2")  # the same folder: entered once
    os.symlink("..", tmp_path / "other" / "up")  # a loop, through the folder above
    os.symlink("missing", top / "dangling")
    found = {os.path.relpath(p, tmp_path) for p in symlinks_below(str(top))}
    assert found >= {"top/sub/f.txt", "top/o", "top/o2", "top/dangling"}
    assert sum(p.endswith("/up") for p in found) == 1
