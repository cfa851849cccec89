"""The build's snapshot: a proof, checked in a few milliseconds, that a build would find every
asset cached, so the command can say so without loading the AssetFile; or that only the
assets reading some changed sources or path outputs need deciding.

A build of the whole project that succeeded writes the snapshot (``session.snapshots``):
everything that build's decision read, as it was when it decided.

- the AssetFile's real path: the store keeps the project's heads and history under it
  (``store.records.project_id``, with the cache's real path, which the index file's identity
  below vouches for), so a link to the AssetFile retargeted at a file of the same bytes is
  another project to it, whose records a full build must write;
- the interpreter, ``sys.path`` as the command started, and the modification time of each of
  its directories (a package installed, removed or upgraded changes its site directory; a new
  module that would shadow an import changes the directory it is created in), and of each
  project module's package directory on every one of them (another portion of a package);
  a directory that gained a name that could be imported after the build started loading
  (``dir_times_since``) refuses the record: its time is then the one after that module. With
  each time, the names an import could find there (``import_names``): a folder whose time moved
  but whose names did not (a swap file, a file saved over) has changed nothing an import finds;
- the stat signature (size, mtime, ctime, inode, device) of every file whose content the
  decision used: the code (``files``: the AssetFile and the project's modules, read and found
  identical to what was loaded, pyproject.toml and the dynamic partitions' keys as they were
  before loading, assetbuild's own modules, the plugins' modules and every ``entry_points.txt``
  looked for (``plugins.loaded_from``), the metadata files library versions were read from,
  which must still be there, an editable library's source files as its digest was made from
  them (``session.editable``, with their folders), the ``.pth`` files and import finders' modules that say where an
  import resolves: ``listings.import_hook_files``) and the data
  (``data``: the sources and the path outputs, and each folder holding one, resolved: ``out_dirs``);
  and the directories holding the project's modules.
  The AssetFile's and the project modules' digests too (``contents``): one whose signature
  changed is read, and changed nothing if it holds the same bytes (``same_content``);
- the environment variables that can change a decision (``ASSETBUILD_*``, ``PYTHON*``, and
  those assets declare with ``env=``), a secret's value as the digest keys hold of it;
- the identity of the cache's index file and its last committed transaction: any write to
  the index since (a build, ``accept``, ``clean``) refuses it;
- the outputs kept as files in the cache, which must still be there at their size.

``changes`` compares all of these with the record. A signature is trusted only when it is not
"racy" (git's rule): a file modified in the same tick of the filesystem's clock as the moment
its signature was taken may change again without its signature changing. The build that
records takes that moment as the filesystem sees it (the build lock file, touched before the
first signature: ``probe``), so a file on the cache's filesystem is racy when its mtime or
ctime is not older than the probe's; a file on another filesystem, when it is within
``RACY_NS`` of it. Racy code refuses the record; racy data is listed in it (``racy``) and
counts as changed. A path output the build wrote is compared as the full path compares it:
with the signature its head recorded as it was written; one the store did not record (written in
the tick of its commit: ``LmdbStore.smudged``) is racy, as the full path then hashes it.

- Anything but data changed: a refusal, with its reason; the full path runs.
- Only data files changed (or are racy): the build decides just the assets that read them,
  and what is downstream; the rest are cached as recorded (``session.snapshots``).
- Nothing changed: ``answer`` says so, and the entry point prints the null build's output
  (with ``--json``, the document the first null build made and kept: ``null_document``).

What the snapshot cannot see is refused when it is written (``refused``): an AssetFile or
project module that runs code at load time (``assetbuild.declarative``), observable sources,
volatile or expiring assets, time or file partitions, directory sources, IO managers that
keep data outside the cache, plugins with build hooks, a remote cache, warnings.

Standard library only, and nothing imported that a start-up does not already have: this
module runs before click and the engine are imported.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys

TYPE_CHECKING = False  # (importing typing costs the fast path milliseconds: annotations only)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

FORMAT = 13  # 13: each folder holding path outputs, resolved (``out_dirs``); 12: the AssetFile's real path (``assetfile``); 11: records of 10 may answer for an IO manager that keeps data outside the cache; 10: each folder's importable names, each code file's digest (``contents``); 9: the graph as index arrays (``slicegraph``); 8: data signatures packed (``packed_sigs``); 7: asset_defs in the graph; 6: the graph is linked by graph_ns (5: by written_ns); 5: signatures are tuples
# marshal's version 2 keeps no references: these documents load in half the time of version 4's
# (10,000 assets: the record 10.4 -> 5.7 ms, the results 5.5 -> 2.1 ms), a little larger
MARSHAL_VERSION = 2
FILE = "snapshot"  # in the cache directory
RESULTS_FILE = "snapshot.results"  # each asset's (name, key, data version), in build order
GRAPH_FILE = "snapshot.graph"  # each asset's inputs and each data file's nodes: what a slice needs (``slicegraph``)
JOURNAL_FILE = "writing"  # the directories a running (or killed) build writes into: Workspace.journal
NULL_JSON_FILE = "snapshot.json"  # the null build's ``--json`` document, kept by the first that printed it
RACY_NS = 2_000_000_000  # as workspace.RACY_NS: off the cache's filesystem, a signature this close to its probe is not trusted
ENV_PREFIXES = ("ASSETBUILD_", "PYTHON")
# variables about the snapshot itself, or that change no decision
ENV_IGNORED = frozenset({"ASSETBUILD_SNAPSHOT", "ASSETBUILD_CHECK_SNAPSHOT", "PYTHONUNBUFFERED",
                         "PYTHONDONTWRITEBYTECODE"})
_LMDB_MAGIC = 0xBEEFC0DE

Sig = tuple[int, int, int, int, int]
# The record's ``data``: [paths, their signatures packed in this layout, one after another]. A
# list of 10,000 tuples of five ints took 3.9 ms to load, every null build; the packed bytes
# 0.3 ms, and ``struct`` (not imported at start-up) 0.4 ms. A missing file packs as zeros.
SIG_FORMAT = "<qqqQQ"
_NO_SIG = (0, 0, 0, 0, 0)  # (no file has inode 0)

# Set by the entry point (``assetbuild.entry``) for the command line of a plain build: such a
# build may write the next snapshot. EXPECTED: the snapshot the entry would have answered from,
# under ASSETBUILD_CHECK_SNAPSHOT=1, which the build's own decisions must then match.
INTENT: dict[str, Any] | None = None
EXPECTED: dict[str, Any] | None = None
PREVIOUS: dict[str, Any] | None = None  # the snapshot the entry read and did not answer from
CHECK = False  # ASSETBUILD_CHECK_SNAPSHOT: an incremental build decides every asset, and compares
START_PATH: list[str] = []  # sys.path as the command started, before a project changed it
# Set by the entry point when only data changed: the probe it touched, then the data files'
# signatures it took (every one, after the probe), and the slice of the project that the build
# loads and decides (``slicegraph.slice_of``).
PROBE: tuple[int, int] | None = None
DATA: dict[str, Sig | None] | None = None
SLICE: dict[str, Any] | None = None  # (its "edit": of one code file, inside one function: ``codeedits``)
# Set as a build that may record starts loading (``listings_before``): each directory it may find
# modules in, as it was then (time, names)
BEFORE: dict[str, tuple[int | None, frozenset[str] | None]] | None = None
SETTINGS: dict[str, Sig | None] | None = None  # and the settings files' signatures then (pyproject.toml)
# How far behind the wall clock the filesystem may stamp a modification (a coarse clock's tick:
# 10 ms at the kernel's slowest)
TICK_NS = 20_000_000


def sig_of(path: str) -> Sig | None:
    """(size, mtime_ns, ctime_ns, inode, device) of a file, following symlinks; None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def sig_from(st: os.stat_result) -> Sig:
    """``sig_of``'s signature of a stat already taken (a file just written: ``Workspace.written``)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def probe(path: str) -> tuple[int, int] | None:
    """Touch ``path`` (an existing file) and return (device, mtime_ns): the filesystem's clock
    now, as it stamps the files it modifies. Signatures taken after this call are racy when
    their file's times are not older (``is_racy``). None if it cannot be touched."""
    try:
        os.utime(path)
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_mtime_ns


