"""The snapshot (``assetbuild.snapshot``) in a full build: what it lets the build skip, and
writing the next one.

A build may use and write one only when the command line was a plain build of everything
(``snapshot.INTENT``, set by the entry point; ``session.intent`` matches the two). Then:

- Before deciding (``Recorder.before``, under the build lock), it takes the signature of every
  source and path output. When the previous snapshot holds for everything else, only the
  assets reading a data file that changed (a source, or its own path output), and what is
  downstream of them, are decided (``affected``); the others are cached as it recorded, and
  their stored values are what the affected ones read (as with ``--only``). So it is after
  an edit of the AssetFile inside one asset's definition, which the entry point proved
  (``codeedits``): that asset and those whose fingerprint reaches its function are affected
  too, and the record carries over the static check's verdict and the graph's fingerprints
  of the others.
- After a build in which every asset succeeded and nothing was said but the results and
  the summary, it writes the next snapshot, if everything its decision read is something a
  snapshot can check again (see ``refusal``): the data as it was before deciding (the path
  outputs this build wrote, as it wrote them), the code as it was loaded.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from .. import slicegraph, snapshot
from ..definitions import AssetDef, ObservableSourceDef, SourceDef
from ..errors import SliceInsufficient
from ..io import is_external
from .aliases import output_folders
from .intent import settings_files, status_is_plain, wanted
from .listings import dir_times_since, import_hook_files, import_names_of, racy_folder

_BUILD_HOOKS = ("before_build", "after_asset", "after_build", "asset_failed")
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the assetbuild package


def recorder_for(project: Any, assets: Any, options: Any) -> Recorder | None:
    """The recorder of this build's snapshot, its signatures taken; None if it may write none."""
    if not wanted(project, assets, options):
        return None
    rec = Recorder(project)
    rec.before()
    return rec


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
            if is_external(project.io_managers.get(d.io)):  # (``d.io`` names the manager)
                return f"asset {name!r} keeps its data outside the cache (io {d.io!r})"
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


def slice_refusal(project: Any) -> str | None:
    """Why an incremental build of this project cannot load just the assets it decides
    (``session.project.stand_in``): something a slice would not see the whole of; None if it can."""
    from ..config import params_table

    graph = project.graph
    if graph.partitioned or graph.producers:
        return "the project has partitioned assets or multi-assets"
    if graph.fan_in:
        return "an asset takes the matches of a pattern or group (fan-in)"
    if graph.uses or graph.resources:
        return "the project declares resources"
    if any(graph.nodes[n].param_defaults for n in graph.order) or params_table(project.project_dir)[0] is not None:
        return "the project declares params"
    return None


def _agrees(r: Any, recorded: list[Any], sched: Any) -> bool:
    """Whether the full path's result ``r`` for an asset the snapshot would have left cached
    as ``recorded`` says the same: cached with its key and version; or built again under its
    key because its stored value was unusable (an incremental build rebuilds it too, when an
    asset it decides reads it); or not run because the build stopped at a failure first (an
    incremental build reports it cached: it is up to date)."""
    if r.status == "cached":
        return recorded == [r.asset, r.key, r.data_version]
    if r.asset in sched.repaired:
        return bool(r.key == recorded[1])
    return r.status == "skipped" and (r.error or "").startswith("not run: the build stopped after")


