"""What belongs to a cache directory: recognising one, refusing a ``--cache-dir`` whose use
could delete or corrupt what is not the cache's, and clearing one (``assetbuild clean``) without
deleting anything the store layout did not create.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path

from ..atomicfile import TEMP_SUFFIX, write_atomically
from ..crashpoints import crash_point
from ..errors import StoreError
from ..snapshot import JOURNAL_FILE
from .lock import RUN_LOCK_NAME
from .pagecheck import database_names

# Names the store layout creates at the top of a cache directory: exact names, then prefixes
# (temp files of a write in progress, indexes moved aside, a compaction's copies).
_SNAPSHOT_FILES = ("snapshot", "snapshot.results", "snapshot.graph", "snapshot.json")  # assetbuild.snapshot
_LAYOUT_NAMES = frozenset({"STORE", "db", "cas", "lock", "code", "staging", JOURNAL_FILE, *_SNAPSHOT_FILES})
_STORE_TEMP_PREFIXES = ("STORE.tmp", ".STORE.tmp")  # (older versions' temp files of STORE)
_INDEX_PREFIXES = ("db.corrupt-", "db.old-", "db.compact-")  # indexes moved aside, a compaction's copy
_LAYOUT_PREFIXES = (*_STORE_TEMP_PREFIXES, *_INDEX_PREFIXES)
_STORE_DBS = frozenset({"meta", "traces", "heads"})  # in every version's index (environment.DBS)
_INDEX_FILES = frozenset({"data.mdb", "lock.mdb", "sound"})  # (sound: store.environment.note_sound)
# The dynamic partition keys (session.partition_env: DYNAMIC_FILE, and OLDER_FILE, the older
# versions'): the user's, added by ``partitions add``, which no build can make again. ``clean``
# keeps them; a directory holding them and nothing but the layout's empty entries is a cache
# (what ``clean`` leaves).
KEYS_FILES = ("partition-keys.json", "partitions.json")
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
    """Whether ``path`` holds an assetbuild cache: what only assetbuild writes (``_is_marked``),
    or nothing but empty entries named as the store layout names them (a cache whose first open
    was interrupted before it wrote STORE). Names alone prove nothing: a directory of someone's
    with a ``db/`` or ``code/`` folder, or a file named ``lock`` or ``writing``, is not a cache,
    and a build or ``clean`` in it would overwrite or delete their files. A directory that
    cannot be listed is a StoreError saying so: it may well be a cache (one the user may not
    read), and calling it none would invite them to throw it away."""
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise StoreError(f"cannot read the cache directory {path}: {e.strerror or e}") from None
    return _is_marked(path) or all((_is_layout_name(n) and _is_empty(path / n)) or (n in KEYS_FILES and _holds_keys(path / n))
                                   for n in names)


def _is_marked(path: Path) -> bool:
    """Whether ``path`` holds what only assetbuild writes, as every version has written it: its
    STORE file (JSON: the store format and the index's identity), or an LMDB index in ``db/``
    holding the store's databases (a cache whose STORE was lost or damaged). A STORE that cannot
    be read is a StoreError saying so (as a directory that cannot be listed is)."""
    store = path / "STORE"
    try:
        st: os.stat_result | None = store.lstat()
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size < 4096:
        try:
            info = json.loads(store.read_bytes())
        except FileNotFoundError:
            info = None
        except OSError as e:
            raise StoreError(f"cannot read {store}: {e.strerror or e}") from None
        except ValueError:
            info = None
        if isinstance(info, dict) and "format" in info:
            return True
    names = database_names(path / "db" / "data.mdb")
    return names is not None and _STORE_DBS <= names


def _holds_keys(path: Path) -> bool:
    """A file of dynamic partition keys as ``partitions add`` writes it: a table per project of
    lists of strings, or one such table (an older version's); its keys are checked where they
    are read, ``partition_env.read_table``."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 20:
            return False
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    if isinstance(data, dict) and data.get("format") == 2:  # one table per project (partition_env.DynamicTable)
        projects = data.get("projects")
        return isinstance(projects, dict) and all(_is_key_table(t) for t in projects.values()) \
            and _is_key_table(data.get("shared", {}))
    return _is_key_table(data)


def adopt_older_keys(cache_dir: Path) -> None:
    """At the upgrade to store format 4: a ``partitions.json`` holding per-project tables (as
    format 3 kept them there) is copied to ``partition-keys.json``, unless that exists, and is
    then left as the older versions' table (``shed_tables``)."""
    new, older = (cache_dir / n for n in KEYS_FILES)
    try:
        raw = older.read_bytes()
        if _per_project(json.loads(raw)) and not new.exists():
            write_atomically(new, raw)
    except (OSError, ValueError):
        return
    shed_tables(cache_dir)


def shed_tables(cache_dir: Path) -> None:
    """Once ``partition-keys.json`` holds them: the per-project tables in ``partitions.json``
    go, leaving the shared table (the one older versions wrote), or no file if there is none.
    Those versions read that file before they open the store: a table they can read lets them
    reach their refusal of a newer cache, where per-project tables were 'damaged, delete it'."""
    older = cache_dir / KEYS_FILES[1]
    try:
        data = json.loads(older.read_bytes())
        if not _per_project(data):
            return  # none, or an older version's table, as it wrote it
        if _is_key_table(data.get("shared")):
            write_atomically(older, json.dumps(data["shared"], indent=1).encode())
        else:
            older.unlink()
    except (OSError, ValueError):
        pass  # not ours to fix: this version reads partition-keys.json first


def _per_project(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == 2


def _is_key_table(data: object) -> bool:
    return isinstance(data, dict) and all(isinstance(v, list) and all(isinstance(k, str) for k in v)
                                          for v in data.values())


def _is_empty(path: Path) -> bool:
    """An empty file or directory (not a symlink), or a temp file of STORE."""
    try:
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            return not os.listdir(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_size == 0 or _is_temp_of(path.name, "STORE")
                                         or path.name.startswith(_STORE_TEMP_PREFIXES))


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


def clear_cache_dir(cache_dir: Path) -> list[Path]:
    """Delete what the store layout created in ``cache_dir`` (``assetbuild clean``), nothing else.

    Anything else found there (a file the user put in it, and the dynamic partition keys,
    ``KEYS_FILES``) is kept, with the directories that hold it; returns those entries (empty when
    the whole directory is gone). Whole trees
    (``staging/``) and the contents of ``cas/`` and ``code/`` go only where STORE or the index
    marks the directory as a cache. The order keeps a clean killed midway harmless: the index
    first (no record is left pointing at a blob that is gone), STORE last (the directory stays
    marked as a cache, and its next open starts a new index under its identity, rather than
    finding an index without one, which it would move aside as "another cache directory's").
    A cache directory that is a symlink is emptied; the link and its target stay.
    """
    if not cache_dir.exists():
        return []
    if not is_cache_dir(cache_dir):
        raise StoreError(f"{cache_dir} does not look like an assetbuild cache (no STORE file); not deleting it")
    kept: list[Path] = []
    trusted = _is_marked(cache_dir)
    for e in sorted(os.scandir(cache_dir), key=lambda e: (_clearing_rank(e.name), e.name)):
        crash_point("cache-clear")
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
        try:
            cache_dir.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:  # a mount point (a volume), or a parent not ours to write: emptied is done
            if e.errno not in (errno.EBUSY, errno.EACCES, errno.EPERM, errno.EROFS):
                raise StoreError(f"cannot delete {cache_dir}: {e.strerror}") from e
    return kept


def _clearing_rank(name: str) -> int:
    """Where ``clear_cache_dir`` deletes an entry: indexes first, STORE last."""
    return 0 if name == "db" or name.startswith(_INDEX_PREFIXES) else 2 if name == "STORE" else 1


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
