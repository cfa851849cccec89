"""examples/partitions: weather files by the day, readings by the hour, summaries by the day and
reports by the month, each asset partitioned.

The project is copied to ``tmp_path`` and built by the real command with ``ASSETBUILD_NOW`` fixed
(so the time partitions are the same on every run): twice (the second build runs nothing), then
each row of its README's "Things to edit" table is applied in order and checked: exactly the
partitions the row names run again, and exactly those it names are restored. The table is
read from the README, so the test and the documentation cannot drift apart; every row needs an
edit below, and every edit below needs a row. The README's quoted command output is compared with
the real output at the point of the story where it was taken (digests aside: keys hold bytecode,
which differs between Python versions). Then the files equal those of a from-scratch build.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from projects import clean_env, cli

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "partitions"
NOW = "2024-02-03T00:00:00Z"  # the README's ASSETBUILD_NOW
DAYS = ["2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
FILES = [f"{d}.csv" for d in DAYS[:4]]  # 2024-02-02.csv waits in data/incoming/
HOURS = [f"{d}-{h:02d}:00" for d in DAYS for h in range(24)]
BACKFILL = "2024-01-29..2024-01-31"


# --- helpers -------------------------------------------------------------------------------------

def copy_example(dest: Path) -> Path:
    """A copy of examples/partitions without what a run there left (cache, outputs)."""
    project = dest / "partitions"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".assetbuild", "build", "__pycache__"))
    return project


def run(project: Path, *args: str):
    """The real command in the README's shell: ``ASSETBUILD_NOW`` fixed."""
    return cli(*args, cwd=project, env=clean_env(ASSETBUILD_NOW=NOW))