class Recorder:
    """Takes the data's signatures before the build decides, and which assets it need decide
    (``before``); writes the next snapshot after (``finish``), if they did not change meanwhile."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.cache_dir = str(project.cache_dir)
        previous = snapshot.PREVIOUS  # (not read twice: changes() checks it under the build lock)
        self.previous = previous if previous is not None and previous["cache"] == self.cache_dir \
            else snapshot.read(self.cache_dir)
        self.refused = refusal(project)
        self.data: dict[str, Any] = {}  # source and path output -> signature before deciding
        self.graph: dict[str, Any] = {}  # what a slice needs (``slicegraph.read_graph``), as this build found it
        self.checked: dict[str, str] | None = None  # the static check's verdicts, by source digest
        self.probe: tuple[int, int] | None = None
        self.affected: set[str] | None = None  # None: decide every asset
        self.recorded: dict[str, list[Any]] = {}  # the previous snapshot's results, by asset
        # decide every asset even so, and compare with ``affected`` (a slice: session.slicecheck)
        self.checking = snapshot.CHECK and project.sliced is None
        self.beside: Any = None  # the declarative check, running beside the build (``checking.Beside``)
        self._prev_graph: dict[str, Any] | None = None  # (``_previous_graph``)

    def before(self) -> None:
        """Signatures of the sources and path outputs, before anything reads them; then the
        assets the previous snapshot leaves to decide. A sliced project takes the signatures
        the entry point took, and the graph the previous snapshot recorded: if that no longer
        holds, or more must be decided than the slice holds, ``SliceInsufficient``."""
        sliced = self.project.sliced
        if sliced is not None:
            self.probe, self.data, self.graph = snapshot.PROBE, dict(snapshot.DATA or {}), sliced["graph"]
            self.affected = None if self.refused is not None or self.probe is None else self._affected()
            if self.affected is None or not self.affected <= sliced["affected"]:
                raise SliceInsufficient("the snapshot no longer holds, or more changed since the entry point looked")
            # this build's decisions stand, but a source that became a directory (a changed one:
            # the others are the files recorded) refuses the next record, as in a whole build
            self.refused = _directory_source(self.project, set(sliced["changed"]))
            return
        if self.refused is not None:
            return
        from .checking import Beside, beside_worth_it

        if beside_worth_it(self.project, self.previous):
            self.beside = Beside(self.project, self.previous)
        self.probe = snapshot.probe(os.path.join(self.cache_dir, "lock"))
        if self.probe is None:
            self.refused = "the cache's lock file cannot be touched"
            return
        root = str(self.project.project_dir)
        owners: dict[str, list[str]] = {}  # source and path output -> its nodes (two sources may name one file)
        for name, d in self.project.graph.nodes.items():
            rel = d.path if isinstance(d, (SourceDef, AssetDef)) else None
            if rel is None:
                continue
            p = rel if os.path.isabs(rel) else os.path.join(root, rel)
            if isinstance(d, SourceDef) and os.path.isdir(p):
                self.refused = f"source {name!r} is a directory"
                return
            self.data[p] = snapshot.sig_of(p)
            owners.setdefault(p, []).append(name)
        graph = self.project.graph
        order = graph.order
        self.graph = slicegraph.graph_document(order, [[up for _, up in graph.inputs[n]] for n in order], owners,
                                             slice_refusal(self.project))
        self.affected = self._affected()

    def _affected(self) -> set[str] | None:
        """The assets to decide: those reading a changed data file, their path output's
        owner, and everything downstream; None when the previous snapshot does not hold."""
        prev, graph = self.previous, self.project.graph
        if prev is None or prev.get("refused") or graph.partitioned or graph.producers:
            return None
        sliced = self.project.sliced
        # a slice's signatures are the entry point's, taken against this record: what it found
        # changed stands, and only the rest (the cache index, the code, the environment) is looked at again
        same = sliced is not None and prev is snapshot.PREVIOUS and self.data == snapshot.DATA
        edit = self._edit()
        found = snapshot.changes(prev, str(self.project.project_dir), snapshot.START_PATH, data=self.data,
                                 found=sliced["changed"] if same else None, edited=edit)
        if isinstance(found, str) or (not same and set(prev["data"][0]) != self.data.keys()):
            return None
        results = snapshot.read_results(self.cache_dir, prev)
        self.recorded = {r[0]: r for r in results["results"]} if results is not None else {}
        if self.recorded.keys() != set(self.graph["order"]):
            return None
        if sliced is not None and found == sliced["changed"]:  # (the entry point's slice of the same graph)
            return set(sliced["affected"])
        return set(slicegraph.slice_of(self.graph, found, edited=edit["assets"] if edit else ())["affected"])

    def _edit(self) -> dict[str, Any] | None:
        """The edit of a code file the entry point found this slice of the project for
        (``codeedits``), if this build loaded the file it proved: this build takes it too."""
        edit = (self.project.sliced or {}).get("edit")
        if edit is None:
            return None
        loaded = self.project.loaded
        now = loaded.module_sources.get(edit["file"]) if "module" in edit else loaded.source_digest
        return edit if edit["digest"] == now else None

    def decide_slice(self, sched: Any, plan: list[str], observer: Any, *, keep_going: bool, dry_run: bool) -> Any:
        """The build (or dry run) over ``plan`` when the snapshot holds for the rest: the
        affected assets decided, their other inputs' stored values used, the rest ``merged``.
        ``SliceInsufficient`` if more is needed (``done``: what it ran first). A dry run's lines
        wait until it stands: one that predicts a failure starts over too, as the whole
        project's says what a build stopping there would not reach, which the slice cannot."""
        decide = [n for n in plan if n in (self.affected or ())]
        shown = observer.finished
        held: list[Any] = []
        if dry_run:  # (its lines in plan order, as the full dry run's)
            observer.finished = held.append
        try:
            built = sched.build(decide, keep_going=keep_going, only=True, dry_run=dry_run)
        except SliceInsufficient as e:  # before the first asset (``before``), or from one
            e.done = {} if dry_run else {r.asset: r for n in decide
                                         if (r := sched.result_of(n)) is not None and r.status != "cached"}
            raise
        finally:
            observer.finished = shown
        if dry_run:
            if any(r.status == "failed" or (r.status != "cached" and r.metadata.get("would") is None)
                   for r in built.results):  # (predicted: would fail, or would skip)
                raise SliceInsufficient("a dry run that predicts a failure")
            for r in held:
                shown(r)
        return self.merged(observer.with_logs(built), plan, sched)

    def merged(self, result: Any, plan: list[str], sched: Any) -> Any:
        """The build's result over ``plan``: the affected assets' results as decided, the
        others cached as the previous snapshot recorded them, bar those the build ran even so
        (an input whose stored value turned out unusable is built again, as the full path does)."""
        from dataclasses import replace

        from ..reports import cached_result

        ran = {**sched.results_so_far(), **{r.asset: r for r in result.results}}
        rec = self.recorded
        out: list[Any] = []
        add = out.append
        for n in plan:  # (a loop, not a generator: 10,000 cached assets)
            r = ran.get(n)
            if r is None:
                _, key, version = rec[n]
                r = cached_result(n, key, version)
            add(r)
        return replace(result, results=tuple(out))

    def finish(self, result: Any, store: Any, sched: Any, said: int) -> None:
        """Write the snapshot if this build succeeded and can be proved again, else a refusal
        saying why; under ASSETBUILD_CHECK_SNAPSHOT, fail if the snapshot would have answered or
        skipped what this build did not find cached."""
        triples: list[list[Any]] = []
        add = triples.append
        statuses: set[str] = set()
        see = statuses.add
        for r in result.results:  # (one pass over 10,000 results)
            add([r.asset, r.key, r.data_version])
            see(r.status)
        null = result.ok and statuses <= {"cached"}
        expected = snapshot.EXPECTED
        if expected is not None and (not null or expected["results"] != triples):
            raise RuntimeError("the null build's snapshot disagrees with the full build: it would have "
                               "answered every asset cached with its recorded keys, and the build "
                               f"{'found them so with other keys' if null else 'did not find every asset cached'}")
        if self.checking and self.affected is not None:
            wrong = [r.asset for r in result.results if r.asset not in self.affected
                     and not _agrees(r, self.recorded[r.asset], sched)]
            if wrong:
                raise RuntimeError(f"the snapshot disagrees with the full build: it would have taken {wrong[0]!r} "
                                   "as cached with its recorded key, and the build did not")
        reason = self.refused
        if reason is None and not (result.ok and statuses <= {"cached", "built", "restored"}):
            reason = "the last build did not succeed"
        if reason is None and said:
            reason = "the last build printed more than its results and summary"
        rec: dict[str, Any] | None = None
        if reason is None:
            rec, reason = self._record(result, store, sched, triples)
        if rec is None:
            checked = self.checked if self.checked is not None else (self.previous or {}).get("checked", {})
            snapshot.write(self.cache_dir, {"refused": reason, "checked": checked})
        else:
            results = {"results": rec.pop("results")}
            asset_defs = rec.pop("asset_defs")
            kept = self.graph.get("written_ns")  # the last snapshot's graph (a slice's): its file stays
            doc = {**self.graph, "asset_defs": asset_defs, "source": rec.pop("source"), "modules": rec.pop("modules")}
            edit = self._edit()
            if self.project.sliced is None:  # (a slice's graph keeps the table it was loaded with)
                from ..codetable import roots_of, table_for

                whole = self.affected is None or self.checking  # (every asset fingerprinted)
                doc.update(table_for(self.graph["order"], sched.codes, None if whole else self._previous_graph(),
                                     roots_of(self.project.graph.nodes)))
            elif edit is not None:  # but the fingerprints of the code an edit changed
                from ..codetable import patched

                doc.update(patched(self.graph, sched.codes))
            graph: dict[str, Any] | None = doc
            if kept is not None and edit is None and self.graph.get("asset_defs") == asset_defs:
                rec["graph_ns"], graph = kept, None
            snapshot.write(self.cache_dir, rec, results, graph)

    def close(self) -> None:
        """End what still runs for it (the check beside a build that ended early)."""
        if self.beside is not None:
            self.beside.close()

    def _data_after(self, result: Any, store: Any, written: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str], str]:
        """The data files' signatures to record, and those that are racy: each as taken before
        the build decided, but the path outputs this build wrote as it wrote them (``written``:
        the signature their head recorded, what the full path compares them with: a file it
        wrote is not racy to it, unless the store did not record that signature, which
        ``_record`` adds after the last commit); any other, as it is now, if that is the
        signature its head recorded, else racy. (A file modified during the build needs no
        second look: its signature now differs from the one recorded, or it is racy, so the
        next build decides its readers again.)"""
        assert self.probe is not None
        root = str(self.project.project_dir)
        nodes = self.project.graph.nodes
        data = dict(self.data)
        racy = snapshot.racy_paths(data, self.probe)
        for r in result.results:
            if r.status != "cached":
                rel = getattr(nodes.get(r.asset), "path", None)
                if rel:
                    p = os.path.join(root, rel)
                    now = written.get(p)
                    if now is not None:  # (no stat of each of a cold build's outputs again)
                        data[p] = now
                        racy.discard(p)
                        continue
                    now = data[p] = snapshot.sig_of(p)
                    if now is None:
                        return None, [], f"{p} is gone after the build wrote it"
                    recorded = _path_stat(store, r.asset)
                    if recorded is not None and list(recorded) == list(now[:4]):
                        racy.discard(p)
                    else:
                        racy.add(p)
        return data, sorted(racy), ""

    def _record(self, result: Any, store: Any, sched: Any, triples: list[Any]) -> tuple[dict[str, Any] | None, str]:
        from ..compiled import TAG
        from ..loader import assetfile_digest

        assert self.probe is not None
        data, racy, why = self._data_after(result, store, getattr(sched.files, "written", {}))
        if data is None:
            return None, why
        files: dict[str, Any] = {}
        loaded = self.project.loaded
        # the store keeps this project's heads and history under its AssetFile's real path
        # (``project_id``): the record holds the path its records were kept under
        real = os.path.realpath(loaded.path)
        from ..store import project_id

        if project_id(real, self.cache_dir) != getattr(store, "project", None):
            return None, "the AssetFile became another file during the build (a link to it retargeted)"
        known = {str(loaded.path): loaded.source_digest, **loaded.module_sources}
        # (the AssetFile's digest is of its bytes and the interpreter's tag: ``assetfile_digest``)
        kept = {f: [digest, TAG if f == str(loaded.path) else ""] for f, digest in known.items()}
        contents: dict[str, bytes] = {}
        for f, digest in known.items():  # what was loaded is what is there now
            before = snapshot.sig_of(f)
            try:
                data_f = contents[f] = Path(f).read_bytes()
            except OSError:
                return None, f"{f} cannot be read"
            found = assetfile_digest(data_f) if f == str(loaded.path) else hashlib.sha256(data_f).hexdigest()
            if found != digest or snapshot.sig_of(f) != before:
                return None, f"{f} changed since it was loaded"
            files[f] = before
        for m in loaded.project_modules:  # every one must be a file read above, or an edit could go unseen
            f = getattr(sys.modules.get(m), "__file__", None)
            if f and f not in contents:
                return None, f"project module {m!r} was not loaded from its source by assetbuild"
        from .checking import verdicts

        static, checked, asset_defs = verdicts(self.project, self._previous_with_defs(), contents, known, self.beside)
        self.checked = checked  # kept in a refusal too: a file that does not only declare is parsed once
        if static is None:
            from .checking import computed_io_versions, imported_values

            static = imported_values(self.project, asset_defs[2] if len(asset_defs) > 2 else {}) \
                or computed_io_versions(self.project)
        if static is not None:
            return None, static
        root = str(self.project.project_dir)
        settings = snapshot.SETTINGS or {}
        for f in settings_files(root, self.cache_dir):  # as before loading: a save since shows next time
            files[f] = settings[f] if f in settings else snapshot.sig_of(f)
        dirs = {os.path.abspath(p or "."): None for p in snapshot.START_PATH}
        dirs[root] = None
        for f in known:
            dirs[os.path.dirname(f)] = None
        # (the project's folder first: the load puts it on sys.path, to find the project modules)
        starts = list(dict.fromkeys([root, *(os.path.abspath(p or ".") for p in snapshot.START_PATH)]))
        finder = loaded.module_finder  # the folders it listed for an import by a computed name
        for d in sorted(finder.listed) if finder is not None else ():
            dirs[d] = None  # (a module added to one changes the keys of the assets doing such an import)
        # Each package of a project module (or of one an asset imports inside its function),
        # wherever on sys.path: another portion of it could become the one imported; and a
        # folder of the module's own name, which an __init__.py makes a package that beats it.
        for m in sorted({*loaded.project_modules, *(finder.located() if finder is not None else ())}):
            parts = m.split(".")
            for i in range(1, len(parts) + 1):
                for start in starts:
                    dirs[os.path.join(start, *parts[:i])] = None
        for f in _own_files():  # (not their directories: a new module changes nothing until one imports it)
            files[f] = snapshot.sig_of(f)
        from .distributions import DISTRIBUTIONS

        metadata = set(DISTRIBUTIONS.metadata_files)  # the versions keys name, each read from one
        for f in metadata:
            sig = files[f] = snapshot.sig_of(f)
            if sig is None:
                return None, f"{f} is gone since the build read a library's version from it"
        for f, sig in DISTRIBUTIONS.sources.files.items():  # an editable library's source, as its digest
            files[f] = sig  # (in keys) was made from it; and its folders, where a module can be added
        dirs.update(dict.fromkeys(DISTRIBUTIONS.sources.dirs))
        if self.affected is not None:  # (what this build did not fingerprint: as the last one read
            metadata.update((self.previous or {}).get("metadata", ()))  # it, carried below with ``files``)
        from ..plugins import loaded_from

        for f in loaded_from(self.project.plugin_manager):  # the plugins' code, and their entry points
            if f not in files:  # (a project module's is the one taken as its content was checked)
                files[f] = snapshot.sig_of(f)
        for f in import_hook_files(snapshot.START_PATH):  # (an editable install's finder: where imports resolve)
            files.setdefault(f, snapshot.sig_of(f))
        carried: dict[str, Any] = {}
        if self.affected is not None and self.previous is not None:
            # what this build did not read because it decided only some assets (a module imported
            # inside another asset's function): as the last snapshot recorded it, and this build
            # found it (``changes``), not as it may be now
            for f, sig in self.previous["files"]:
                if f not in files:
                    files[f] = sig
                    if f in self.previous["contents"]:
                        kept[f] = self.previous["contents"][f]
            carried = {e[0]: e for e in self.previous["dirs"] if e[0] not in dirs}
        if any(snapshot.is_racy(s, self.probe) for s in files.values()):
            return None, "a file of the project's code was modified too recently to trust its signature"
        clock = snapshot.probe(os.path.join(self.cache_dir, "lock"))  # (before the folders' times are read)
        times, moved = dir_times_since(dirs, snapshot.BEFORE, loaded.started_ns or None,
                                                os.path.join(self.cache_dir, "lock"), own=self._own_paths())
        if moved is not None:
            return None, f"a module may have appeared after the build started loading: {moved}"
        names, moved = import_names_of(times)
        if moved is not None:
            return None, f"a folder changed as it was listed: {moved}"
        unsure = racy_folder(times, clock) if clock is not None else "the cache's lock file"
        if unsure is not None:
            return None, f"a folder changed too recently to trust its time: {unsure}"
        blobs = {p: size for p, size in (self.previous or {}).get("blobs", ())} if self.affected is not None else {}
        cas = os.path.join(self.cache_dir, "cas")
        try:  # (small outputs are kept in the index: no stat for a file that is in no directory)
            prefixes = set(os.listdir(cas))
        except OSError:
            prefixes = set()
        for k in sched.known.values():
            digest = k.digest
            if digest and digest[:2] in prefixes:
                p = os.path.join(cas, digest[:2], digest[2:])
                sig = snapshot.sig_of(p)
                if sig is not None:
                    blobs[p] = sig[0]
        sched.files.vouch_racy(store)  # (their tick likelier past now than as the build ended: one more commit)
        store.flush()  # then what a commit left unrecorded is racy too, as the full path hashes it (racy)
        nodes = self.project.graph.nodes
        racy = sorted({*racy, *(p for a in getattr(store, "smudged", ())
                                if (p := os.path.join(root, getattr(nodes.get(a), "path", None) or "")) in data)})
        state = snapshot.lmdb_state(os.path.join(self.cache_dir, "db", "data.mdb"))
        info = store.index_info() if hasattr(store, "index_info") else {}
        if state is None or info.get("last_txnid") != state[2]:
            return None, "the cache index's transaction could not be read"
        try:
            packed = snapshot.packed_sigs(data.values())
        except ValueError as e:
            return None, str(e)
        declared = sorted({n for d in self.project.graph.nodes.values() for n in getattr(d, "env", ()) or ()}) \
            if self.project.sliced is None else (self.previous or {})["declared_env"]
        plain_status = status_is_plain(self.project.graph) if self.project.sliced is None \
            else bool((self.previous or {}).get("plain_status"))
        out_dirs = output_folders(self.project.graph, root) if self.project.sliced is None \
            else (self.previous or {})["out_dirs"]  # (a slice's graph is part of the same one: as its entry checked)
        return {"project": root, "assetfile": real, "cache": self.cache_dir, "interpreter": list(snapshot.interpreter()),
                "path": list(snapshot.START_PATH), "env": snapshot.watched_env(declared), "declared_env": declared,
                "store": list(state), "written_ns": time.time_ns(), "racy": racy,
                "dirs": [[d, t, names[d]] for d, t in times.items()] + [list(e) for e in carried.values()],
                "files": [[f, s] for f, s in files.items()], "contents": kept, "data": [list(data), packed],
                "blobs": [[p, size] for p, size in blobs.items()], "count": len(triples), "results": triples,
                "metadata": sorted(metadata), "checked": checked, "plain_status": plain_status, "out_dirs": out_dirs,
                "asset_defs": asset_defs[0], "asset_defs_of": asset_defs[1],
                # (kept with the graph: ``codeedits`` compares the next edit with them)
                "source": contents[str(loaded.path)], "modules": self._module_texts(contents, kept)}, ""

    def _module_texts(self, contents: dict[str, bytes], kept: dict[str, list[str]]) -> dict[str, list[Any]]:
        """[name, text] of each project module the record keeps a digest of, by file: as loaded,
        or (one this build did not import) as the previous graph kept it."""
        from ..loader import project_module_names

        texts = {f: m for f, m in (self.graph.get("modules") or {}).items() if f in kept}
        for name in project_module_names(self.project.project_dir):  # (one imported as an asset ran too)
            f = getattr(sys.modules.get(name), "__file__", None)
            if f in contents:
                texts[f] = [name, contents[f]]
        return texts

    def _own_paths(self) -> set[str]:
        """What the build makes in the project's directories: the cache directory, and the top
        folder (or file) of every path output."""
        root = str(self.project.project_dir)
        own = {self.cache_dir}
        for d in self.project.graph.nodes.values():
            rel = getattr(d, "path", None) if isinstance(d, AssetDef) else None
            if rel and not os.path.isabs(rel):
                own.add(os.path.join(root, os.path.normpath(rel).split(os.sep)[0]))
        return own

    def _previous_with_defs(self) -> dict[str, Any] | None:
        """The previous record, with the ``asset_defs`` its graph keeps if they are of the
        AssetFile loaded (``checking.check`` takes them instead of parsing it again)."""
        prev = self.previous
        of = (prev or {}).get("asset_defs_of")
        edit = self._edit()
        if prev is not None and edit is not None and "defs" in edit and of == [edit["from"], edit["checker"]]:
            # the AssetFile changed inside one asset's body, which the check does not read: its
            # verdict on the file before holds for the file now, and the definitions are where
            # the edit left them (``codeedits``)
            checked = prev.get("checked") or {}
            carried = {edit["digest"] + k[len(edit["from"]):]: v for k, v in checked.items()
                       if k.startswith(edit["from"] + ":")}
            return {**prev, "checked": {**checked, **carried}, "asset_defs": edit["defs"],
                    "asset_defs_of": [edit["digest"], edit["checker"]]}
        if prev is None or not isinstance(of, list) or of[0] != self.project.loaded.source_digest:
            return prev
        defs = (self._previous_graph() or {}).get("asset_defs")
        return prev if defs is None else {**prev, "asset_defs": defs}

    def _previous_graph(self) -> dict[str, Any] | None:
        """The previous record's graph (read once)."""
        prev = self.previous
        kept = self.graph.get("written_ns")  # (a slice's graph is the previous one)
        if prev is None or (kept is not None and kept == prev.get("graph_ns")):
            return self.graph if prev is not None else None
        if self._prev_graph is None:
            self._prev_graph = slicegraph.read_graph(self.cache_dir, prev) or {}
        return self._prev_graph or None


