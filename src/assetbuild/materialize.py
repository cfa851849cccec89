"""Acting on decisions: writing what a build produced or reused into the store and the project.

The scheduler decides when; this module does the writes in the order that keeps the cache
consistent (bytes, then the path output, then the trace and head), and keeps the outputs that
assets later in this build will read, so they are loaded from the store at most once.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .clock import now_ns
from .contracts import Decision, Files, StatSig, TraceStore
from .errors import CacheCorrupt, SourceMissing
from .fingerprint.refs import fold_code_refs, split_code_refs, with_code_refs
from .fingerprint.shown import function_of, shown_values
from .keys import KeyParts
from .manifest import Manifest, decode_manifest, is_dir_output, listed_outputs, outputs_key_part
from .metadata import encode_metadata
from .moved import MovedOutputs
from .reports import Head, Trace


class PathNotWritten(Exception):
    """A path output could not be written (nothing about it was recorded)."""

    def __init__(self, err: OSError) -> None:
        super().__init__(str(err))
        self.err = err


def _write(files: Files, path: str, data: bytes) -> StatSig:
    try:
        return files.write_path(path, data)
    except OSError as e:
        raise PathNotWritten(e) from e


class Materializer:
    """Writes outputs and heads; holds this build's in-memory outputs for their readers.

    ``code_refs(data)`` names the project code a stored value references (pickles), and
    ``code_ref_digest(ref)`` that code's current fingerprint: both enter the data version
    downstream keys use (see assetbuild.fingerprint.refs).
    """

    def __init__(self, store: TraceStore, files: Files, io_tags: dict[str, str], *,
                 code_refs: Callable[[bytes], tuple[str, ...]] | None = None,
                 code_ref_digest: Callable[[str], str] | None = None,
                 inputs: Mapping[str, Sequence[tuple[str | None, str]]] | None = None,
                 source_paths: Mapping[str, str] | None = None,
                 code_files: Mapping[str, str] | None = None, nodes: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.nodes = nodes or {}
        self._texts: dict[str, str] = {}  # source file -> sha256 of its text ("" unreadable), this build  # asset -> its definition: the function whose short values heads keep
        self.files = files
        self.moved = MovedOutputs(store)  # what replaced heads leave behind: this build's notes
        self.io_tags = io_tags
        self.inputs = inputs or {}  # asset -> (parameter, upstream) in binding order
        self.source_paths = source_paths or {}
        self.code_files = code_files if code_files is not None else {}  # project module file -> digest of the source keyed
        self.code_refs = code_refs or (lambda data: ())
        self.code_ref_digest = code_ref_digest or (lambda ref: "")
        self._bytes: dict[str, bytes] = {}
        self._readers: dict[str, int] = {}  # asset -> how many planned assets still read it
        self._named: dict[str, tuple[str, ...]] = {}  # usable data version -> the code its value names

    # --- outputs kept for their readers ----------------------------------------------------------

    def add_reader(self, upstream: str) -> None:
        self._readers[upstream] = self._readers.get(upstream, 0) + 1

    def keep(self, name: str, data: bytes) -> None:
        if self._readers.get(name):
            self._bytes[name] = data

    def forget(self, name: str) -> None:
        self._bytes.pop(name, None)

    def release(self, inputs: Sequence[tuple[str | None, str]]) -> None:
        """An asset that read ``inputs`` (parameter, upstream) is done: drop outputs nobody
        else will read."""
        for _, up in inputs:
            c = self._readers.get(up)
            if c:
                self._readers[up] = c - 1
                if c == 1:
                    self._bytes.pop(up, None)

    def input_bytes(self, up: str, digest: str, *, by_file: bool) -> Any:
        """An upstream's stored output, verified (``CacheCorrupt`` if it is not intact).

        ``by_file`` (the asset runs on this machine): a large output stored as a file is passed
        as (path, digest) instead, for the function's side to read and verify, so that its bytes
        never pass through this process."""
        data = self._bytes.get(up)
        if data is not None:
            return data
        if by_file:
            path = self.store.blob_file(digest)
            if path is not None:
                return (str(path), digest)
        data = self.store.read_blob(digest)
        self.keep(up, data)
        return data

    # --- whether a run may be recorded -----------------------------------------------------------

    def source_changed_during_run(self, name: str) -> str | None:
        """The first source input whose contents differ from when the asset's key was made."""
        for _, up in self.inputs[name]:
            if up in self.source_paths:
                path = self.source_paths[up]
                before = self.files.source_version(path)  # the memoized version the key used
                try:
                    after = self.files.source_version(path, fresh=True)
                except SourceMissing:
                    return up
                if after != before:
                    return up
        return None

    def code_changed_during_run(self, outcome: Any) -> str | None:
        """The first project file whose code, as the asset ran it, is not the code the keys were
        made from: a worker process imported it after an edit, or an asset imported it here as
        it ran (``Task.run``: the modules loaded before are the ones keyed). The outcome names
        the project code its asset's key covers, and what importing it runs (``Task.code_modules``);
        a module only other assets reach, edited and imported since, fails nothing."""
        ran: dict[str, str] | None = getattr(outcome, "project_code", None)
        if not ran:
            return None
        for path, digest in sorted(ran.items()):
            expected = self.code_files.get(path)
            if expected is not None and expected != digest:
                root = os.path.join(str(self.files.root), "")
                return path[len(root):] if path.startswith(root) else path
        return None

    # --- writing -----------------------------------------------------------------------------

    def usable_version(self, recorded: str) -> str:
        """The data version downstream keys use: the recorded one, with the current fingerprint
        of the project code its value names folded in (identical when it names none)."""
        usable = fold_code_refs(recorded, self.code_ref_digest)
        if usable is not recorded:
            self._named[usable] = split_code_refs(recorded)[1]
        return usable

    def modules_named(self, versions: Iterable[str]) -> set[str]:
        """The modules of the project code that values of these (usable) data versions name:
        the keys of their readers cover that code too (``Task.code_modules``)."""
        named = self._named
        return {ref.partition(":")[0] for v in versions for ref in named.get(v, ())} if named else set()

    def reuse(self, name: str, d: Decision) -> None:
        """Make a reused trace the asset's latest build, unless it already is, unchanged. A
        trace of the head's own key can be another build of it: the remote's, when the bytes
        here are gone or expired (another machine built the key again, with another value, or
        later); it becomes the head (the head kept naming the old one: bytes gone, or built too
        long ago, while readers were keyed on the remote's data version)."""
        head = d.head
        reused = d.reused
        if head is None or head.key != d.key or (d.path_sig is not None and d.path_sig != head.path_stat) \
                or not isinstance(reused, Head) and (reused.data_version, reused.output_digest, reused.created_ns) \
                != (head.data_version, head.output_digest, head.built_ns):
            self.put_head(name, d.known_key, d.parts, reused, d.path_sig, before=head)

    def restore(self, name: str, path: str, d: Decision, data: bytes | None = None) -> None:
        """Make a reused trace the asset's latest build again: its bytes (``data``, else read
        from the store: ``CacheCorrupt`` if they are not intact) written back to its path output
        (``PathNotWritten``), if it has one (``path``)."""
        if data is None:
            data = self.store.read_blob(d.reused.output_digest)
        sig = _write(self.files, path, data) if path else None
        self.put_head(name, d.known_key, d.parts, d.reused, sig, before=d.head)
        self.keep(name, data)

    def restore_files(self, name: str, d: Decision, data: bytes) -> None:
        """Write back the files an asset wrote itself that are missing or edited, from the blobs
        its manifest (``data``) names; ``CacheCorrupt`` if one is gone, or if the manifest is
        not one a build of this key writes (malformed, a path outside its outputs, or outputs
        other than those the key covers: an imported or remote entry), ``PathNotWritten``."""
        manifest = _usable_manifest(data, d.reused.output_digest, d.parts.path)
        self._refuse_first_claim(manifest, d.head)
        self._put_back_files(manifest)
        self.put_head(name, d.known_key, d.parts, d.reused, None, before=d.head)

    def restore_kept(self, head: Head, *, files: bool, path: str | None) -> None:
        """Put back a value used without deciding its asset (``head``, which stays as it is: kept
        current by a skip, or an input taken as stored) where it is missing or edited: its
        ``files`` (``outputs=``), or its ``path`` output. ``CacheCorrupt``, ``PathNotWritten``."""
        data = self.store.read_blob(head.output_digest)
        if files:
            self._put_back_files(_usable_manifest(data, head.output_digest, None))
        elif path:
            _write(self.files, path, data)

    def _put_back_files(self, manifest: Manifest) -> None:
        try:
            problems = self.files.outputs_state(manifest)
            if problems:
                self.files.restore_outputs(manifest, problems, self.store.read_blob,
                                           lambda digest: self.store.blob_file(digest))
        except OSError as e:
            raise PathNotWritten(e) from e

    def _refuse_first_claim(self, manifest: Manifest, head: Head | None) -> bool:
        """``PathNotWritten`` (the asset fails; nothing placed, nothing deleted) when a declared
        directory that no latest build of the project placed files in (the asset's, or a
        renamed one's) holds files the asset does not write: before its first build there,
        they are the user's (a gh-pages worktree's notes), not extras to remove. One owned by
        ``head`` is the asset's, as ever; files at the paths the asset writes are replaced.
        True when this build is such a first one: its files are the first placed there, and the
        caller has them noted (``Workspace.note_claim``) before placing them: a build killed
        after placing them, before its record committed, left files the next build took for
        the user's (a small file's bytes were in the batch the kill lost) and refused the
        folder; noted, they are an earlier build's (``_holds_bytes``) and go as extras."""
        unclaimed = getattr(self.files, "unclaimed_files", None)
        owned = listed_outputs(getattr(head, "path", None))
        first = False
        for decl in manifest.outputs:
            if unclaimed is None or not is_dir_output(decl) or decl in owned:
                continue
            first = True  # (or a renamed asset's folder: noted all the same)
            found = unclaimed(decl, manifest.by_path(), stored=self._holds_bytes)
            heads = getattr(self.store, "heads", None)
            if not found or (heads is not None and any(decl in listed_outputs(h.path) for h in heads().values())):
                continue
            shown = ", ".join(found[:5]) + (" and more" if len(found) > 5 else "")
            raise PathNotWritten(OSError(errno.EEXIST, f"it already holds files assetbuild has no record of writing "
                                         f"({shown}), which a build would remove; assetbuild deletes no file it "
                                         "did not write: move them away (files an earlier build wrote are "
                                         "forgotten by `clean --keep-outputs` and unknown to another cache "
                                         "directory: delete them)", self.files.abspath(decl.rstrip("/"))))
        return first

    def _holds_bytes(self, digest: str, size: int) -> bool:
        """Whether the store holds the bytes ``digest`` of a file of ``size``: an earlier build's
        output (this cache stored it), not a file of the user's. Looked up for real: ``has_blob``
        takes a small size on trust. Or a file a first claim noted (one a killed build placed)."""
        claims = self.__dict__.get("_claims")
        if claims is None:
            claimed = getattr(self.files, "claimed", None)
            claims = self._claims = claimed() if claimed is not None else frozenset()
        if digest in claims:
            return True
        try:
            if self.store.blob_file(digest, 0) is not None:
                return True
            return size <= 1 << 20 and len(self.store.read_blob(digest)) == size
        except (OSError, CacheCorrupt):
            return False

    def record(self, name: str, d: Decision, path: str | None, produced: Any, staging: str | None = None) -> str:
        """Store a built output (bytes, path output, trace, head, history); its data version.
        ``PathNotWritten``: its path output cannot be written (only its bytes were stored).
        ``staging``: the asset wrote files there; ``produced`` is their manifest, and each file
        is stored and moved into the project before the trace is recorded."""
        spooled = getattr(produced, "file", None)  # a worker's large output, in a file of the cache
        size = produced.file_size if spooled is not None else len(produced.data)
        data: bytes | None = produced.data
        if spooled is not None:  # renamed into the store: its bytes never pass through this process
            self.store.put_blob_file(spooled, produced.digest, size)
            data = None
        else:
            self.store.put_blob(produced.data, produced.digest)
        sig = None
        if staging is not None:
            manifest = decode_manifest(data if data is not None else self.store.read_blob(produced.digest))
            if self._refuse_first_claim(manifest, d.head):
                note = getattr(self.files, "note_claim", None)
                if note is not None:
                    note(manifest)
            try:
                self.files.place_outputs(staging, manifest, self.store)
            except OSError as e:
                raise PathNotWritten(e) from e
        elif path is not None:
            if data is None:
                data = self.store.read_blob(produced.digest)
            sig = _write(self.files, path, data)
        now = now_ns()  # ASSETBUILD_NOW when set: max_age measures from here
        refs = self.code_refs(data) if data is not None else self._file_refs(produced.digest)
        data_version = with_code_refs(produced.data_version, refs)
        trace = Trace(data_version, produced.digest, d.parts.io, size, produced.duration_s, now,
                      _metadata_json(produced.metadata))
        self.store.put_trace(d.known_key, trace)
        if d.parts.nonce:  # a volatile asset's key: no build looks it up again, here or elsewhere
            unshared = getattr(self.store, "not_shared", None)
            if unshared is not None:
                unshared(d.known_key)
        self.put_head(name, d.known_key, d.parts, trace, sig, now=now, before=d.head)
        self.store.add_history(name, now, d.known_key)
        if spooled is None:  # a spooled one is read when needed
            self.keep(name, produced.data)
        return data_version

    def _file_refs(self, digest: str) -> tuple[str, ...]:
        """The code references of a large output stored straight from its worker's file, read
        through a memory map (its bytes are not copied into this process)."""
        path = self.store.blob_file(digest, min_size=0)
        if path is None:
            return self.code_refs(self.store.read_blob(digest))
        with open(path, "rb") as f:
            if f.read(1) != b"\x80":  # only a pickle (protocol 2+) can name code
                return ()
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return self.code_refs(view)  # type: ignore[arg-type]  # a map reads like bytes

    def put_head(self, name: str, key: str, parts: KeyParts, trace: Trace | Head, sig: StatSig | None,
                 now: int | None = None, *, before: Head | None) -> None:
        """Record ``key`` as the asset's latest build, replacing ``before``; ``trace`` is a Trace
        or the current Head. Files ``before`` wrote where the new head writes none are noted
        (assetbuild.moved): ``clean --orphans`` deletes them, a build warns of them."""
        if now is None:  # reused work: keep the time it was built
            now = trace.built_ns if isinstance(trace, Head) else trace.created_ns
        # a signature is taken just now (written or hashed): the store's commit keeps it only if
        # it is not racy, judged on its file's device (not known: none is kept)
        device = self.files.device_of(parts.path) if sig is not None and parts.path else None
        if device is None:
            sig = None
        head = Head(
            key, trace.data_version, trace.output_digest, parts.code, parts.code_parts,
            parts.inputs, parts.io, parts.path, sig, now, trace.size, trace.duration_s, parts.sources, parts.env,
            params=parts.params, resources=parts.resources, fan_in=parts.fan_in, producer=parts.producer,
            code_values=self.code_values(name, parts),
            source_at=trace.source_at if isinstance(trace, Head) else self.source_at(name, parts),
            partition=parts.partition, out_index=parts.out_index, binding=parts.binding)
        self.moved.replacing(name, before, head)
        self.store.put_head(name, head, device=device)

    def source_at(self, name: str, parts: KeyParts) -> tuple[tuple[str, str, int], ...]:
        """Where the asset's function and its helpers are: (code part, digest of its file's text,
        its first line); each text kept once per digest (``why`` diffs a changed function against
        it). Each file is read once per build."""
        fn = getattr(self.nodes.get(name), "fn", None)
        if fn is None or not parts.code_parts:
            return ()
        out = []
        for label in ("code", *(k for k in parts.code_parts if k.startswith("helper:"))):
            code = getattr(function_of(fn, label), "__code__", None)
            if code is None:
                continue
            digest = self._text_of(code.co_filename)
            if digest:
                out.append((label, digest, code.co_firstlineno))
        return tuple(out)

    def _text_of(self, path: str) -> str:
        """The digest of a source file's text, kept in the store ("" if it cannot be read)."""
        digest = self._texts.get(path)
        if digest is None:
            try:
                with open(path, "rb") as f:
                    text = f.read()
            except OSError:
                text = b""
            digest = self._texts[path] = hashlib.sha256(text).hexdigest() if text else ""
            if text:
                self.store.put_text(digest, text)
        return digest

    def code_values(self, name: str, parts: KeyParts) -> tuple[tuple[str, str], ...]:
        """The short values behind the asset's global:/closure: parts (``why`` shows them)."""
        adef = self.nodes.get(name)
        if adef is None or not parts.code_parts:
            return ()
        # only these parts have values to show, and most functions have none: looking at every
        # part (code, names, object:...) cost 2-4 us an asset, 0.4-0.7 us now
        labels = [k for k in parts.code_parts if k.startswith(("global:", "closure:"))]
        return shown_values(getattr(adef, "fn", None), labels) if labels else ()


def _metadata_json(metadata: dict[str, Any]) -> str:
    return encode_metadata(metadata)


def _usable_manifest(data: bytes, digest: str, outputs_part: str | None) -> Manifest:
    """The list of files ``data`` holds, if a build could have written it (and, given
    ``outputs_part``, for the outputs a key covers); else ``CacheCorrupt``."""
    try:
        manifest = decode_manifest(data)
        if outputs_part is not None and outputs_key_part(manifest.outputs) != outputs_part:
            raise ValueError("it lists other outputs than the asset declares")
    except ValueError as e:
        raise CacheCorrupt(digest, f"an unusable list of files ({e})") from None
    return manifest

