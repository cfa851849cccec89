"""Under ``ASSETBUILD_CHECK_SNAPSHOT``, a command the entry point ran on a slice of the project
(only data changed: ``entry._slice``) is checked against the whole project's answer, asked of
a new process that takes the full path. A build must leave every asset it found cached, built
or restored as the whole project's dry run then finds it: cached, with the same key and
version. A dry run must predict what the whole project's predicts, and ``status`` must say what
the whole project's says.

The tests run every command under the check, so a slice that leaves a result stale, or decides
otherwise than the whole project, fails the test whose command it served (the full path's own
check, which decides every asset, cannot run on a slice). The process it starts writes nothing:
a dry run and ``status`` record nothing, and no bytecode is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_KEPT = ("cached", "built", "restored")  # what a build leaves as the next build finds it


def _whole_project(*args: str) -> str:
    """The command's output from the full path, in this directory (the project's)."""
    env = {**os.environ, "ASSETBUILD_SNAPSHOT": "0", "ASSETBUILD_CHECK_SNAPSHOT": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "assetbuild", *args], capture_output=True, text=True, env=env,
                          timeout=600)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"the slice's check could not ask the whole project (assetbuild {' '.join(args)}, "
                           f"exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def check_build(result: Any, *, dry_run: bool) -> None:
    """After a build (or dry run) of a slice: fail unless the whole project agrees."""
    from ..output import format_build_json

    whole = json.loads(_whole_project("-n", "--json"))
    if dry_run:
        mine = json.loads(format_build_json(result))
        if mine != whole:
            raise RuntimeError("the slice's dry run disagrees with the whole project's: "
                               f"{_first_difference(mine['results'], whole['results'])}")
        return
    found = {r["asset"]: r for r in whole["results"]}
    for r in result.results:
        if r.status not in _KEPT:
            continue
        now = found.get(r.asset)
        if now is None or now["status"] != "cached" or (now["key"], now["data_version"]) != (r.key, r.data_version):
            raise RuntimeError(f"the slice's build left {r.asset!r} {r.status} with key {r.key} and version "
                               f"{r.data_version}, and the whole project's dry run then finds it otherwise: {now}")


def check_status(text: str) -> None:
    """After ``status`` of a slice (its lines, without color): fail unless the whole project's
    says the same."""
    whole = _whole_project("status").rstrip("\n")
    if whole != text.rstrip("\n"):
        raise RuntimeError(f"the slice's status disagrees with the whole project's:\n{text}\n-- against --\n{whole}")


def _first_difference(mine: list[Any], whole: list[Any]) -> str:
    for a, b in zip(mine, whole):
        if a != b:
            return f"{a} against {b}"
    return f"{len(mine)} results against {len(whole)}"
