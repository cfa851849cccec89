"""Writing the null build's snapshot (``assetbuild.snapshot``) at the end of a build that may.

A build records one only when the command line was a plain build of everything
(``snapshot.INTENT``, set by the entry point), every asset came out cached, nothing was said
but the summary, and everything its decision read is something the snapshot can check again
(see ``refusal``). What it records is what the decision read as it was *before* deciding,
and still is after: a source or output modified during the build leaves no snapshot.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from .. import snapshot
from ..definitions import AssetDef, ObservableSourceDef, SourceDef
from ..io import is_external

_BUILD_HOOKS = ("before_build", "after_asset", "after_build", "asset_failed")
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the assetbuild package


def recorder_for(project: Any, assets: Any, options: Any) -> Recorder | None:
    """The recorder of this build's snapshot, its signatures taken; None if it may write none."""
    if not wanted(project, assets, options):
        return None
    rec = Recorder(project)
    rec.before()
    return rec


def wanted(project: Any, assets: Any, options: Any) -> bool:
    """Whether this build may write the snapshot (or check the one the entry point read)."""
    intent = snapshot.INTENT
    if intent is None or assets or options.dry_run or options.force or options.force_upstream \
            or options.only or options.partitions is not None or options.params or options.param_args \
            or options.resources or options.forced or options.tick or options.remote.url is not None:
        return False
    where = intent.get("directory")
    expected = os.path.abspath(str(where)) if where else os.getcwd()
    return str(project.project_dir) == expected and Path(project.cache_dir) == Path(expected) / ".assetbuild"


def refusal(project: Any) -> str | None:
    """Why the snapshot could not prove this project's null build, from its definitions and
    plugins alone; None when it can."""
    for name, d in project.graph.nodes.items():
        if isinstance(d, ObservableSourceDef):
            return f"observable source {name!r} is observed on every build"
        if isinstance(d, AssetDef):
            if d.volatile:
                return f"asset {name!r} is volatile"
            if d.max_age is not None:
                return f"asset {name!r} expires (max_age)"
            if d.outputs:
                return f"asset {name!r} writes outputs= files"
            if is_external(d.io):
                return f"asset {name!r} keeps its data outside the cache (io {getattr(d.io, 'name', d.io)!r})"
            if d.partition is not None and d.partition.kind not in ("static", "dynamic"):
                return f"asset {name!r} has {d.partition.kind} partitions, which change without an edit"
    if os.environ.get("ASSETBUILD_REMOTE"):
        return "a remote cache is set (ASSETBUILD_REMOTE)"
    hook = project.plugin_manager.hook
    for h in _BUILD_HOOKS:
        impls = getattr(hook, h).get_hookimpls()
        if impls:
            return f"a plugin implements the {h} hook ({impls[0].plugin_name})"
    return None