def _directory_source(project: Any, among: set[str]) -> str | None:
    """Why no snapshot can be recorded if a source of ``project`` at one of the paths ``among``
    is a directory (as ``Recorder.before`` says of a whole project's): a file changed inside it
    leaves the directory's signature as it was."""
    root = str(project.project_dir)
    for name, d in project.graph.nodes.items():
        if isinstance(d, SourceDef):
            p = d.path if os.path.isabs(d.path) else os.path.join(root, d.path)
            if p in among and os.path.isdir(p):
                return f"source {name!r} is a directory"
    return None


def _path_stat(store: Any, asset: str) -> Any:
    """The stat signature of ``asset``'s path output as its head recorded it (None: none), from
    the head's record without making the Head where the store can (10,000 heads after a cold build)."""
    entry = getattr(store, "head_entry", None)
    if entry is not None:
        found = entry(asset)
        if found is not None:
            return found[4]
    head = store.get_head(asset)
    return head.path_stat if head is not None else None


def _own_files() -> list[str]:
    """assetbuild's own modules: an edit refuses the snapshot."""
    files: list[str] = []
    for here, subdirs, names in os.walk(_OWN):
        subdirs[:] = [s for s in subdirs if s != "__pycache__"]
        files.extend(os.path.join(here, n) for n in names if n.endswith(".py"))
    return files
