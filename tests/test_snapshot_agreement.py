"""The null build's snapshot and the full path agree on every asset's decision, over random
projects and random edits (issue 16).

Each example writes one random project twice: the snapshot copy builds as a user's does (the
snapshot answers when it can), the full copy with ``ASSETBUILD_SNAPSHOT=0`` (the full path
always). Both get the same edits, each followed by a build of both by the real command in a
user's environment (bytecode written: a stale ``.pyc`` is a real trap). After every build they
must agree: exit status, each asset's status, key and data version, and the path outputs'
bytes. Each successful build records the next snapshot, so every edit meets a standing one:
it must refuse it, answer rightly (a null build), or decide rightly which assets the changed
data files reach (an incremental build). The snapshot copy says on stderr whether the snapshot
answered; the run fails if it never answered, or never left a build incremental, or never ran
under ``ASSETBUILD_CHECK_SNAPSHOT`` when it answered: agreement would then prove nothing of it.

The disagreements it found are the tests at the end, each in its smallest form (all fixed
in the snapshot since). One difference is accepted: how a build that
stops at a failure reports the assets it did not run (``_undecided_as_cached``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projects import clean_env, cli, cli_cmd, end_group, start_cli, tree_bytes

NOW = "2026-03-01T09:00:00Z"
# CI runs a few fixed examples; a longer hunt: AB_AGREEMENT_EXAMPLES=200 (random examples)
EXAMPLES = int(os.environ.get("AB_AGREEMENT_EXAMPLES", "0"))


# --- the project -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """A random project: ``sources`` input files, and assets each with its dependencies (earlier
    assets or sources), a constant in its body, and maybe a path output or the declared variable."""

    sources: tuple[int, ...]  # each input file's first value
    deps: tuple[tuple[str, ...], ...]  # per asset: names of sources (sN) and earlier assets (aN)
    paths: tuple[bool, ...]  # per asset: a text asset with a path output
    env_asset: int  # the asset that declares env=["AB_SCALE"]
    fakelib: bool  # lib/helpers.py imports an installed library (fakelib, on PYTHONPATH)
    lazy_asset: int  # the asset that imports lib.extra inside its function, not at load time
    big_asset: int | None  # the asset whose output is a file in the cache (larger than INLINE_MAX)
    mtime_source: int | None = None  # the source versioned by size and mtime, not by its bytes
    parted_source: int | None = None  # the source a statically partitioned asset reads (no reader of its own)
    deps_only: int | None = None  # the asset that also declares deps=["s0"] (in its key, not passed)
    elsewhere: str | None = None  # built from the directory above, with -C and its "absolute" or "relative" path
    module_import: bool = False  # ``import lib.helpers as h`` and ``h.mix(...)``, not ``from ... import mix``
    bound: int | None = None  # the asset whose first input is bound through ins= to a parameter named x


def _asset(spec: Spec, j: int, const: int) -> str:
    deps = spec.deps[j]
    params = ["x", *deps[1:]] if j == spec.bound else list(deps)
    args = ", ".join(params)
    values = ", ".join(f"int({p}.read_text().split()[0])" if d.startswith("s") else f"int(str({p}).split()[0])"
                       for p, d in zip(params, deps))
    env = ', env=["AB_SCALE"]' if j == spec.env_asset else ""
    if j == spec.bound:
        env += f', ins={{"x": "{deps[0]}"}}'
    if j == spec.deps_only and "s0" not in deps:
        env += ', deps=["s0"]'
    value = f"{'h.' if spec.module_import else ''}mix({values}) + {const}"
    if j == spec.env_asset:
        value = f'({value}) * int(os.environ.get("AB_SCALE", "1"))'
    lazy = "    from lib.extra import shift\n\n" if j == spec.lazy_asset else ""
    if j == spec.lazy_asset:
        value = f"shift({value})"
    pad = ' + " " + "x" * 70000' if j == spec.big_asset else ""  # str(value) first: dependents read it
    if spec.paths[j] or pad:
        path = f', path="out/a{j}.txt"' if spec.paths[j] else ""
        return (f'@asset(io="text"{path}{env})\ndef a{j}({args}):\n{lazy}'
                f'    return str({value}){pad} + "\\n"\n')
    return f'@asset(io="json"{env})\ndef a{j}({args}):\n{lazy}    return {value}\n'


def assetfile(spec: Spec, consts: dict[int, int]) -> str:
    parts = ['"""A random project (tests/test_snapshot_agreement.py)."""\n\nimport os\n\n'
             "from assetbuild import StaticPartitions, asset, source\n\n"
             + ("import lib.helpers as h\n\n" if spec.module_import else "from lib.helpers import mix\n\n")]
    for i in range(len(spec.sources)):
        version = ', version="mtime"' if i == spec.mtime_source else ""
        parts.append(f's{i} = source("s{i}", "data/in{i}.txt"{version})\n')
    parts += ["\n\n" + _asset(spec, j, consts.get(j, 0)) for j in range(len(spec.deps))]
    if spec.parted_source is not None:
        src = f"s{spec.parted_source}"
        parts.append(f'\n\n@asset(partitions=StaticPartitions(["p", "q"]), io="text", path="out/p_{{partition}}.txt")\n'
                     f"def parted(context, {src}):\n"
                     f"    return str({'h.' if spec.module_import else ''}mix(int({src}.read_text().split()[0]), "
                     "len(context.partition_key) + 1)) + \"\\n\"\n")
    return "".join(parts)


def helpers(spec: Spec, factor: int) -> str:
    lib = "import fakelib\n\n" if spec.fakelib else ""
    base = " + fakelib.BASE" if spec.fakelib else ""
    return (f'"""The project\'s helper."""\n\n{lib}FACTOR = {factor}\n\n\n'
            f"def mix(*xs):\n    return (sum(xs) * FACTOR{base}) % 1000003\n")


