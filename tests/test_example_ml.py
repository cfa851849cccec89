"""examples/ml, DVC's get-started pipeline as assets, built by the real command.

The project is copied to ``tmp_path`` and its data generated there. It is built twice (the second
build runs nothing), then each row of its README's "Things to edit" table is applied in order and
checked: exactly the assets the row names run again, and exactly those it names are restored.
The table is read from the README, so the test and the documentation cannot drift apart; every row
needs an edit below, and every edit below needs a row.

It needs the example's own libraries (``pip install -r examples/ml/requirements.txt``, which
``.ci/run`` does), and is skipped, saying so, where they are missing.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from projects import clean_env, cli, cli_cmd, things_to_edit

import assetbuild

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ml"
MISSING = [m for m in ("sklearn", "matplotlib", "yaml") if importlib.util.find_spec(m) is None]

needs_the_libraries = pytest.mark.skipif(
    bool(MISSING), reason=f"examples/ml needs {', '.join(MISSING)}: "
                          "pip install -r examples/ml/requirements.txt")
# evaluate is declared @asset(outputs=["eval/"]): a tree without that cannot load the example.
needs_outputs = pytest.mark.skipif(
    "outputs" not in inspect.signature(assetbuild.asset).parameters,
    reason="examples/ml's evaluate needs @asset(outputs=...), which this tree does not have yet")

ALL = {"params/prepare", "params/featurize", "params/train", "prepare", "featurize", "train",
       "evaluate"}


# --- helpers -------------------------------------------------------------------------------------

def copy_example(dest: Path) -> Path:
    """A copy of examples/ml without what a run there left (cache, data, outputs, bytecode)."""
    project = dest / "ml"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
        ".assetbuild", "data", "eval", "__pycache__", "*.pyc"))
    return project


def generate(project: Path, *args: str) -> None:
    subprocess.run([sys.executable, "generate_data.py", *args], cwd=project, check=True,
                   capture_output=True, env=clean_env(), timeout=60)


def build(project: Path) -> tuple[dict[str, str], str]:
    """The real command with ``--json``: each asset's status, and what it printed on stderr."""
    r = cli("--json", cwd=project, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)  # stdout is the document and nothing else
    assert doc["ok"], r.stdout + r.stderr
    return {x["asset"]: x["status"] for x in doc["results"]}, r.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def table_rows(readme: Path) -> list[tuple[str, set[str], set[str]]]:
    """(edit, runs again, restored) of each row of "Things to edit"."""
    return [(edit, runs, back) for edit, _cells, (runs, back) in things_to_edit(readme, ALL)]


# The README's edits, each found by a phrase of its "Edit" cell.
EDITS: dict[str, Callable[[Path], None]] = {
    "set `n_est: 50` to `n_est: 60`":
        lambda p: edit(p / "params.yaml", "n_est: 50 ", "n_est: 60 "),
    "back to `n_est: 50`":
        lambda p: edit(p / "params.yaml", "n_est: 60 ", "n_est: 50 "),
    'change `criterion="gini"`':
        lambda p: edit(p / "src" / "train.py", 'criterion="gini"', 'criterion="entropy"'),
    "comment line to `src/featurize.py`":
        lambda p: (p / "src" / "featurize.py").write_text(
            (p / "src" / "featurize.py").read_text(encoding="utf-8") + "# counts, then weights\n",
            encoding="utf-8"),
    "comment line to `params.yaml`":
        lambda p: (p / "params.yaml").write_text(
            "# tuned by hand\n" + (p / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8"),
    "`python generate_data.py --seed 2`":
        lambda p: generate(p, "--seed", "2"),
    "Delete `eval/plots/importance.png`":
        lambda p: (p / "eval" / "plots" / "importance.png").unlink(),
}


# --- the test ------------------------------------------------------------------------------------

def test_the_readme_says_how_to_run_it_and_names_an_edit_for_each_row():
    assert "assetbuild -C examples/ml" in (EXAMPLE / "README.md").read_text(encoding="utf-8")
    rows = table_rows(EXAMPLE / "README.md")
    used = [[phrase for phrase in EDITS if phrase in row[0]] for row in rows]
    assert all(len(u) == 1 for u in used), list(zip([r[0] for r in rows], used))
    assert sorted(u[0] for u in used) == sorted(EDITS)


@pytest.mark.slow
@needs_the_libraries
@needs_outputs
def test_example_builds_twice_then_each_row_of_its_table(tmp_path):
    project = copy_example(tmp_path)
    generate(project)

    first, err = build(project)
    assert set(first) == ALL and set(first.values()) == {"built"}, first
    assert "warning" not in err, err  # every import in the stages is fingerprinted
    scores = json.loads((project / "eval" / "metrics.json").read_text())
    assert set(scores) == {"train", "test"} and 0.5 < scores["test"]["roc_auc"] <= 1.0, scores
    assert (project / "eval" / "plots" / "importance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    second, err = build(project)
    assert set(second.values()) == {"cached"}, second
    assert "warning" not in err, err
    # The stages import scikit-learn and matplotlib when they run: checking them imports neither.
    r = subprocess.run([sys.executable, "-X", "importtime", *cli_cmd("status")[1:]], cwd=project,
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    imported = {ln.rsplit("|", 1)[-1].strip().split(".")[0] for ln in r.stderr.splitlines()
                if ln.startswith("import time:")}
    assert "assetbuild" in imported and not imported & {"sklearn", "matplotlib"}, sorted(imported)

    for text, runs, written_back in table_rows(project / "README.md"):
        (apply,) = [fn for phrase, fn in EDITS.items() if phrase in text]
        apply(project)
        got, _ = build(project)
        ran = {a for a, s in got.items() if s == "built"}
        restored = {a for a, s in got.items() if s == "restored"}
        assert (ran, restored) == (runs, written_back), f"{text}: {got}"
        assert {a for a, s in got.items() if s == "cached"} == ALL - runs - written_back, got

    # After all the edits, the files equal those of a from-scratch build of the same tree.
    fresh = tmp_path / "fresh" / "ml"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".assetbuild", "eval"))
    assert set(build(fresh)[0].values()) == {"built"}
    assert files_under(fresh / "eval") == files_under(project / "eval")


def test_the_readme_shows_the_params_declaration_that_could_replace_the_params_assets():
    """It said "when assetbuild's parameters feature lands", long after ``@asset(params=...)``
    shipped; the declaration it now shows carries params.yaml's own ``train`` section."""
    import re

    yaml = pytest.importorskip("yaml")
    text = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert "feature lands" not in text
    shown = re.search(r"`@asset\(params=(\{[^`]*\})\)`", text)
    assert shown is not None, "the README shows no @asset(params=...) for train"
    assert json.loads(shown.group(1)) == yaml.safe_load((EXAMPLE / "params.yaml").read_text())["train"]
    assert "--param train.n_est=60" in text and "[tool.assetbuild.params.train]" in text