def dir_time(path: str) -> int | None:
    """A directory's time (ns): it changes when an entry is added, removed or renamed. The later
    of its mtime and ctime: ``tar x``, ``rsync -t`` and ``cp -a`` set a directory's mtime back
    after filling it, and only the ctime then says that something changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return max(st.st_mtime_ns, st.st_ctime_ns)


def import_names(path: str) -> str | None:
    """The names in the folder at ``path`` that an import could find, or a library's version be
    read from, sorted and joined by NULs; None if it cannot be listed. A folder's time moves with
    any entry added, removed or renamed: an editor's swap file, a file saved by renaming a new
    one over it, ``git checkout``. Where the time moved, these names say whether anything an
    import could find came or went; what was saved over a file, that file's own signature says.
    By the name alone, without a stat: an identifier (a package, or a file with no suffix); a
    stem that is one with an import suffix, or ``.pth``; a distribution's metadata."""
    try:
        names = os.listdir(path)
    except OSError:
        return None
    suffixes = import_suffixes()
    return "\0".join(sorted(n for n in names if n != "__pycache__" and (
        n.endswith(METADATA_SUFFIXES) or n.partition(".")[0].isidentifier() and ("." not in n or n.endswith(suffixes)))))


METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".egg")  # a distribution's metadata