def extra(offset: int) -> str:
    return f'"""Imported inside an asset\'s function only."""\n\n\ndef shift(x):\n    return x + {offset}\n'


def install_fakelib(site: Path, version: str) -> None:
    """fakelib as pip leaves it: its package and a dist-info naming it at ``version``."""
    for old in site.glob("fakelib-*.dist-info"):
        shutil.rmtree(old)
    (site / "fakelib").mkdir(parents=True, exist_ok=True)
    (site / "fakelib" / "__init__.py").write_text("BASE = 5\n")
    info = site / f"fakelib-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fakelib\n")
    (info / "RECORD").write_text(f"fakelib/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/top_level.txt,,\n"
                                 f"{info.name}/RECORD,,\n")


@dataclass
class Copy:
    """One copy of the project: its directory, its site directory (PYTHONPATH), its variables."""

    root: Path
    site: Path
    snapshot_on: bool
    env: dict[str, str] = field(default_factory=dict)

    def write(self, rel: str, text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def start(self, check: bool, elsewhere: str | None = None, args: tuple[str, ...] = ("--json",)) -> subprocess.Popen[str]:
        # (explicitly: the tests' conftest turns the check on for every command)
        env = clean_env(ASSETBUILD_SNAPSHOT="explain" if self.snapshot_on else "0",
                        ASSETBUILD_CHECK_SNAPSHOT="1" if check else "0", **self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.site), os.environ.get("PYTHONPATH")) if p)
        if elsewhere:  # (the project directory is then not on sys.path as the command starts)
            args = ("-C", str(self.root) if elsewhere == "absolute" else self.root.name, *args)
        return subprocess.Popen(cli_cmd(*args), cwd=self.root.parent if elsewhere else self.root, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class Twins:
    """The two copies of one project and the edits' state, which is the same for both."""

    spec: Spec
    snap: Copy
    full: Copy
    consts: dict[int, int] = field(default_factory=dict)
    factor: int = 3
    offset: int = 0  # lib/extra.py's
    version: int = 0  # fakelib 1.<version>
    answered: int = 0  # builds the snapshot answered (a null build), unchecked and checked
    checked: int = 0
    incremental: int = 0  # builds in which only data files changed (the rest cached as recorded)
    sliced: int = 0  # ... which loaded only part of the project (slicegraph.slice_of)
    code_sliced: int = 0  # ... of them after an asset's code changed
    queries_answered: int = 0  # dry runs (-n) and status the snapshot answered
    log: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, base: Path, spec: Spec) -> Twins:
        twins = cls(spec, Copy(base / "snap" / "proj", base / "snap" / "site", True),
                    Copy(base / "full" / "proj", base / "full" / "site", False))
        for c in twins.copies:
            c.write("AssetFile", assetfile(spec, twins.consts))
            c.write("lib/__init__.py", "")
            c.write("lib/helpers.py", helpers(spec, twins.factor))
            c.write("lib/extra.py", extra(twins.offset))
            for i, v in enumerate(spec.sources):
                c.write(f"data/in{i}.txt", f"{v}\n")
            c.site.mkdir(parents=True)
            if spec.fakelib:
                install_fakelib(c.site, "1.0")
        twins._same_times()
        return twins

    @property
    def copies(self) -> tuple[Copy, Copy]:
        return self.snap, self.full

    def apply(self, edit: tuple) -> None:
        """Make one edit, the same in both copies; then move the shared state."""
        self.log.append(repr(edit))
        kind, *args = edit
        for c in self.copies:
            self._apply(c, kind, args)
        self._same_times()
        spec = self.spec
        if kind == "body":
            self.consts[args[0] % len(spec.deps)] = args[1]
        elif kind == "helper":
            self.factor = args[0]
        elif kind == "extra":
            self.offset = args[0]
        elif kind == "bump" and spec.fakelib:
            self.version += 1
        elif kind == "same-size":
            target, digit, _ = args
            if target == "assetfile":
                j = digit % len(spec.deps)
                self.consts[j] = self._same_digits(self.consts.get(j, 0), digit)
            elif target == "helpers":
                self.factor = digit % 9 + 1
            elif target == "extra":
                self.offset = self._same_digits(self.offset, digit)

    def _same_times(self) -> None:
        """The full copy's inputs get the snapshot copy's mtimes: an mtime-versioned source's
        data version, and so its readers' keys, are then the same in both."""
        for i in range(len(self.spec.sources)):
            snap, full = (c.root / "data" / f"in{i}.txt" for c in self.copies)
            if snap.exists() and full.exists():
                st = snap.stat()
                os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns))

    def _apply(self, c: Copy, kind: str, args: list) -> None:
        spec, root = self.spec, c.root
        if kind == "input":  # a value, one its readers fail on, or the file deleted
            rel = f"data/in{args[0] % len(spec.sources)}.txt"
            if args[1] is None:
                (root / rel).unlink(missing_ok=True)
            else:
                c.write(rel, f"{args[1]}\n")
        elif kind == "touch":
            p = root / self._file(args[0])
            if p.exists():
                os.utime(p)
        elif kind == "same-size":
            target, digit, atomic = args
            p = root / self._file(target)
            if not p.is_file():  # (missing, or a directory put in its place)
                return
            before = p.stat()
            text = self._same_size_text(target, digit, p.read_text())
            if atomic:  # an editor's save: a new file renamed over the old (a new inode)
                tmp = p.with_name(p.name + ".new")
                tmp.write_text(text)
                os.replace(tmp, p)
            else:
                p.write_text(text)
            os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert p.stat().st_size == before.st_size and p.stat().st_mtime_ns == before.st_mtime_ns
        elif kind == "resave":  # an editor's save of what is there: a new file renamed over it
            p = root / self._file(args[0])
            if p.is_file():
                tmp = p.with_name(p.name + ".new")
                tmp.write_bytes(p.read_bytes())
                os.replace(tmp, p)
        elif kind == "swap":  # an editor's swap file beside a code file, made or removed
            p = root / self._file(args[0])
            swap = p.with_name(f".{p.name}.swp")
            if swap.exists():
                swap.unlink()
            elif p.parent.is_dir():
                swap.write_bytes(b"b0VIM 9.0")
        elif kind == "body":
            c.write("AssetFile", assetfile(spec, {**self.consts, args[0] % len(spec.deps): args[1]}))
        elif kind == "helper":
            c.write("lib/helpers.py", helpers(spec, args[0]))
        elif kind == "extra":
            c.write("lib/extra.py", extra(args[0]))
        elif kind == "shadow":
            which, value = args
            if which == "library" and spec.fakelib:  # a project module named as the installed library
                c.write("fakelib.py", f'"""Shadows the installed fakelib."""\n\nBASE = {value}\n')
            elif which == "extra":  # a package beats a module of its name in the same directory
                c.write("lib/extra/__init__.py", extra(value + 100))
            else:
                c.write("lib/helpers/__init__.py", helpers(spec, value))
        elif kind == "env":
            name, value = args
            if value is None:
                c.env.pop(name, None)
            else:
                c.env[name] = value
        elif kind == "bump" and spec.fakelib:  # as pip upgrades: a new dist-info directory
            install_fakelib(c.site, f"1.{self.version + 1}")
        elif kind == "libsource" and spec.fakelib:  # a library's code, its version unchanged
            # (each edit a new size: a same-size edit in the second of a .pyc's source mtime would
            # run the stale .pyc, in one copy and not the other if only one imported in between)
            (c.site / "fakelib" / "__init__.py").write_text(f"BASE = {args[0]}\n" + "#" * len(self.log) + "\n")
        elif kind == "drop":
            p = root / "out" / f"a{args[0] % len(spec.deps)}.txt"
            if not p.is_dir():
                p.unlink(missing_ok=True)
        elif kind == "scribble":
            p = root / "out" / f"a{args[0] % len(spec.deps)}.txt"
            if p.is_file():
                p.write_text("scribbled\n")
        elif kind == "dropblob":
            for blob in (root / ".assetbuild" / "cas").glob("??/*"):
                blob.unlink()
        elif kind == "symlink":  # an input replaced by (or a link retargeted to) a new file
            i, value = args[0] % len(spec.sources), args[1]
            target = root / "data" / f"alt{i}_{len(self.log)}.txt"
            target.write_text(f"{value}\n")
            link = root / "data" / f"in{i}.txt"
            link.unlink(missing_ok=True)
            link.symlink_to(target.name)
        elif kind == "outdir":  # a directory where a path output goes: empty, or holding a file
            p = root / "out" / f"a{args[0] % len(spec.deps)}.txt"
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
                p.mkdir(parents=True)
                if args[1]:
                    (p / "mine.txt").write_text("kept\n")

    def _file(self, target: str) -> str:
        fixed = {"assetfile": "AssetFile", "helpers": "lib/helpers.py", "extra": "lib/extra.py"}
        if target in fixed:
            return fixed[target]
        if target == "outputp":
            return "out/p_p.txt"
        n = int(target[-1])
        if target.startswith("input"):
            return f"data/in{n % len(self.spec.sources)}.txt"
        return f"out/a{n}.txt"  # outputN

    @staticmethod
    def _same_digits(old: int, digit: int) -> int:
        return int(str(digit % 10) * len(str(old)))

    def _same_size_text(self, target: str, digit: int, old: str) -> str:
        if target == "assetfile":
            j = digit % len(self.spec.deps)
            consts = {**self.consts, j: self._same_digits(self.consts.get(j, 0), digit)}
            return assetfile(self.spec, consts)
        if target == "helpers":
            return helpers(self.spec, digit % 9 + 1)
        if target == "extra":
            return extra(self._same_digits(self.offset, digit))
        if target.startswith("input"):
            return str(digit) * len(old.strip()) + "\n"
        return old[:-2] + str(digit) + "\n" if len(old) >= 2 else old  # an output's last digit

    def build(self, check: bool = False) -> None:
        """Build both copies (at once: they share nothing) and require them to agree."""
        procs = [c.start(check and c.snapshot_on, self.spec.elsewhere) for c in self.copies]
        (snap_out, snap_err), (full_out, full_err) = (p.communicate(timeout=120) for p in procs)
        where = f"after {self.log}"
        assert procs[0].returncode == procs[1].returncode, f"{where}\n{snap_err}\n---\n{full_err}"
        snap_doc, full_doc = normalised(snap_out, self.snap), normalised(full_out, self.full)
        _undecided_as_cached(snap_doc, full_doc)
        assert snap_doc == full_doc, f"{where}\n{snap_err}"
        assert tree_bytes(self.snap.root) == tree_bytes(self.full.root), where
        line = next((ln for ln in snap_err.splitlines() if ln.startswith("snapshot:")), "")
        assert line, snap_err
        assert line.endswith("(checked against the full path)") == (check and line.startswith("snapshot: answers"))
        if line.startswith("snapshot: answers"):
            self.answered += 1
            self.checked += check
        elif (line.startswith("snapshot: not used: a source or path output changed") or _code_sliced(line)) and not (
                check or self.spec.parted_source is not None):
            self.incremental += 1  # (under the check, or with partitions, such a build decides every asset)
            self.sliced += "; the build loads " in line  # only the assets it decides, and those they read
            self.code_sliced += _code_sliced(line)  # ... a function's body, or its layout (codeedits)
        self.log.append(line)

    def queries(self) -> None:
        """``-n``, ``status`` and both of assets named in both copies (the snapshot's answer, when it holds, against
        the CLI's): the same lines and exit status; nothing written (the next build checks that)."""
        named = (f"a{len(self.spec.deps) - 1}", "a0", "-n")  # (a dry run of assets named: the snapshot answers it too)
        for args in (("-n",), ("status",), named, ("status", named[0])):
            procs = [c.start(False, self.spec.elsewhere, args) for c in self.copies]
            (snap_out, snap_err), (full_out, full_err) = (p.communicate(timeout=120) for p in procs)
            where = f"{args} after {self.log}"
            assert procs[0].returncode == procs[1].returncode, f"{where}\n{snap_err}\n---\n{full_err}"
            assert snap_out.replace(str(self.snap.root.parent), "<copy>") == \
                full_out.replace(str(self.full.root.parent), "<copy>"), f"{where}\n{snap_err}"
            self.queries_answered += "snapshot: answers" in snap_err