def _static_refusal(project: Any, previous: dict[str, Any] | None, contents: dict[str, bytes],
                    digests: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """The declarative check of the AssetFile and the project modules it imported (``contents``:
    file -> bytes, as loaded, with their loader's ``digests``), each verdict cached by digest in
    the previous snapshot: (the first refusal, the verdicts of these files)."""
    from ..declarative import facts

    loaded = project.loaded
    checked: dict[str, str] = (previous or {}).get("checked") or {}
    names = {f: m for m in sorted(loaded.project_modules)
             if (f := getattr(sys.modules.get(m), "__file__", None))}
    exports: dict[str, frozenset[str]] = dict.fromkeys(names.values(), frozenset())
    for _ in range(len(exports) + 1):  # exports only grow: a fixed point within as many rounds
        grew = False
        for f, m in names.items():
            found = facts(contents[f], os.path.relpath(f, project.project_dir), exports)
            if found.exports != exports[m]:
                exports[m], grew = found.exports, True
        if not grew:
            break
    out: dict[str, str] = {}  # the verdicts of these files only: the cache does not grow with each edit
    context = hashlib.sha256(repr(sorted((k, sorted(v)) for k, v in exports.items())).encode()).hexdigest()
    for f in [str(loaded.path), *names]:
        d = digests[f] + ":" + context  # a file's verdict depends on what the modules it reads export
        verdict = checked.get(d)
        if verdict is None:
            found = facts(contents[f], os.path.relpath(f, project.project_dir), exports)
            verdict = str(found.refusal) if found.refusal is not None else ""
        out[d] = verdict
        if verdict:
            return verdict + " (the fast null build needs an AssetFile that only declares)", out
    return None, out


class Recorder:
    """Takes the snapshot's signatures before the build decides (``before``) and writes it after
    (``finish``), if they did not change meanwhile."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.cache_dir = str(project.cache_dir)
        self.previous = snapshot.read(self.cache_dir)
        self.refused = refusal(project)
        self.files: dict[str, Any] = {}
        self.checked: dict[str, str] | None = None  # the static check's verdicts, by source digest
        self.started_ns = 0

    def before(self) -> None:
        """Signatures of the sources and path outputs, before anything reads them."""
        if self.refused is not None:
            return
        self.started_ns = time.time_ns()
        root = str(self.project.project_dir)
        for name, d in self.project.graph.nodes.items():
            rel = d.path if isinstance(d, (SourceDef, AssetDef)) else None
            if rel is None:
                continue
            p = rel if os.path.isabs(rel) else os.path.join(root, rel)
            if isinstance(d, SourceDef) and os.path.isdir(p):
                self.refused = f"source {name!r} is a directory"
                return
            self.files[p] = snapshot.sig_of(p)

    def finish(self, result: Any, store: Any, sched: Any, said: int) -> None:
        """Write the snapshot if this build proved a null build, else a refusal saying why; and
        under ASSETBUILD_CHECK_SNAPSHOT, fail if the snapshot answered what this build did not."""
        triples = [[r.asset, r.key, r.data_version] for r in result.results]
        null = result.ok and all(r.status == "cached" for r in result.results)
        expected = snapshot.EXPECTED
        if expected is not None and (not null or expected["results"] != triples):
            raise RuntimeError("the null build's snapshot disagrees with the full build: it would have "
                               "answered every asset cached with its recorded keys, and the build "
                               f"{'found them so with other keys' if null else 'did not find every asset cached'}")
        reason = self.refused
        if reason is None and not null:
            reason = "the last build was not a null build"
        if reason is None and said:
            reason = "the last build printed more than its summary"
        rec: dict[str, Any] | None = None
        if reason is None:
            rec, reason = self._record(result, store, sched, triples)
        if rec is None:
            checked = self.checked if self.checked is not None else (self.previous or {}).get("checked", {})
            snapshot.write(self.cache_dir, {"refused": reason, "checked": checked})
        else:
            results = {"results": rec.pop("results"), "json": rec.pop("json")}
            snapshot.write(self.cache_dir, rec, results)

    def _record(self, result: Any, store: Any, sched: Any, triples: list[Any]) -> tuple[dict[str, Any] | None, str]:
        from ..loader import assetfile_digest
        from ..output import format_build_json

        for p, before in self.files.items():  # unchanged while the build read them, and not racy
            now = snapshot.sig_of(p)
            if now != before or now is None or snapshot.is_racy(now, self.started_ns):
                return None, f"{p} changed during the build, or too recently to trust"
        files: dict[str, Any] = dict(self.files)
        loaded = self.project.loaded
        known = {str(loaded.path): loaded.source_digest, **loaded.module_sources}
        contents: dict[str, bytes] = {}
        for f, digest in known.items():  # what was loaded is what is there now
            before = snapshot.sig_of(f)
            try:
                data = contents[f] = Path(f).read_bytes()
            except OSError:
                return None, f"{f} cannot be read"
            found = assetfile_digest(data) if f == str(loaded.path) else hashlib.sha256(data).hexdigest()
            if found != digest or snapshot.sig_of(f) != before or snapshot.is_racy(before, time.time_ns()):
                return None, f"{f} changed since it was loaded, or too recently to trust"
            files[f] = before
        for m in loaded.project_modules:  # every one must be a file read above, or an edit could go unseen
            f = getattr(sys.modules.get(m), "__file__", None)
            if f and f not in contents:
                return None, f"project module {m!r} was not loaded from its source by assetbuild"
        static, checked = _static_refusal(self.project, self.previous, contents, known)
        self.checked = checked  # kept in a refusal too: a file that does not only declare is parsed once
        if static is not None:
            return None, static
        root = str(self.project.project_dir)
        pyproject = os.path.join(root, "pyproject.toml")
        files[pyproject] = snapshot.sig_of(pyproject)
        dirs = {os.path.abspath(p or "."): None for p in snapshot.START_PATH}
        dirs[root] = None
        for f in known:
            dirs[os.path.dirname(f)] = None
        for f in _own_files():  # (not their directories: a new module changes nothing until one imports it)
            files[f] = snapshot.sig_of(f)
        for plugin in self.project.plugin_manager.get_plugins():
            f = getattr(plugin, "__file__", None)
            if f:
                files[f] = snapshot.sig_of(f)
        blobs = []
        cas = os.path.join(self.cache_dir, "cas")
        for k in sched.known.values():
            digest = k.digest
            if digest:
                p = os.path.join(cas, digest[:2], digest[2:])
                sig = snapshot.sig_of(p)
                if sig is not None:
                    blobs.append([p, sig[0]])
        store.flush()
        state = snapshot.lmdb_state(os.path.join(self.cache_dir, "db", "data.mdb"))
        info = store.index_info() if hasattr(store, "index_info") else {}
        if state is None or info.get("last_txnid") != state[2]:
            return None, "the cache index's transaction could not be read"
        declared = sorted({n for d in self.project.graph.nodes.values() for n in getattr(d, "env", ()) or ()})
        written = time.time_ns()
        if any(snapshot.is_racy(s, written) for s in files.values() if s is not None):
            return None, "a file was modified too recently to trust its signature"
        return {"project": root, "cache": self.cache_dir, "interpreter": list(snapshot.interpreter()),
                "path": list(snapshot.START_PATH), "env": snapshot.watched_env(declared), "declared_env": declared,
                "store": list(state), "written_ns": written,
                "dirs": [[d, snapshot.dir_time(d)] for d in dirs],
                "files": [[f, list(s) if s is not None else None] for f, s in files.items()],
                "blobs": blobs, "count": len(triples), "results": triples,
                "json": format_build_json(result), "checked": checked}, ""


def _own_files() -> list[str]:
    """assetbuild's own modules: an edit refuses the snapshot."""
    files: list[str] = []
    for here, subdirs, names in os.walk(_OWN):
        subdirs[:] = [s for s in subdirs if s != "__pycache__"]
        files.extend(os.path.join(here, n) for n in names if n.endswith(".py"))
    return files