def import_suffixes() -> tuple[str, ...]:
    """The suffixes of a file an import could find a module in (``importlib.machinery.all_suffixes``,
    without importing it), and ``.pth``."""
    import _imp

    return (".py", ".pyc", *_imp.extension_suffixes(), ".pth")


def same_content(path: str, kept: list[str] | None) -> bool:
    """Whether the file at ``path`` holds what it held when its digest was ``kept`` ([sha256 of
    its bytes followed by the suffix, the suffix]): a code file whose signature changed (touched,
    saved unchanged, checked out again) is read, as git reads a file whose stat changed. The
    read is no race: a write after it changes the signature again, and the next build reads it
    too (the record keeps the old signature until a build writes the next record)."""
    try:
        digest, suffix = kept  # type: ignore[misc]
        with open(path, "rb") as f:
            data = f.read()
        import hashlib

        return hashlib.sha256(data + suffix.encode()).hexdigest() == digest
    except (OSError, TypeError, ValueError, AttributeError):  # (gone, unreadable, nothing kept)
        return False


def lmdb_state(data_file: str) -> tuple[int, int, int] | None:
    """(device, inode, last committed transaction id) of an LMDB data file, read from its two
    meta pages (the newer one is current) without opening the environment; None when the file
    is missing or is not an LMDB file of the format this reads (the caller then refuses)."""
    try:
        fd = os.open(data_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        first = os.pread(fd, 160, 0)
        if len(first) < 152 or int.from_bytes(first[16:20], "little") != _LMDB_MAGIC:
            return None
        page_size = int.from_bytes(first[40:44], "little")  # the free DB's md_pad holds the page size
        if page_size < 512 or page_size & (page_size - 1):
            return None
        second = os.pread(fd, 160, page_size)
    finally:
        os.close(fd)
    ids = [int.from_bytes(first[144:152], "little")]
    if len(second) >= 152 and int.from_bytes(second[16:20], "little") == _LMDB_MAGIC:
        ids.append(int.from_bytes(second[144:152], "little"))
    return st.st_dev, st.st_ino, max(ids)


def watched_env(declared: Any = ()) -> dict[str, str | None]:
    """The environment variables that can change a decision: every ``ASSETBUILD_*`` and
    ``PYTHON*`` one set now (bar ``ENV_IGNORED``), and the ``declared`` names (None: unset);
    a secret's value as a digest (``env_value``): the record is a file, never a secret's home."""
    env = os.environ
    out: dict[str, str | None] = {n: v for n, v in env.items()
                                  if n.startswith(ENV_PREFIXES) and n not in ENV_IGNORED}
    for n in declared:
        out[n] = env.get(n)
    for n, v in out.items():
        if v is not None and is_secret(n, v):
            out[n] = env_value(n, v)
    return out


def is_secret(name: str, value: str | None = None) -> bool:
    """``keys.is_secret`` (not imported: the fast path imports nothing it need not): a name
    holding KEY, TOKEN, SECRET or PASSWORD, in any case, or a value holding credentials."""
    upper = name.upper()
    return "KEY" in upper or "TOKEN" in upper or "SECRET" in upper or "PASSWORD" in upper or \
        (value is not None and holds_credentials(value))


def holds_credentials(value: str) -> bool:
    """``keys.holds_credentials``: a URL with a user part in the text."""
    at = value.find("://")
    while at > 0:
        start = end = at + 3
        while end < len(value) and value[end] not in "/?#, ;\n":
            end += 1
        if "@" in value[start:end]:
            return True
        at = value.find("://", end)
    return False


def env_value(name: str, value: str) -> str:
    """What the record keeps of a variable's value: the value, or for a secret the digest keys
    hold of it (``keys.env_parts``), which changes with it."""
    if not is_secret(name, value):
        return value
    import hashlib

    return "sha256:" + hashlib.sha256(f"assetbuild-env\0{name}\0{value}".encode("utf-8", "surrogatepass")).hexdigest()


def is_racy(sig: Sig | list[int] | None, probe: tuple[int, int] | list[int]) -> bool:
    """Whether a signature taken after ``probe`` (device, mtime_ns) could hide a later change:
    its file was modified (mtime or ctime) in the probe's clock tick or after it; on another
    device, less than RACY_NS before it."""
    if sig is None:
        return False
    latest = max(sig[1], sig[2])
    return latest >= probe[1] if sig[4] == probe[0] else latest > probe[1] - RACY_NS


def racy_paths(sigs: dict[str, Sig | None], probe: tuple[int, int]) -> set[str]:
    """The paths whose signature ``is_racy``: the same rule, without a call per file (10,000)."""
    dev, tick = probe
    far = tick - RACY_NS
    return {p for p, s in sigs.items() if s is not None and (
        (s[1] >= tick or s[2] >= tick) if s[4] == dev else (s[1] > far or s[2] > far))}


def packed_sigs(sigs: Iterable[Sig | None]) -> bytes:
    """``sigs`` in the record's layout (``SIG_FORMAT``), None as zeros; ValueError for one that
    does not fit it."""
    import struct

    pack = struct.Struct(SIG_FORMAT).pack
    try:
        return b"".join([pack(*(_NO_SIG if sig is None else sig)) for sig in sigs])
    except struct.error as e:
        raise ValueError(f"a file signature does not fit the snapshot's record: {e}") from None


def cache_file(cache_dir: str) -> str:
    return os.path.join(cache_dir, FILE)


def read(cache_dir: str) -> dict[str, Any] | None:
    """The snapshot in ``cache_dir``, or None (missing, unreadable, another format)."""
    try:
        with open(cache_file(cache_dir), "rb") as f:
            rec = _loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or not _data_well_formed(rec.get("data")):
        return None
    return rec


def _data_well_formed(data: Any) -> bool:
    """Whether ``data`` is the record's [paths, packed signatures], one signature per path (a
    refusal has none)."""
    if data is None:
        return True
    return isinstance(data, list) and len(data) == 2 and isinstance(data[0], list) \
        and isinstance(data[1], bytes) and len(data[1]) == len(data[0]) * 40


def _loads(data: bytes) -> Any:
    """``marshal.loads`` with the garbage collector off: all it makes lives on (at 10,000 assets,
    tens of thousands of lists, which collections midway would scan for nothing)."""
    if not gc.isenabled():
        return marshal.loads(data)
    gc.disable()
    try:
        return marshal.loads(data)
    finally:
        gc.enable()


def interpreter() -> tuple[Any, ...]:
    """What identifies the running interpreter (its version, path and flags that change code).
    The path with its links resolved: a venv's ``python`` and ``python3`` are one interpreter
    (``python -m assetbuild`` and the ``assetbuild`` command run one each); what a venv adds,
    its site-packages, is in ``sys.path``, which the record holds too."""
    return (sys.version, os.path.realpath(sys.executable), sys.implementation.cache_tag, sys.flags.optimize)


def answer(rec: dict[str, Any] | None, project_dir: str, start_path: list[str]) -> str | None:
    """None when ``rec`` proves that a build of the whole project in ``project_dir``, started
    with ``start_path`` as ``sys.path``, would find every asset cached; else why not (one line)."""
    found = changes(rec, project_dir, start_path, first=True)
    if isinstance(found, str):
        return found
    return f"a source or path output changed, or is too recent to trust: {found[0]}" if found else None


def changes(rec: dict[str, Any] | None, project_dir: str, start_path: list[str], *, first: bool = False,
            data: dict[str, Sig | None] | None = None, taken: dict[str, Sig | None] | None = None,
            found: list[str] | None = None, settled: str | None = None,
            edited: dict[str, Any] | None = None) -> str | list[str]:
    """What changed since ``rec`` for a build of the whole project in ``project_dir`` started
    with ``start_path``: why the snapshot cannot serve it (one line), or the data files
    (sources, path outputs) that changed or whose recorded signature is racy, in record order
    (empty: a null build). ``first``: stop at the first such file. ``data``: their signatures
    as the caller just took them (else taken here, and put in ``taken`` if given). ``found``:
    the data files this function said changed for this very ``rec`` and signatures (the entry
    point's look): the rest is checked again, the data not compared a second time.
    ``settled``: the first data file a look with ``first`` found changed; each file before it
    was found as recorded, so its recorded signature is taken again without a stat. (It was
    not racy when recorded, so any later write gives it another mtime, which the next build
    sees; as a write after the stat pass would.) ``edited``: a caller that can take an edit of
    one code file (``codeedits``) is told of it in ``edited["file"]`` rather than refused; one
    that took it (``edited["digest"]``) is refused unless the file holds what it took.

    The cheap checks come first; the stat of each recorded file last."""
    if rec is None:
        return "no snapshot (the last build did not record one)"
    refused = rec.get("refused")
    if refused:
        return str(refused)
    if rec["project"] != project_dir:
        return "the snapshot is of another project directory"
    if os.path.realpath(os.path.join(project_dir, "AssetFile")) != rec["assetfile"]:
        return "the AssetFile is another file (a link to it retargeted): the cache keeps records by its real path"
    if rec["interpreter"] != list(interpreter()):
        return "another Python interpreter"
    if rec["path"] != start_path:
        return "sys.path differs"
    if rec["env"] != watched_env(rec["declared_env"]):
        return "an environment variable that can change a decision differs"
    state = lmdb_state(os.path.join(rec["cache"], "db", "data.mdb"))
    if state is None or list(state) != rec["store"]:
        return "the cache's index changed since the snapshot"
    listed = sig_of(os.path.join(rec["cache"], JOURNAL_FILE))
    if listed is not None and listed[0]:  # (the full path sweeps them)
        return "a killed build left temp files to remove"
    for path, recorded, names in rec["dirs"]:
        if dir_time(path) != recorded and (names is None or import_names(path) != names):
            return f"a directory changed: {path}"
    contents = rec["contents"]
    for path, recorded in rec["files"]:
        now = sig_of(path)
        if recorded is None:
            if now is not None:
                return f"a file appeared: {path}"
            continue
        if now is None or (now != recorded and (now[0] != recorded[0] or not same_content(path, contents.get(path)))):
            if now is None or edited is None or not _taken_edit(path, contents.get(path), edited):
                return f"a file changed: {path}"
    for path, real in rec["out_dirs"]:  # (the outputs' checks resolve the links above them: a link put there shows)
        if os.path.realpath(path) != real:
            return f"a folder holding path outputs is reached through another symlink, or none, now: {path}"
    for path, size in rec["blobs"]:
        now = sig_of(path)
        if now is None or now[0] != size:
            return f"a stored output is gone from the cache: {path}"
    if found is not None:
        return list(found)
    import struct

    layout = struct.Struct(SIG_FORMAT)
    out: list[str] = []
    racy = set(rec["racy"])
    paths, packed = rec["data"]
    if first and data is None and taken is None and not racy:
        start = _first_difference(paths, packed, layout)
        if start is None:
            return out  # a null build: every signature as recorded
        paths = paths[start:]  # (the first that differs, and on: what the loop below reads)
        packed = packed[start * layout.size:]
    known = paths.index(settled) if settled is not None and data is None and settled in paths else 0
    for i, (path, recorded) in enumerate(zip(paths, layout.iter_unpack(packed))):
        if recorded == _NO_SIG:
            recorded = None
        now = recorded if i < known else data[path] if data is not None and path in data else sig_of(path)
        if taken is not None:
            taken[path] = now
        if now != recorded or path in racy:
            out.append(path)
            if first:
                break
    return out


def _taken_edit(path: str, kept: list[str] | None, edited: dict[str, Any]) -> bool:
    """Whether the changed code file ``path`` (``kept``: the record's [digest, suffix] of it:
    the AssetFile's or a project module's) is the one the caller took (``edited["file"]``),
    holding what it took (``edited["digest"]``); or, the caller not having looked yet, is the
    first code file that changed, noted in ``edited["file"]`` (a second one is refused)."""
    if not isinstance(kept, list) or len(kept) != 2:
        return False
    if "digest" in edited:
        return path == edited["file"] and same_content(path, [edited["digest"], kept[1]])
    if "file" in edited:
        return False
    edited["file"] = path
    return True


def _first_difference(paths: list[str], packed: bytes, layout: Any) -> int | None:
    """The index of the first of ``paths`` whose signature now is not its ``packed`` one, or
    None if none: the signatures packed as the record packs them and compared a few hundred at
    a time as one string, with no tuple or comparison per file (a null build of 10,000 assets:
    6 ms of the 35 of the stat pass), and no stat after the first block that differs."""
    import struct

    pack, size = layout.pack, layout.size
    none = pack(*_NO_SIG)
    stat = os.stat
    for start in range(0, len(paths), _BLOCK):
        parts: list[bytes] = []
        add = parts.append
        try:
            for path in paths[start:start + _BLOCK]:
                try:
                    st = stat(path)
                except OSError:
                    add(none)
                    continue
                add(pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))
        except struct.error:  # a value the layout cannot hold: the caller's loop compares it
            return start + len(parts)
        if b"".join(parts) != packed[start * size:(start + len(parts)) * size]:
            for i, part in enumerate(parts):
                if part != packed[(start + i) * size:(start + i + 1) * size]:
                    return start + i
            return start + len(parts)  # (a record shorter than its paths)
    return None