def _undecided_as_cached(snap: dict, full: dict) -> None:
    """The one difference accepted (test_a_build_that_stops_at_a_failure_agrees_but_for_what_it_did_not_run):
    when a build stops at a failure, the full path reports the assets it did not reach as not
    run (skipped), an incremental build those it did not have to decide as cached (they are up
    to date). Such results are dropped from both documents."""
    for doc in (snap, full):
        doc.setdefault("results", [])
    pairs = list(zip(snap["results"], full["results"]))
    if len(pairs) != len(full["results"]):
        return
    keep = [i for i, (a, b) in enumerate(pairs) if not (
        a.get("status") == "cached" and b.get("status") == "skipped"
        and str(b.get("error")).startswith("not run: the build stopped after"))]
    snap["results"] = [snap["results"][i] for i in keep]
    full["results"] = [full["results"][i] for i in keep]


def normalised(doc: str, copy: Copy) -> dict:
    """A --json document without its timings, and the copy's directories named alike (in errors)."""
    try:
        out = json.loads(doc.replace(str(copy.root.parent), "<copy>"))
    except ValueError:
        return {"not a document": doc}
    for r in out.get("results", ()):
        r.pop("duration_s", None)
    return out


# --- the random projects and edits -------------------------------------------------------------

@st.composite
def specs(draw: st.DrawFn) -> Spec:
    sources = tuple(draw(st.lists(st.integers(0, 99), min_size=1, max_size=3)))
    names = [f"s{i}" for i in range(len(sources))]
    n = draw(st.integers(3, 12))
    deps = []
    for j in range(n):
        pool = names + [f"a{k}" for k in range(j)]
        deps.append(tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))))
    paths = tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return Spec(sources, tuple(deps), paths, env_asset=draw(st.integers(0, n - 1)), fakelib=draw(st.booleans()),
                lazy_asset=draw(st.integers(0, n - 1)), big_asset=draw(st.none() | st.integers(0, n - 1)),
                mtime_source=draw(st.none() | st.integers(0, len(sources) - 1)),
                parted_source=draw(st.sampled_from([None, None, None, 0])),
                deps_only=draw(st.none() | st.integers(0, n - 1)), elsewhere=draw(st.sampled_from([None, None, "absolute", "relative"])),
                module_import=draw(st.booleans()), bound=draw(st.none() | st.integers(0, n - 1)))