def build(project: Path, *args: str) -> dict[str, str]:
    """``assetbuild --json ARGS``: each node's status."""
    r = run(project, "--json", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return {x["asset"]: x["status"] for x in json.loads(r.stdout)["results"]}


def nodes(project: Path) -> set[str]:
    """Every partition node of the project now (``-n`` plans them all)."""
    return set(build(project, "-n"))


def names_in(cell: str, known: set[str]) -> set[str]:
    """The partitions a table cell names in backquotes; ``hourly[2024-02-02-*]`` stands for
    each partition its ``*`` matches (at least one must). "nothing" is the empty set."""
    found = re.findall(r"`([^`]+)`", cell)
    assert found or cell == "nothing", f"a cell names partitions in backquotes, or says 'nothing': {cell!r}"
    out: set[str] = set()
    for name in found:
        pattern = re.compile(re.escape(name).replace(r"\*", r"[^\]]*") + "$")
        hit = {n for n in known if pattern.match(n)}
        assert hit, f"{name!r} names no partition of the example"
        out |= hit
    return out


def table_rows(readme: Path) -> list[tuple[str, str, str]]:
    """(edit, runs again, restored) cells of each row of "Things to edit"."""
    section = readme.read_text(encoding="utf-8").split("## Things to edit", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("| Edit | Runs again | Restored from the cache | Why |"), lines[0]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


PROMPT = "$ assetbuild -C examples/partitions "


def quoted(readme: Path) -> dict[str, str]:
    """The README's quoted commands (``$ assetbuild -C examples/partitions ARGS``) -> the output
    shown under each."""
    out: dict[str, str] = {}
    for block in readme.read_text(encoding="utf-8").split("```")[1::2]:
        cmd = None
        for line in block.strip("\n").splitlines():
            if line.startswith(PROMPT):
                cmd = line[len(PROMPT):]
                out[cmd] = ""
            elif cmd is not None:
                out[cmd] += line + "\n"
    return out


def masked(text: str) -> str:
    """Output with its 12-digit digests hidden: keys hold bytecode, which differs between
    Python versions."""
    return re.sub(r"\b[0-9a-f]{12}\b", "<digest>", text)


def check_quotes(project: Path, quotes: dict[str, str], commands: list[str], checked: set[str]) -> None:
    """The real output of each README-quoted command in ``commands`` is what the README shows."""
    for cmd in commands:
        r = run(project, *cmd.split())
        shown = r.stdout + r.stderr
        assert masked(shown) == masked(quotes[cmd]), f"{cmd}:\n{shown}"
        assert r.returncode == (2 if "error:" in quotes[cmd] else 0), shown
        checked.add(cmd)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def move(project: Path, src: str, dst: str) -> None:
    (project / src).rename(project / dst)


WIND = ('            "precip_mm": round(sum(r["precip_mm"] for r in got), 1)}',
        '            "precip_mm": round(sum(r["precip_mm"] for r in got), 1),\n'
        '            "wind_max": max(r["wind_kmh"] for r in got)}')

# The README's edits, each found by a phrase of its "Edit" cell: (apply it, the command's args).
EDITS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "move `data/incoming/2024-02-02.csv` into `data/raw/`":
        (lambda p: move(p, "data/incoming/2024-02-02.csv", "data/raw/2024-02-02.csv"), ()),
    "Move it back to `data/incoming/`":
        (lambda p: move(p, "data/raw/2024-02-02.csv", "data/incoming/2024-02-02.csv"), ()),
    "Move it into `data/raw/` once more":
        (lambda p: move(p, "data/incoming/2024-02-02.csv", "data/raw/2024-02-02.csv"), ()),
    "set the temperature at `2024-01-30T14:00` from 7.1 to `9.9`":
        (lambda p: edit(p / "data" / "raw" / "2024-01-30.csv", "2024-01-30T14:00,7.1,", "2024-01-30T14:00,9.9,"),
         ()),
    f"backfill January's days only: `assetbuild -C examples/partitions daily --partitions {BACKFILL}`":
        (lambda p: edit(p / "AssetFile", *WIND), ("daily", "--partitions", BACKFILL)),
    "Then `assetbuild -C examples/partitions`":
        (lambda p: None, ()),
    "Edit a comment or a docstring":
        (lambda p: edit(p / "AssetFile", 'START = "2024-01-29"  # the logger\'s first day',
                        'START = "2024-01-29"  # the first day of the logger'), ()),
}

# Where in the story the README's quoted output was taken: after a row's edit, before its build
# ("before"), or after its build ("after").
QUOTES_BEFORE = {"set the temperature at `2024-01-30T14:00` from 7.1 to `9.9`": [
    "why hourly --partition 2024-01-30-14:00", "why monthly --partition 2024-01", "partitions list daily",
    "why daily --partition 2024-02-31"]}
QUOTES_AFTER = {f"backfill January's days only: `assetbuild -C examples/partitions daily --partitions {BACKFILL}`":
                ["status"]}


# --- the tests -----------------------------------------------------------------------------------

def test_the_readme_says_how_to_run_it_and_names_an_edit_for_each_row():
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert f"export ASSETBUILD_NOW={NOW}" in readme
    assert "assetbuild -C examples/partitions" in readme
    used = [[phrase for phrase in EDITS if phrase in row[0]] for row in table_rows(EXAMPLE / "README.md")]
    assert all(len(u) == 1 for u in used), used
    assert sorted(u[0] for u in used) == sorted(EDITS)
    assert sorted(quoted(EXAMPLE / "README.md")) == sorted(
        c for cmds in [*QUOTES_BEFORE.values(), *QUOTES_AFTER.values()] for c in cmds)
    assert sorted(p.name for p in (EXAMPLE / "data" / "raw").iterdir()) == FILES


def test_example_builds_twice_then_each_row_of_its_table(tmp_path):
    project = copy_example(tmp_path)
    readme = project / "README.md"
    quotes = quoted(readme)
    checked: set[str] = set()

    first = build(project)
    assert set(first.values()) == {"built"}, first
    assert set(first) == ({f"clean[{f}]" for f in FILES} | {f"hourly[{h}]" for h in HOURS}
                          | {f"daily[{d}]" for d in DAYS} | {"monthly[2024-01]"})
    assert sorted(p.name for p in (project / "build" / "clean").iterdir()) == [f"{f}.json" for f in FILES]
    report = (project / "build" / "reports" / "2024-01.md").read_text(encoding="utf-8")
    assert report.startswith("# January 2024\n") and "| 2024-01-31 | 23 |" in report  # 04:00 is a gap
    assert "2024-02" not in report
    r = run(project, "show", "daily", "--partition", "2024-02-02")
    assert r.returncode == 0 and "'hours': 0" in r.stdout, r.stdout + r.stderr  # its file is late

    second = build(project)
    assert set(second.values()) == {"cached"}, second

    for text, runs_cell, back_cell in table_rows(readme):
        (phrase,) = [p for p in EDITS if p in text]
        apply, args = EDITS[phrase]
        apply(project)
        check_quotes(project, quotes, QUOTES_BEFORE.get(phrase, []), checked)
        known = nodes(project)
        runs, written_back = names_in(runs_cell, known), names_in(back_cell, known)
        if args:  # -n first: it predicts exactly the partitions the backfill then runs
            r = run(project, "--json", "-n", *args)
            planned = {x["asset"]: x["would"] for x in json.loads(r.stdout)["results"] if x["would"]}
            assert planned == dict.fromkeys(runs, "run"), f"{text}: {planned}"
        got = build(project, *args)
        assert {a for a, s in got.items() if s == "built"} == runs, f"{text}: {got}"
        assert {a for a, s in got.items() if s == "restored"} == written_back, f"{text}: {got}"
        assert {a for a, s in got.items() if s == "cached"} == set(got) - runs - written_back, f"{text}: {got}"
        if not args:
            assert set(got) == known, f"{text}: a build without a selection plans every partition"
        check_quotes(project, quotes, QUOTES_AFTER.get(phrase, []), checked)
        if phrase.startswith("Move it back"):  # the gone file's partition and its output go
            assert not (project / "build" / "clean" / "2024-02-02.csv.json").exists()
            r = run(project, "partitions", "list", "clean")
            assert r.stdout.split() == FILES, r.stdout + r.stderr
    assert checked == set(quotes)

    # After all the edits, the files equal those of a from-scratch build of the same tree.
    fresh = tmp_path / "fresh" / "partitions"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".assetbuild", "build"))
    assert set(build(fresh).values()) == {"built"}

    def outputs(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "build").rglob("*"))
                if p.is_file()}

    assert outputs(fresh) == outputs(project)
    assert len(outputs(project)) == 6  # five clean files and January's report