_BLOCK = 256


def read_results(cache_dir: str, rec: dict[str, Any]) -> dict[str, Any] | None:
    """The results that go with ``rec`` (only ``--json`` and the check read them: kept apart, so
    a plain null build does not load a document of every asset); None if they are not its own."""
    return companion(cache_dir, RESULTS_FILE, rec)


def companion(cache_dir: str, name: str, rec: dict[str, Any], link: str = "written_ns") -> dict[str, Any] | None:
    """The document ``name`` written with ``rec`` (its ``written_ns`` is ``rec[link]``), or None."""
    try:
        with open(os.path.join(cache_dir, name), "rb") as f:
            doc = _loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(doc, dict) or doc.get("written_ns") != rec.get(link):
        return None
    return doc


def cached_entries() -> Callable[[str, str, str], str]:
    """A function (asset, key, data version) -> that cached result's entry in the ``--json``
    document, as ``json.dumps`` writes it (``output.format_build_json`` uses it too)."""
    try:  # what json.dumps writes a str with: json.encoder's own C function, without importing
        from _json import encode_basestring_ascii as quoted  # json and re (5-8 ms of a null build)
    except ImportError:  # an interpreter without the accelerator
        from json.encoder import encode_basestring_ascii as quoted

    def entry(asset: str, key: str, data_version: str) -> str:
        return (f'{{"asset": {quoted(asset)}, "status": "cached", "key": {quoted(key)}, "data_version": '
                f'{quoted(data_version)}, "duration_s": 0.0, "error": null, "metadata": {{}}}}')

    return entry


