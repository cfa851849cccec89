"""Test helpers shared by the suite: real projects on disk and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import assetbuild

REPO = Path(__file__).resolve().parent.parent


class Project:
    """A project directory with helpers to write files and build it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str, *, dedent: bool = True) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text) if dedent else text)
        return p

    def assetfile(self, text: str) -> Path:
        return self.write("AssetFile", "from assetbuild import asset, source, Output\n" + textwrap.dedent(text),
                          dedent=False)

    def build(self, *assets: str, **kw):
        return assetbuild.build(assets, project_dir=self.root, **kw)

    def built(self, *assets: str, **kw) -> list[str]:
        r = self.build(*assets, **kw)
        assert r.ok, [(x.asset, x.status, x.error, x.traceback) for x in r.results if x.status != "cached"]
        return r.names("built")

    def status(self, *assets: str):
        return {s.asset: s for s in assetbuild.status(assets, project_dir=self.root)}

    def value(self, name: str):
        return assetbuild.load_value(name, project_dir=self.root)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: without the bytecode/unbuffered switches these machines set."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "ASSETBUILD_CACHE_DIR")}
    env.update(extra)
    return env


def cli(*args: str, cwd: Path | str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "assetbuild", *args], cwd=cwd, capture_output=True,
                          text=True, env=env or clean_env(), timeout=timeout)


def take_runs(runlog: Path) -> dict[str, int]:
    """How many times each asset appended an "x" to its file in ``runlog`` since the last call
    (the files are removed, so the next call counts afresh)."""
    out = {p.name: p.read_text().count("x") for p in runlog.iterdir()}
    for p in runlog.iterdir():
        p.unlink()
    return out
