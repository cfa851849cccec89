"""The null build's snapshot and the full path agree on every asset's decision, over random
projects and random edits (issue 16).

Each example writes one random project twice: the snapshot copy builds as a user's does (the
snapshot answers when it can), the full copy with ``ASSETBUILD_SNAPSHOT=0`` (the full path
always). Both get the same edits, each followed by a build of both by the real command in a
user's environment (bytecode written: a stale ``.pyc`` is a real trap). After every build they
must agree: exit status, each asset's status, key and data version, and the path outputs'
bytes. The snapshot copy says on stderr whether the snapshot answered; the run fails if it
never did, since agreement then proves nothing about the fast path.
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
from projects import clean_env, cli_cmd, tree_bytes

from assetbuild import snapshot

RACY_S = snapshot.RACY_NS / 1e9 + 0.1
NOW = "2026-03-01T09:00:00Z"


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


def _asset(spec: Spec, j: int, const: int) -> str:
    deps = spec.deps[j]
    args = ", ".join(deps)
    values = ", ".join(f"int({d}.read_text())" if d.startswith("s") else f"int({d})" for d in deps)
    env = ', env=["AB_SCALE"]' if j == spec.env_asset else ""
    scale = ' * int(os.environ.get("AB_SCALE", "1"))' if j == spec.env_asset else ""
    if spec.paths[j]:
        return (f'@asset(io="text", path="out/a{j}.txt"{env})\ndef a{j}({args}):\n'
                f'    return str(mix({values}) + {const}{scale}) + "\\n"\n')
    return f'@asset(io="json"{env})\ndef a{j}({args}):\n    return mix({values}) + {const}{scale}\n'


def assetfile(spec: Spec, consts: dict[int, int]) -> str:
    parts = ['"""A random project (tests/test_snapshot_agreement.py)."""\n\nimport os\n\n'
             "from assetbuild import asset, source\n\nfrom lib.helpers import mix\n\n"]
    parts += [f's{i} = source("s{i}", "data/in{i}.txt")\n' for i in range(len(spec.sources))]
    parts += ["\n\n" + _asset(spec, j, consts.get(j, 0)) for j in range(len(spec.deps))]
    return "".join(parts)


def helpers(spec: Spec, factor: int) -> str:
    lib = "import fakelib\n\n" if spec.fakelib else ""
    base = " + fakelib.BASE" if spec.fakelib else ""
    return (f'"""The project\'s helper."""\n\n{lib}FACTOR = {factor}\n\n\n'
            f"def mix(*xs):\n    return (sum(xs) * FACTOR{base}) % 1000003\n")


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
    """One copy of the project, its variable environment, and what its builds said."""

    root: Path
    site: Path
    snapshot_on: bool
    env: dict[str, str] = field(default_factory=dict)

    def write(self, rel: str, text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def start(self, check: bool) -> subprocess.Popen[str]:
        extra = {"ASSETBUILD_SNAPSHOT": "explain" if self.snapshot_on else "0", **self.env}
        if check:
            extra["ASSETBUILD_CHECK_SNAPSHOT"] = "1"
        env = clean_env(**extra)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.site), os.environ.get("PYTHONPATH")) if p)
        return subprocess.Popen(cli_cmd("--json"), cwd=self.root, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class Twins:
    """The two copies of one project and the edits' state, which is the same for both."""

    spec: Spec
    snap: Copy
    full: Copy
    consts: dict[int, int] = field(default_factory=dict)
    factor: int = 3
    version: int = 0  # fakelib 1.<version>
    answered: int = 0  # builds the snapshot answered, unchecked and checked
    checked: int = 0
    log: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, base: Path, spec: Spec) -> Twins:
        twins = cls(spec, Copy(base / "snap" / "proj", base / "snap" / "site", True),
                    Copy(base / "full" / "proj", base / "full" / "site", False))
        for c in twins.copies:
            c.write("AssetFile", assetfile(spec, twins.consts))
            c.write("lib/__init__.py", "")
            c.write("lib/helpers.py", helpers(spec, twins.factor))
            for i, v in enumerate(spec.sources):
                c.write(f"data/in{i}.txt", f"{v}\n")
            c.site.mkdir(parents=True)
            if spec.fakelib:
                install_fakelib(c.site, "1.0")
        return twins

    @property
    def copies(self) -> tuple[Copy, Copy]:
        return self.snap, self.full

    def apply(self, edit: tuple) -> None:
        """Make one edit, the same in both copies."""
        self.log.append(repr(edit))
        kind, *args = edit
        spec = self.spec
        for c in self.copies:
            root = c.root
            if kind == "input":
                i, value = args
                c.write(f"data/in{i % len(spec.sources)}.txt", f"{value}\n")
            elif kind == "touch":
                os.utime(root / self._file(args[0]))
            elif kind == "same-size":
                target, digit = args
                p = root / self._file(target)
                before = p.stat()
                p.write_text(self._same_size_text(target, digit, p.read_text()))
                os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
                assert p.stat().st_size == before.st_size
            elif kind == "body":
                j, const = args
                self.consts[j % len(spec.deps)] = const
                c.write("AssetFile", assetfile(spec, self.consts))
            elif kind == "helper":
                self.factor = args[0]
                c.write("lib/helpers.py", helpers(spec, self.factor))
            elif kind == "shadow":
                if spec.fakelib and args[0] % 2:  # a project module named as the installed library
                    c.write("fakelib.py", f'"""Shadows the installed fakelib."""\n\nBASE = {args[0]}\n')
                else:  # a package beats a module of its name in the same directory
                    c.write("lib/helpers/__init__.py", helpers(spec, args[0] % 9 + 1))
            elif kind == "env":
                name, value = args
                if value is None:
                    c.env.pop(name, None)
                else:
                    c.env[name] = value
            elif kind == "bump" and spec.fakelib:
                install_fakelib(c.site, f"1.{self.version + 1}")
            elif kind == "drop":
                (root / "out" / f"a{args[0] % len(spec.deps)}.txt").unlink(missing_ok=True)
        # the shared state moves once, after both copies
        if kind == "same-size":
            target, digit = args
            if target == "assetfile":
                j = digit % len(spec.deps)
                self.consts[j] = self._same_digits(self.consts.get(j, 0), digit)
            elif target == "helpers":
                self.factor = digit % 9 + 1
        elif kind == "bump" and spec.fakelib:
            self.version += 1

    def _file(self, target: str) -> str:
        if target == "assetfile":
            return "AssetFile"
        if target == "helpers":
            return "lib/helpers.py"
        return f"data/in{int(target[5:]) % len(self.spec.sources)}.txt"  # inputN

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
        return str(digit % 10) * len(old.strip()) + "\n"

    def build(self, check: bool = False) -> None:
        """Build both copies (at once: they share nothing) and require them to agree."""
        procs = [c.start(check and c.snapshot_on) for c in self.copies]
        (snap_out, snap_err), (full_out, full_err) = (p.communicate(timeout=120) for p in procs)
        where = f"after {self.log}"
        assert procs[0].returncode == procs[1].returncode, f"{where}\n{snap_err}\n---\n{full_err}"
        assert procs[0].returncode == 0, f"{where}\n{snap_err}\n---\n{full_err}"
        assert normalised(snap_out) == normalised(full_out), f"{where}\n{snap_err}"
        assert tree_bytes(self.snap.root) == tree_bytes(self.full.root), where
        line = next((ln for ln in snap_err.splitlines() if ln.startswith("snapshot:")), "")
        assert line, snap_err
        if line.startswith("snapshot: answers"):
            self.answered += 1
            self.checked += check
        self.log.append(line)