def null_json(results: list[list[str]], *, dry_run: bool = False) -> str:
    """The ``--json`` document of a null build whose results are ``results`` ((asset, key,
    data version) each): what the full path prints; ``dry_run``: its ``-n --json`` (each entry
    would do nothing, for no reason)."""
    entry = cached_entries()
    if dry_run:
        return ('{"ok": true, "results": [' + ", ".join([entry(*r)[:-1] + ', "would": null, "reasons": []}'
                                                         for r in results]) + '], "dry_run": true}')
    return '{"ok": true, "results": [' + ", ".join([entry(*r) for r in results]) + "]}"


def null_document(cache_dir: str, rec: dict[str, Any]) -> str | None:
    """The ``--json`` document of a null build that ``rec`` answers (``null_json`` of its
    results); None if its results are missing or not its own.

    The first null build to print it keeps it beside the record (``NULL_JSON_FILE``, stamped
    with the record's ``written_ns``), so the next ones read 2.5 MB instead of making them
    from 10,000 results (about 15 ms). The caller holds the build lock shared: no build can
    write meanwhile, and two null builds keep the same bytes. Not kept when it cannot be
    written (a read-only cache): it is made each time."""
    path = os.path.join(cache_dir, NULL_JSON_FILE)
    stamp = f"{rec.get('written_ns')}\n".encode()
    try:
        with open(path, "rb") as f:
            kept = f.read()
    except OSError:
        kept = b""
    if kept.startswith(stamp) and kept.endswith(b"]}"):
        try:
            return kept[len(stamp):].decode("ascii")
        except UnicodeDecodeError:  # not what this module writes: made again
            pass
    results = read_results(cache_dir, rec)
    if results is None:
        return None
    doc = null_json(results["results"])
    from .atomicfile import write_atomically

    try:
        write_atomically(path, stamp + doc.encode("ascii"))
    except OSError:
        pass
    return doc