FILES = st.sampled_from(["assetfile", "helpers", "extra", "input0", "input1", "input2", "output0", "output1",
                         "output2", "output3", "outputp"])
EDITS = st.one_of(
    st.tuples(st.just("input"), st.integers(0, 2), st.integers(0, 999) | st.integers(0, 999) | st.integers(0, 999)
              | st.sampled_from(["oops", None])),
    st.tuples(st.just("touch"), FILES),
    st.tuples(st.sampled_from(["resave", "swap"]), st.sampled_from(["assetfile", "helpers", "extra"])),
    st.tuples(st.just("same-size"), FILES, st.integers(0, 9), st.booleans()),
    st.tuples(st.just("body"), st.integers(0, 11), st.integers(0, 99)),
    st.tuples(st.just("helper"), st.integers(1, 9)),
    st.tuples(st.just("extra"), st.integers(0, 99)),
    st.tuples(st.just("shadow"), st.sampled_from(["library", "helpers", "extra"]), st.integers(1, 9)),
    st.tuples(st.just("env"), st.just("AB_SCALE"), st.sampled_from([None, "1", "2", "3"])),
    st.tuples(st.just("env"), st.just("ASSETBUILD_NOW"), st.sampled_from([None, NOW, "2026-03-02T09:00:00Z"])),
    st.tuples(st.just("bump")),
    st.tuples(st.just("libsource"), st.integers(0, 9)),
    st.tuples(st.just("drop"), st.integers(0, 11)),
    st.tuples(st.just("scribble"), st.integers(0, 11)),
    st.tuples(st.just("dropblob")),
    st.tuples(st.just("symlink"), st.integers(0, 2), st.integers(0, 999)),
    st.tuples(st.just("outdir"), st.integers(0, 11), st.booleans()),
    st.tuples(st.just("none")),
)
# a build after one or two edits (the second may undo the first), maybe under ASSETBUILD_CHECK_SNAPSHOT
STEPS = st.lists(st.tuples(st.lists(EDITS, min_size=1, max_size=2), st.booleans()), max_size=4)