def normalised(doc: str) -> dict:
    """A --json document without its timings."""
    out = json.loads(doc)
    for r in out["results"]:
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
    return Spec(sources, tuple(deps), paths, draw(st.integers(0, n - 1)), draw(st.booleans()))


FILES = st.sampled_from(["assetfile", "helpers", "input0", "input1", "input2"])
EDITS = st.one_of(
    st.tuples(st.just("input"), st.integers(0, 2), st.integers(0, 999)),
    st.tuples(st.just("touch"), FILES),
    st.tuples(st.just("same-size"), FILES, st.integers(0, 9)),
    st.tuples(st.just("body"), st.integers(0, 11), st.integers(0, 99)),
    st.tuples(st.just("helper"), st.integers(1, 9)),
    st.tuples(st.just("shadow"), st.integers(1, 9)),
    st.tuples(st.just("env"), st.just("AB_SCALE"), st.sampled_from([None, "1", "2", "3"])),
    st.tuples(st.just("env"), st.just("ASSETBUILD_NOW"), st.sampled_from([None, NOW, "2026-03-02T09:00:00Z"])),
    st.tuples(st.just("bump")),
    st.tuples(st.just("drop"), st.integers(0, 11)),
    st.tuples(st.just("none")),
)
STEPS = st.lists(st.tuples(EDITS, st.booleans()), max_size=3)  # (edit, build under ASSETBUILD_CHECK_SNAPSHOT)


@pytest.mark.slow
def test_the_snapshot_and_the_full_path_agree_on_every_decision() -> None:
    """Random edits before the snapshot is recorded, then after: each build must agree, and the
    edits made once a snapshot stands are the ones it must refuse (or answer rightly)."""
    totals = {"answered": 0, "checked": 0, "examples": 0}

    @settings(max_examples=5, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(spec=specs(), before=STEPS, after=STEPS.filter(bool))
    def run(spec: Spec, before: list, after: list) -> None:
        with tempfile.TemporaryDirectory(prefix="ab-agree-") as tmp:
            twins = Twins.make(Path(tmp), spec)
            twins.build()
            for edit, check in before:
                twins.apply(edit)
                twins.build(check)
            # a null build once nothing is racy records the snapshot; the next one is answered
            time.sleep(RACY_S)
            twins.apply(("none",))
            twins.build()
            twins.apply(("none",))
            twins.build()
            for edit, check in after:
                twins.apply(edit)
                twins.build(check)
            totals["answered"] += twins.answered
            totals["checked"] += twins.checked
            totals["examples"] += 1

    run()
    assert totals["answered"] >= totals["examples"] > 0, totals  # else agreement proves nothing of the fast path
