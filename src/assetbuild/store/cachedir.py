"""What belongs to a cache directory: recognising one, refusing a ``--cache-dir`` whose use
could delete or corrupt what is not the cache's, and clearing one (``assetbuild clean``) without
deleting anything the store layout did not create.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..atomicfile import TEMP_SUFFIX
from ..errors import StoreError
from ..snapshot import JOURNAL_FILE
from .lock import RUN_LOCK_NAME

# Names the store layout creates at the top of a cache directory: exact names, then prefixes
# (temp files of a write in progress, indexes moved aside, a compaction's copies).
_SNAPSHOT_FILES = ("snapshot", "snapshot.results", "snapshot.graph", "snapshot.json")  # assetbuild.snapshot
_LAYOUT_NAMES = frozenset({"STORE", "db", "cas", "lock", "code", "staging", JOURNAL_FILE, *_SNAPSHOT_FILES})
_LAYOUT_PREFIXES = ("STORE.tmp", ".STORE.tmp", "db.corrupt-", "db.old-", "db.compact-")
_INDEX_FILES = frozenset({"data.mdb", "lock.mdb", "sound"})  # (sound: store.environment.note_sound)
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_HEX62 = re.compile(r"[0-9a-f]{62}\Z")


def _is_layout_name(name: str) -> bool:
    return name in _LAYOUT_NAMES or name.startswith(_LAYOUT_PREFIXES) or _is_temp_of(name, "STORE") \
        or any(_is_temp_of(name, f) for f in _SNAPSHOT_FILES) or RUN_LOCK_NAME.match(name) is not None


def _is_temp_of(name: str, base: str | None = None) -> bool:
    """A temp file of ``atomicfile`` (for a destination named ``base``, if given)."""
    if not name.endswith(TEMP_SUFFIX):
        return False
    return base is None or name.startswith(f".{base}.")


def is_cache_dir(path: Path) -> bool:
    """Whether ``path`` holds an assetbuild cache (a STORE file or an index), or nothing but
    names of the store layout (a cache whose first open was interrupted). A directory that
    cannot be listed is a StoreError saying so: it may well be a cache (one the user may not
    read), and calling it none would invite them to throw it away."""
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise StoreError(f"cannot read the cache directory {path}: {e.strerror or e}") from None
    if "STORE" in names or "db" in names:
        return True
    return all(_is_layout_name(n) for n in names)


def check_cache_dir(cache_dir: Path, project_dir: Path) -> None:
    """Refuse a cache directory whose use could delete or corrupt what is not the cache's:
    the project directory or one above it (``clean`` would delete the project), or an
    existing non-empty directory that is not an assetbuild cache."""
    real = cache_dir.resolve()
    project = project_dir.resolve()
    if real == project or real in project.parents:
        what = "is the project directory" if real == project else f"contains the project directory {project}"
        raise StoreError(f"the cache directory {cache_dir} {what}; use a directory of its own "
                         "(default: .assetbuild in the project)")
    if real.exists():
        if not real.is_dir():
            raise StoreError(f"the cache directory {cache_dir} exists and is not a directory")
        if not is_cache_dir(cache_dir):
            raise StoreError(f"the cache directory {cache_dir} is not empty and is not an assetbuild cache; "
                             "use a new or empty directory")


def _has_index(cache_dir: Path) -> bool:
    """Whether a store was opened here: a STORE file (not a symlink) or LMDB's data file in db/."""
    return (cache_dir / "STORE").is_file() and not (cache_dir / "STORE").is_symlink() \
        or (cache_dir / "db" / "data.mdb").is_file()


def clear_cache_dir(cache_dir: Path) -> list[Path]:
    """Delete what the store layout created in ``cache_dir`` (``assetbuild clean``), nothing else.

    Anything else found there (a file the user put in it) is kept, with the directories that
    hold it; returns those entries (empty when the whole directory is gone). Whole trees
    (``staging/``) and the contents of ``cas/`` and ``code/`` go only beside a store's index: a
    directory that merely has a ``db`` entry is not trusted with more than the layout's own files.
    A cache directory that is a symlink is emptied; the link and its target stay.
    """
    if not cache_dir.exists():
        return []
    if not is_cache_dir(cache_dir):
        raise StoreError(f"{cache_dir} does not look like an assetbuild cache (no STORE file); not deleting it")
    kept: list[Path] = []
    trusted = _has_index(cache_dir)
    for e in sorted(os.scandir(cache_dir), key=lambda e: e.name):
        p = Path(e.path)
        if not _is_layout_name(e.name) or (e.name in ("cas", "code", "staging") and not trusted
                                           and e.is_dir(follow_symlinks=False)):
            kept.append(p)
        elif e.is_symlink() or not e.is_dir():
            _remove_file(p, kept, e.name in ("STORE", "lock", JOURNAL_FILE, *_SNAPSHOT_FILES) or e.name.startswith(_LAYOUT_PREFIXES)
                         or _is_temp_of(e.name, "STORE") or any(_is_temp_of(e.name, f) for f in _SNAPSHOT_FILES)
                         or RUN_LOCK_NAME.match(e.name) is not None)
        elif e.name == "cas":
            for sub in sorted(os.scandir(p), key=lambda e: e.name):
                if (_HEX2.match(sub.name) or sub.name == "tmp") and sub.is_dir(follow_symlinks=False):
                    for f in os.scandir(sub.path):  # blobs, and temp files (of blobs; spooled outputs)
                        _remove_file(Path(f.path), kept, not f.is_dir(follow_symlinks=False) and (
                            _HEX62.match(f.name) is not None or _is_temp_of(f.name) or f.name.startswith(".tmp")))
                    _remove_dir(Path(sub.path), kept)
                else:
                    kept.append(Path(sub.path))
            _remove_dir(p, kept)
        elif e.name == "staging":  # what running assets wrote (outputs=), one directory per run
            from ..produced import is_staging_name, remove_tree  # (only here: a build imports this module)

            for sub in os.scandir(p):
                if is_staging_name(sub.name) and sub.is_dir(follow_symlinks=False):
                    remove_tree(sub.path)
                else:
                    kept.append(Path(sub.path))
            _remove_dir(p, kept)
        elif e.name == "code":
            for f in os.scandir(p):
                _remove_file(Path(f.path), kept, not f.is_dir(follow_symlinks=False)
                             and (f.name.endswith(".bin") or f.name.startswith(".")))
            _remove_dir(p, kept)
        else:  # db/ and indexes moved aside: LMDB's two files
            for f in os.scandir(p):
                _remove_file(Path(f.path), kept, f.name in _INDEX_FILES and not f.is_dir(follow_symlinks=False))
            _remove_dir(p, kept)
    if not kept and not cache_dir.is_symlink():
        _remove_dir(cache_dir, kept)
    return kept


def delete_file(path: Path) -> None:
    """Delete a file the cache no longer needs (gone already: fine); StoreError if it stays."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StoreError(f"cannot delete {path}: {e.strerror}") from e


def _remove_file(path: Path, kept: list[Path], ours: bool) -> None:
    if ours:
        delete_file(path)
    else:
        kept.append(path)


def _remove_dir(path: Path, kept: list[Path]) -> None:
    """rmdir ``path`` unless something kept is inside it."""
    if any(path in k.parents for k in kept):
        return
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StoreError(f"cannot delete {path}: {e.strerror}") from e