@pytest.mark.slow
def test_the_snapshot_and_the_full_path_agree_on_every_decision() -> None:
    """Random edits, each followed by a build of both copies that must agree; two builds
    without an edit halfway, so that every example has the snapshot answer once (every
    other example under the check: the full path runs too, and compares), the second after a
    dry run (-n) and a status of both copies, which must agree too, as they must after the
    edits of every other example; then an edit of one asset's code (or of a module's
    function), against that standing snapshot."""
    totals = {"answered": 0, "checked": 0, "incremental": 0, "sliced": 0, "code_sliced": 0, "queries_answered": 0,
              "examples": 0}

    @settings(max_examples=EXAMPLES or 30, deadline=None, database=None, derandomize=not EXAMPLES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(spec=specs(), before=STEPS, after=STEPS.filter(bool), body=st.tuples(st.integers(0, 11), st.integers(0, 99)))
    def run(spec: Spec, before: list, after: list, body: tuple[int, int]) -> None:
        with tempfile.TemporaryDirectory(prefix="ab-agree-") as tmp:
            twins = Twins.make(Path(tmp), spec)
            twins.build()
            for edits, check in before:
                for edit in edits:
                    twins.apply(edit)
                twins.build(check)
            twins.apply(("none",))  # decides again the outputs the last build wrote (racy), records
            twins.build()
            twins.apply(("none",))
            twins.queries()  # (the snapshot answers them, as it does the build below, if that build is null)
            twins.build(check=totals["examples"] % 2 == 1)
            # an asset's code, or a module function's, against the snapshot that answered (``codeedits``)
            twins.apply(("body", *body) if body[1] % 3 else ("extra", body[1]))
            twins.build(check=totals["examples"] % 4 == 1)
            for edits, check in after:
                for edit in edits:
                    twins.apply(edit)
                if totals["examples"] % 2 == 0:  # -n and status after an edit: a slice's, or the full path's
                    twins.queries()
                twins.build(check)
            for k in ("answered", "checked", "incremental", "sliced", "code_sliced", "queries_answered"):
                totals[k] += getattr(twins, k)
            totals["examples"] += 1

    run()
    # else agreement proves nothing of the fast path, of incremental builds, or of the check
    assert totals["answered"] > totals["checked"] > 0 and totals["incremental"] >= totals["sliced"] > 0, totals
    assert totals["queries_answered"] > 0 and totals["code_sliced"] > 0, totals


def _code_sliced(line: str) -> bool:
    """Whether the snapshot's line says a code file changed inside one function only (``codeedits``)."""
    return line.startswith("snapshot: not used: ") and (
        " changed inside the definition of " in line or " changed, but none of its statements" in line)


# --- disagreements the property test found, each in its smallest form --------------------------

def _keys(root: Path, site: Path, mode: str, *, plugins: bool = False) -> dict[str, str]:
    """Each asset's key, as a build of ``root`` with ``site`` on PYTHONPATH reports it
    (``plugins``: the installed plugins loaded, as a user's build does)."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {**clean_env(ASSETBUILD_SNAPSHOT=mode, ASSETBUILD_CHECK_SNAPSHOT="0"), "PYTHONPATH": path}
    if plugins:
        env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    r = subprocess.run(cli_cmd("--json"), cwd=root, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return {e["asset"]: e["key"] for e in json.loads(r.stdout)["results"]}


def _recorded(root: Path, site: Path, files: dict[str, str], *, plugins: bool = False) -> dict[str, str]:
    """``files`` written under ``root`` (a project) or ``site/`` (PYTHONPATH), built, and the
    snapshot recorded by a null build (the one before recorded the outputs it wrote as racy):
    each asset's key then."""
    for rel, text in files.items():
        p = site / rel[5:] if rel.startswith("site/") else root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    _keys(root, site, "1", plugins=plugins)
    return _keys(root, site, "1", plugins=plugins)


@pytest.mark.parametrize("meta", ["fakelib.egg-info/PKG-INFO", "fakelib-1.0.dist-info/METADATA"])
def test_a_library_version_changed_in_its_metadata_in_place(tmp_path: Path, meta: str) -> None:
    """A development install's egg-info (setuptools rewrites its PKG-INFO in place when the
    version is bumped) or a dist-info whose METADATA is rewritten: no sys.path directory
    changes, the version in the key does. The snapshot must not answer with the old key."""
    root, site = tmp_path / "proj", tmp_path / "site"
    _recorded(root, site, {
        "AssetFile": 'from assetbuild import asset\n\nimport fakelib\n\n\n@asset(io="json")\n'
                     "def a0():\n    return fakelib.BASE\n",
        "site/fakelib/__init__.py": "BASE = 5\n",
        f"site/{meta}": "Metadata-Version: 2.1\nName: fakelib\nVersion: 1.0\n",
        f"site/{os.path.dirname(meta)}/top_level.txt": "fakelib\n"})
    (site / meta).write_text("Metadata-Version: 2.1\nName: fakelib\nVersion: 1.1\n")
    assert _keys(root, site, "1") == _keys(root, site, "0")  # the snapshot's answer is the full path's


def test_a_library_version_changed_in_place_that_the_kept_table_answered(tmp_path: Path) -> None:
    """The import name ``yamlish`` is not its distribution's (``yamldist``), whose egg-info
    folder name holds no version: the version comes from the table of distributions kept in
    the cache (``code/.distributions.json``). Its PKG-INFO rewritten in place (a version bump
    under ``setup.py develop``) changes no sys.path folder: the full path, too, must see it."""
    root, site = tmp_path / "proj", tmp_path / "site"
    before = _recorded(root, site, {
        "AssetFile": 'from assetbuild import asset\n\nimport yamlish\n\n\n@asset(io="json")\n'
                     "def a0():\n    return yamlish.BASE\n",
        "site/yamlish/__init__.py": "BASE = 5\n",
        "site/yamldist.egg-info/PKG-INFO": "Metadata-Version: 2.1\nName: yamldist\nVersion: 1.0\n",
        "site/yamldist.egg-info/top_level.txt": "yamlish\n"})
    assert (root / ".assetbuild" / "code" / ".distributions.json").is_file()
    (site / "yamldist.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: yamldist\nVersion: 2.0\n")
    after = _keys(root, site, "1")
    assert after == _keys(root, site, "0") != before  # the snapshot's answer is the full path's, the new key


UPPER = ('class Upper:\n    name = "upper"\n    version = "{v}"\n\n    def dump(self, value):\n'
         '        return str(value).upper().encode()\n\n    def load(self, data):\n        return data.decode()\n')


def _plugin(entry: str, modules: dict[str, str]) -> dict[str, str]:
    """``myplug`` installed as pip leaves a plugin (a dist-info whose ``entry_points.txt`` names
    ``entry``), its ``modules`` in the site folder, and a project whose asset uses its IO manager."""
    return {"AssetFile": 'from assetbuild import asset\n\n\n@asset(io="upper")\ndef word():\n    return "hello"\n',
            "site/myplug-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n",
            "site/myplug-0.1.dist-info/entry_points.txt": f"[assetbuild]\nmyplug = {entry}\n",
            **{f"site/{rel}": text for rel, text in modules.items()}}


HOOK = "import assetbuild\n{imports}\n\n@assetbuild.hookimpl\ndef register_io_managers():\n    return [{made}]\n"
PLUGINS = {  # (entry point, modules, the file changed, its text then)
    "an IO manager in a module the plugin imports": (
        "myplug", {"myplug/__init__.py": HOOK.format(imports="from .iomgr import Upper", made="Upper()"),
                   "myplug/iomgr.py": UPPER.format(v="1")},
        "myplug/iomgr.py", UPPER.format(v="1.1")),
    "an entry point changed in place (pip install -e . again)": (
        "myplug", {"myplug/__init__.py": HOOK.format(imports=UPPER.format(v="1"), made="Upper()"),
                   "myplug/alt.py": HOOK.format(imports="from myplug import Upper\n\nclass Upper2(Upper):\n"
                                                        '    version = "2"\n', made="Upper2()")},
        "myplug-0.1.dist-info/entry_points.txt", "[assetbuild]\nmyplug = myplug.alt\n"),
    "an entry point that names an object": (
        "myplug:PLUGIN", {"myplug.py": "import assetbuild\n\n" + UPPER.format(v="1") + "\n\nclass _Plugin:\n"
                          "    @assetbuild.hookimpl\n    def register_io_managers(self):\n        return [Upper()]\n\n\n"
                          "PLUGIN = _Plugin()\n"},
        "myplug.py", None),
}


@pytest.mark.parametrize("case", list(PLUGINS))
def test_a_plugins_io_manager_version_changed_in_a_file_the_snapshot_did_not_watch(tmp_path: Path, case: str) -> None:
    """A plugin whose IO manager's version is bumped where the snapshot watched nothing (it
    held only the file of the module an entry point names): in another module of the plugin,
    in the ``entry_points.txt`` that names another module, in the module of an object an entry
    point names. The full path sees the version change every key that uses the manager; the
    snapshot must not answer with the old ones."""
    root, site = tmp_path / "proj", tmp_path / "site"
    entry, modules, changed, text = PLUGINS[case]
    before = _recorded(root, site, _plugin(entry, modules), plugins=True)
    path = site / changed
    # (another size: Python would take a .pyc written in the same second as of the file as edited)
    path.write_text(text if text is not None else path.read_text().replace('version = "1"', 'version = "1.1"'))
    after = _keys(root, site, "1", plugins=True)
    assert after == _keys(root, site, "0", plugins=True) != before  # the snapshot's answer is the full path's


def test_a_plugin_edited_while_its_build_waited_for_the_lock(tmp_path: Path) -> None:
    """A build loads the installed plugins as its project opens, then waits for another build's
    lock: an IO manager's version bumped in the plugin meanwhile is not what this build's keys
    were made from, so its snapshot must not record the new file as the code it ran (the next
    null build would answer with the old keys, the full path with new ones)."""
    root, site = tmp_path / "proj", tmp_path / "site"
    entry, modules, changed, _ = PLUGINS["an IO manager in a module the plugin imports"]
    files = _plugin(entry, modules)
    files["AssetFile"] += ("\n\n@asset(io='json')\ndef slow():\n    import pathlib, time\n"
                           "    pathlib.Path('inside').touch()\n    while pathlib.Path('hold').exists():\n"
                           "        time.sleep(0.05)\n    return 1\n")
    before = _recorded(root, site, files, plugins=True)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {**clean_env(ASSETBUILD_CHECK_SNAPSHOT="0"), "PYTHONPATH": path}
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    (root / "hold").touch()
    (root / "inside").unlink(missing_ok=True)  # (the builds above ran slow too)
    holder = start_cli("--force", "slow", cwd=root, env=env)
    waiter = None
    try:
        deadline = time.monotonic() + 60
        while not (root / "inside").exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holding build did not start slow"
            time.sleep(0.02)
        waiter = start_cli("--force", "word", cwd=root, env=env, stderr=subprocess.PIPE, text=True)
        assert waiter.stderr is not None
        said = waiter.stderr.readline()  # the lock is taken after the plugins load
        assert "waiting for it to finish" in said, said
        (site / changed).write_text(UPPER.format(v="1.1"))
        (root / "hold").unlink()
        assert holder.wait(timeout=60) == 0 and waiter.wait(timeout=60) == 0
    finally:
        end_group(holder)
        if waiter is not None:
            end_group(waiter)
    after = _keys(root, site, "1", plugins=True)
    assert after == _keys(root, site, "0", plugins=True) != before  # the snapshot's answer is the full path's


EDITABLE_FINDER = (  # as setuptools' editable install writes it (``__editable___<dist>_finder.py``), cut short
    "import sys\nfrom importlib.util import spec_from_file_location\nfrom pathlib import Path\n\n"
    "MAPPING = {{'tinylib': {where!r}}}\n\n\nclass _EditableFinder:\n    @classmethod\n"
    "    def find_spec(cls, fullname, path=None, target=None):\n        if fullname in MAPPING:\n"
    "            return spec_from_file_location(fullname, Path(MAPPING[fullname]) / '__init__.py')\n"
    "        return None\n\n\ndef install():\n    if not any(f is _EditableFinder for f in sys.meta_path):\n"
    "        sys.meta_path.append(_EditableFinder)\n")


def test_an_editable_installs_finder_pointed_at_another_folder(tmp_path: Path) -> None:
    """``tinylib`` installed editable (``pip install -e``): a ``.pth`` in site-packages imports
    a finder whose ``MAPPING`` names the folder ``import tinylib`` loads from. That mapping
    edited in place (or the finder rewritten by ``pip install -e`` from another folder, under the
    same name) to a folder in the project changes no folder's time, and no file the snapshot
    read, but the full path then fingerprints tinylib as project code: the snapshot must not
    answer with the old keys."""
    root, site = tmp_path / "proj", tmp_path / "startup"
    packages = tmp_path / "venv" / "lib" / "site-packages"  # (``site`` reads .pth files in such a folder)
    finder = packages / "__editable___tinylib_0_1_finder.py"
    lib = 'def value():\n    return {}\n'
    before = _recorded(root, site, {
        "AssetFile": 'from assetbuild import asset\n\nimport tinylib\n\n\n@asset(io="json")\n'
                     "def a0():\n    return tinylib.value()\n",
        "libs/tinylib/tinylib/__init__.py": lib.format(7),
        "site/sitecustomize.py": f"import site\n\nsite.addsitedir({str(packages)!r})\n",
        "../elsewhere/tinylib/__init__.py": lib.format(5),
        "../venv/lib/site-packages/__editable__.tinylib-0.1.pth":
            "import __editable___tinylib_0_1_finder; __editable___tinylib_0_1_finder.install()\n",
        "../venv/lib/site-packages/tinylib-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinylib\nVersion: 0.1\n",
        "../venv/lib/site-packages/tinylib-0.1.dist-info/top_level.txt": "tinylib\n",
        "../venv/lib/site-packages/__editable___tinylib_0_1_finder.py":
            EDITABLE_FINDER.format(where=str(tmp_path / "elsewhere" / "tinylib"))})
    text = finder.read_text()
    finder.write_text(text.replace(str(tmp_path / "elsewhere" / "tinylib"), str(root / "libs" / "tinylib" / "tinylib")))
    after = _keys(root, site, "1")
    assert after == _keys(root, site, "0") != before  # the snapshot's answer is the full path's, the new key


@pytest.mark.parametrize("edit", ["edited", "added", "removed"])
def test_an_editable_librarys_source_edited(tmp_path: Path, edit: str) -> None:
    """``sharedlib`` installed editable from a folder outside the project (PEP 610's
    ``direct_url.json``; a ``.pth`` names its folder): its source enters keys beside its version.
    A module of it edited, one added, or one removed changes no version, no ``.pth`` and no file
    of the project: the snapshot must not answer with the old keys."""
    root, site = tmp_path / "proj", tmp_path / "startup"
    packages = tmp_path / "venv" / "lib" / "site-packages"
    info = "../venv/lib/site-packages/sharedlib-0.1.dist-info"
    before = _recorded(root, site, {
        "AssetFile": 'from assetbuild import asset\n\nimport sharedlib\n\n\n@asset(io="json")\n'
                     "def a0():\n    return sharedlib.value()\n",
        "site/sitecustomize.py": f"import site\n\nsite.addsitedir({str(packages)!r})\n",
        "../shared/sharedlib/__init__.py": "from .core import value\n",
        "../shared/sharedlib/core.py": "def value():\n    return 5\n",
        "../shared/sharedlib/old.py": "",
        "../venv/lib/site-packages/_sharedlib.pth": f"{tmp_path / 'shared'}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: sharedlib\nVersion: 0.1\n",
        f"{info}/top_level.txt": "sharedlib\n",
        f"{info}/direct_url.json": '{"dir_info": {"editable": true}, "url": "file:///elsewhere/shared"}'})
    lib = tmp_path / "shared" / "sharedlib"
    if edit == "edited":
        (lib / "core.py").write_text("def value():\n    return 6\n")
    elif edit == "added":
        (lib / "new.py").write_text("")
    else:
        (lib / "old.py").unlink()
    after = _keys(root, site, "1")
    assert after == _keys(root, site, "0") != before  # the snapshot's answer is the full path's, the new key


def test_a_namespace_package_portion_that_becomes_a_regular_package(tmp_path: Path) -> None:
    """The project's ``nsp`` has no ``__init__.py`` (a namespace package), and a directory of
    that name exists further down sys.path. An ``__init__.py`` written there makes it a regular
    package, which wins the import: ``nsp.helpers`` is now that one. Only ``site/nsp``'s time
    changes: the snapshot must watch it."""
    root, site = tmp_path / "proj", tmp_path / "site"
    _recorded(root, site, {
        "AssetFile": 'from assetbuild import asset\n\nfrom nsp.helpers import mix\n\n\n@asset(io="json")\n'
                     "def a0():\n    return mix(1)\n",
        "nsp/helpers.py": "def mix(x):\n    return x + 1\n",
        "site/nsp/other.py": "X = 1\n"})
    (site / "nsp" / "__init__.py").write_text("")
    (site / "nsp" / "helpers.py").write_text("def mix(x):\n    return x + 2\n")
    assert _keys(root, site, "1") == _keys(root, site, "0")  # the snapshot's answer is the full path's


def test_an_upstream_rebuilt_in_an_incremental_build_is_reported_built() -> None:
    """``a0``'s value is a file in the cache, and ``a1`` reads it and a source. The file is
    damaged (same size), then the source edited: the incremental build decides ``a1``, finds
    ``a0``'s stored value corrupt and builds ``a0`` again, as the full path does. Both must
    then say ``a0`` was built."""
    spec = Spec(sources=(3, 4), deps=(("s0",), ("a0", "s1")), paths=(False, False), env_asset=1,
                fakelib=False, lazy_asset=1, big_asset=0)
    with tempfile.TemporaryDirectory(prefix="ab-agree-") as tmp:
        twins = Twins.make(Path(tmp), spec)
        twins.build()  # records a snapshot (its sources were written before the build)
        for c in twins.copies:
            (blob,) = (c.root / ".assetbuild" / "cas").glob("??/*")
            data = bytearray(blob.read_bytes())
            data[0] ^= 1  # a digit still: the size is the same
            blob.chmod(0o644)
            blob.write_bytes(bytes(data))
        twins.apply(("input", 1, 77))
        twins.build()


def test_a_file_two_sources_declare_changes_the_readers_of_both(tmp_path: Path) -> None:
    """``first`` and ``second`` are the same file. After it changes, an incremental build must
    decide the readers of both, as the full path does; else ``a0`` keeps its old key and value,
    and every snapshot after answers with them."""
    root = tmp_path / "proj"
    _recorded(root, tmp_path / "site", {
        "AssetFile": 'from assetbuild import asset, source\n\nfirst = source("first", "data/raw.txt")\n'
                     'second = source("second", "data/raw.txt")\n\n\n'
                     '@asset(io="json")\ndef a0(first):\n    return first.read_text().upper()\n\n\n'
                     '@asset(io="json")\ndef a1(second):\n    return second.read_text()\n',
        "data/raw.txt": "abc\n"})
    (root / "data" / "raw.txt").write_text("xyz\n")
    assert _keys(root, tmp_path / "site", "1") == _keys(root, tmp_path / "site", "0")


@pytest.mark.parametrize("check", [False, True], ids=["incremental", "checked"])
def test_a_build_that_stops_at_a_failure_agrees_but_for_what_it_did_not_run(check: bool) -> None:
    """``a0`` and ``a1`` read ``s0``, ``a2`` reads ``s1``. ``s0``'s file is deleted: ``a0``
    fails and the build stops (no ``-k``). The full path says ``a1`` and ``a2`` were not run;
    an incremental build says ``a2`` is cached, which it is (the one accepted difference,
    ``_undecided_as_cached``); and under the check the build fails as the full path does."""
    spec = Spec(sources=(0, 0), deps=(("s0",), ("s0",), ("s1",)), paths=(False,) * 3, env_asset=0,
                fakelib=False, lazy_asset=0, big_asset=None)
    with tempfile.TemporaryDirectory(prefix="ab-agree-") as tmp:
        twins = Twins.make(Path(tmp), spec)
        twins.build()  # records a snapshot
        twins.apply(("input", 0, None))
        twins.build(check)
        assert twins.incremental == (not check)


@pytest.mark.parametrize("change", ["add", "remove"])
def test_a_dynamic_partition_added_or_removed(tmp_path: Path, change: str) -> None:
    """``assetbuild partitions add customers zeta`` (or ``remove customers acme``) after a null
    build: the next build builds (or drops) that partition. The snapshot must not answer with
    the keys it had."""
    root, site = tmp_path / "proj", tmp_path / "site"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.txt").write_text("abc\n")
    (root / "AssetFile").write_text(
        'from assetbuild import DynamicPartitions, asset, source\n\nraw = source("raw", "data/raw.txt")\n'
        'customers = DynamicPartitions("customers")\n\n\n'
        '@asset(partitions=customers, io="json")\ndef per_customer(context, raw):\n'
        "    return context.partition_key + raw.read_text()\n")
    assert cli("partitions", "add", "customers", "acme", cwd=root).returncode == 0
    _recorded(root, site, {})
    args = ("add", "customers", "zeta") if change == "add" else ("remove", "customers", "acme")
    assert cli("partitions", *args, cwd=root).returncode == 0
    assert _keys(root, site, "1") == _keys(root, site, "0")  # the snapshot's answer is the full path's


def test_a_module_imported_inside_an_asset_after_an_incremental_build() -> None:
    """``a0`` imports ``lib.extra`` inside its function (the fingerprint reads it; loading the
    AssetFile does not). ``a1``'s path output is deleted: the incremental build restores it,
    decides nothing else, and records the next snapshot. Then ``lib/extra.py`` is edited: ``a0``'s
    key changes, and the snapshot must not answer."""
    spec = Spec(sources=(0,), deps=(("s0",), ("s0",)), paths=(False, True), env_asset=1,
                fakelib=False, lazy_asset=0, big_asset=None)
    with tempfile.TemporaryDirectory(prefix="ab-agree-") as tmp:
        twins = Twins.make(Path(tmp), spec)
        twins.build()
        twins.apply(("drop", 1))
        twins.build()
        assert twins.incremental == 1
        twins.apply(("extra", 1))
        twins.build()


def test_a_relative_directory_option_gets_the_fast_path(tmp_path: Path) -> None:
    """``assetbuild -C proj``, run twice from the directory above: the second build is a null
    build and records a snapshot, so the third is answered from it, as with an absolute -C."""
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.txt").write_text("abc\n")
    (root / "AssetFile").write_text('from assetbuild import asset, source\n\nraw = source("raw", "data/raw.txt")\n\n\n'
                                    '@asset(io="json")\ndef a0(raw):\n    return raw.read_text()\n')
    lines = []
    for _ in range(3):
        r = cli("-C", "proj", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain", ASSETBUILD_CHECK_SNAPSHOT="0"))
        assert r.returncode == 0, r.stderr
        lines.append(next(ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")))
    assert lines[-1] == "snapshot: answers", lines