def write(cache_dir: str, rec: dict[str, Any], results: dict[str, Any] | None = None,
          graph: dict[str, Any] | None = None) -> None:
    """Write ``rec`` (which ``answer`` reads), its ``results`` and its ``graph`` to ``cache_dir``,
    each whole or not at all, ``rec`` last; a cache that cannot be written costs the next build
    its fast path. Without ``graph``, ``rec`` keeps the one its ``graph_ns`` names, if any."""
    from .atomicfile import write_atomically

    rec = {**rec, "format": FORMAT}
    if graph is not None:
        rec["graph_ns"] = rec.get("written_ns")
    try:
        for name, doc in ((RESULTS_FILE, results), (GRAPH_FILE, graph)):
            if doc is not None:
                write_atomically(os.path.join(cache_dir, name),
                                 marshal.dumps({**doc, "written_ns": rec.get("written_ns")}, MARSHAL_VERSION))
        write_atomically(cache_file(cache_dir), marshal.dumps(rec, MARSHAL_VERSION))
    except (OSError, ValueError):
        discard(cache_dir)


def discard(cache_dir: str) -> None:
    """Remove the snapshot and its results (one that could not be written whole)."""
    for name in (FILE, RESULTS_FILE, GRAPH_FILE, NULL_JSON_FILE):
        try:
            os.unlink(os.path.join(cache_dir, name))
        except OSError:
            pass
