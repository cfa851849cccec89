"""``accept`` / ``assetbuild accept``: an asset's stored output becomes the result of its current
code and inputs without running; refusals; the ``accepted`` event. Real builds, real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import Project, answer_in_pty, clean_env, cli, run_counter, run_counts

import assetbuild
from assetbuild.errors import AcceptRefused


def assetfile(runs: Path, *, top: str = "3", body: str = "return sorted(raw)[:TOP]") -> str:
    return run_counter(runs) + f'''
TOP = {top}
raw_src = source("raw_src", "raw.txt")


@asset(io="json")
def raw(raw_src):
    _ran("raw")
    return [int(x) for x in open(raw_src).read().split()]


@asset(io="json", path="out/top.json")
def top(raw):
    _ran("top")
    {body}


@asset(io="json")
def report(top):
    _ran("report")
    return sum(top)
'''


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"  # type: ignore[attr-defined]
    p.assetfile(assetfile(p.runs))  # type: ignore[attr-defined]
    p.write("raw.txt", "5 3 9 1")
    p.built()
    return p


def test_accept_after_a_refactor_runs_nothing(proj: Project) -> None:
    runs = proj.runs  # type: ignore[attr-defined]
    proj.assetfile(assetfile(runs, body="out = sorted(raw)\n    return out[:TOP]"))  # same result
    assert proj.status()["top"].state == "stale"
    before = run_counts(runs)
    doc = assetbuild.accept("top", project_dir=proj.root)
    assert doc["accepted"] and doc["key"] != doc["old_key"]
    assert any(r["code"] == "code-changed" for r in doc["reasons"])
    assert {s.asset: s.state for s in assetbuild.status(project_dir=proj.root).__iter__()} == {
        "raw": "fresh", "top": "fresh", "report": "fresh"}
    assert proj.built() == [] and run_counts(runs) == before  # nothing ran, report kept its key
    events = assetbuild.asset_log("top", project_dir=proj.root)["events"]
    assert events[0]["kind"] == "accepted" and events[0]["key"] == doc["key"]
    again = assetbuild.accept("top", project_dir=proj.root)
    assert not again["accepted"] and again["fresh"]  # fresh: nothing written
    assert len(assetbuild.asset_log("top", project_dir=proj.root)["events"]) == len(events)


def test_dry_run_writes_nothing(proj: Project) -> None:
    proj.assetfile(assetfile(proj.runs, body="return list(sorted(raw)[:TOP])"))  # type: ignore[attr-defined]
    doc = assetbuild.accept("top", project_dir=proj.root, dry_run=True)
    assert not doc["accepted"] and not doc["fresh"]
    assert proj.status()["top"].state == "stale"


def test_refuses_when_an_input_is_not_up_to_date(proj: Project) -> None:
    proj.write("raw.txt", "5 3 9 1 0")
    with pytest.raises(AcceptRefused, match="its input 'raw' is stale"):
        assetbuild.accept("top", project_dir=proj.root)
    assert proj.status()["top"].state == "stale"
    # further up, the refusal names it as what it is (report reads top, which reads raw)
    with pytest.raises(AcceptRefused, match="the upstream asset 'raw' is stale"):
        assetbuild.accept("report", project_dir=proj.root)


def test_refuses_when_the_output_is_missing(proj: Project) -> None:
    proj.assetfile(assetfile(proj.runs, top="4"))  # type: ignore[attr-defined]
    (proj.root / "out" / "top.json").unlink()
    with pytest.raises(AcceptRefused, match="out/top.json is missing"):
        assetbuild.accept("top", project_dir=proj.root)
    (proj.root / "out" / "top.json").write_text("[1]")
    with pytest.raises(AcceptRefused, match="changed outside assetbuild"):
        assetbuild.accept("top", project_dir=proj.root)


def test_refuses_what_was_never_built(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile(assetfile(tmp_path / "runs"))
    p.write("raw.txt", "1")
    p.built("raw")
    with pytest.raises(AcceptRefused, match="never been built"):
        assetbuild.accept("top", project_dir=tmp_path)


def test_cli_asks_or_needs_yes_and_refusals_exit_1(proj: Project) -> None:
    env = clean_env()
    r = cli("accept", "top", cwd=proj.root, env=env)
    assert r.returncode == 0 and "top is fresh: nothing to accept" in r.stdout
    proj.assetfile(assetfile(proj.runs, body="res = sorted(raw)[:TOP]\n    return res"))  # type: ignore[attr-defined]
    r = cli("accept", "top", cwd=proj.root, env=env)  # no terminal, no --yes
    assert r.returncode == 2 and "without --yes" in r.stderr
    r = cli("accept", "top", "--yes", "--json", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accepted"] is True
    assert cli("status", "--check", cwd=proj.root, env=env).returncode == 0
    runs = cli("runs", cwd=proj.root, env=env).stdout.splitlines()
    assert "1 accepted" in runs[1] and "assetbuild accept top --yes --json" in runs[1]
    proj.write("raw.txt", "2 2")
    r = cli("accept", "report", "--yes", cwd=proj.root, env=env)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "the upstream asset 'raw' is stale" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_declined_question_says_nothing_was_accepted_with_status_1(proj: Project) -> None:
    """Answered "n" on a terminal, accept printed click's "Aborted!": now "nothing accepted"
    (--json: its document, accepted false), status 1, and top still stale."""
    proj.assetfile(assetfile(proj.runs, body="res = sorted(raw)[:TOP]\n    return res"))  # type: ignore[attr-defined]
    rc, out = answer_in_pty(["accept", "top"], proj.root, b"n\n")
    assert (rc, out.splitlines()[-1]) == (1, "nothing accepted") and "Aborted" not in out, out
    rc, out = answer_in_pty(["accept", "top", "--json"], proj.root, b"n\n")
    doc = json.loads(out.splitlines()[-1])
    assert rc == 1 and doc["asset"] == "top" and doc["accepted"] is False and not doc["fresh"]
    assert proj.status()["top"].state == "stale"


def test_accepting_a_whole_partitioned_asset_names_the_partition_option(tmp_path: Path) -> None:
    """`accept daily` once said "'daily' is not an asset"; it is one, with a value per partition."""
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import StaticPartitions

@asset(partitions=StaticPartitions(["eu", "us"]), io="json")
def regional(context):
    return context.partition_key
''')
    assert cli(cwd=tmp_path).returncode == 0
    r = cli("accept", "regional", "--yes", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'regional' is partitioned" in r.stderr and "--partition KEY" in r.stderr, r.stderr
    assert "not an asset" not in r.stderr
    r = cli("accept", "regional", "--partition", "eu", "--yes", cwd=tmp_path)
    assert r.returncode == 0 and "regional[eu] is fresh: nothing to accept" in r.stdout, (r.stdout, r.stderr)


def test_refuses_an_expired_asset_which_accept_cannot_make_fresh(tmp_path: Path) -> None:
    """It said "accepted", exit 0, and recorded an event, yet the asset stayed expired and the next
    build ran it: max_age measures the data's age, which no record changes."""
    p = Project(tmp_path)
    p.assetfile('@asset(io="json", max_age="1h")\ndef base():\n    return 10\n')
    assert cli(cwd=tmp_path, env=clean_env(ASSETBUILD_NOW="2024-01-01T00:00:00Z")).returncode == 0
    later = clean_env(ASSETBUILD_NOW="2024-01-01T03:00:00Z")
    for args in (("base", "--yes"), ("base", "--yes", "--json")):
        r = cli("accept", *args, cwd=tmp_path, env=later)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert "it is expired (built 3h ago; max_age 1h), which accept cannot change" in r.stderr
    assert "accepted" not in cli("log", "base", cwd=tmp_path, env=later).stdout
    assert cli("status", "base", cwd=tmp_path, env=later).stdout.startswith("stale")
    # expired among other reasons (the code changed too): refused the same way
    p.assetfile('@asset(io="json", max_age="1h")\ndef base():\n    x = 10\n    return x\n')
    r = cli("accept", "base", "--yes", cwd=tmp_path, env=later)
    assert r.returncode == 1 and "it is expired" in r.stderr


def test_refuses_an_asset_whose_current_key_failed(tmp_path: Path) -> None:
    """Accepting a `failed` asset said only "code-changed" and turned it fresh: the failure, the
    one thing known about what this code makes, went unsaid. Refused like a failed input."""
    p = Project(tmp_path)
    body = '@asset(io="json")\ndef base():\n    return 10\n\n\n@asset(io="json")\ndef mid(base):\n    {}\n'
    p.assetfile(body.format("return base + 1"))
    p.built()
    p.assetfile(body.format('raise RuntimeError("x")'))
    assert cli(cwd=tmp_path).returncode == 1
    assert p.status()["mid"].state == "failed"
    with pytest.raises(AcceptRefused, match=r"'mid': it failed under its current code and inputs "
                                            r"\(RuntimeError: x\)"):
        assetbuild.accept("mid", project_dir=tmp_path, dry_run=True)
    r = cli("accept", "mid", "--yes", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "RuntimeError: x" in r.stderr, r.stderr
    assert p.status()["mid"].state == "failed"
    # once the key moves on (another edit), the failure is no longer this key's: accept works
    p.assetfile(body.format("y = base + 1\n    return y"))
    assert assetbuild.accept("mid", project_dir=tmp_path)["accepted"]


MULTI = '''
from assetbuild import asset, multi_asset, Out
K = {k}


@multi_asset(outs={{"tr": Out(io="json"), "te": Out(io="json")}})
def sp():
    return {{"tr": [{tr}], "te": [K, 0]}}


@asset(io="json")
def rd(tr):
    return sum(tr)
'''


@pytest.mark.parametrize("args", [("build", "te"), (), ("-j", "2")])
def test_a_sibling_run_that_disproves_an_accepted_out_records_what_it_returned(tmp_path: Path,
                                                                              args: tuple[str, ...]) -> None:
    """After `accept tr`, a build that runs the multi-asset (for its stale sibling `te`) got
    `tr=[2]` under exactly the key `tr` was accepted for, and dropped it without a word: `tr`
    and its reader stayed on the accepted value, which no key change would ever rerun."""
    p = Project(tmp_path)
    p.assetfile(MULTI.format(k=1, tr="K"))
    p.built()
    p.assetfile(MULTI.format(k=2, tr="K"))
    r = cli("accept", "tr", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "'tr' was accepted for key" in r.stderr and "'sp' returns other bytes" in r.stderr, r.stderr
    assert assetbuild.load_value("tr", project_dir=tmp_path) == [2]
    assert assetbuild.asset_log("tr", project_dir=tmp_path)["events"][0]["kind"] == "materialized"
    assert cli(cwd=tmp_path).returncode == 0  # rd, if it ran on the accepted value, runs again
    assert assetbuild.load_value("rd", project_dir=tmp_path) == 2
    assert {s.asset: s.state for s in assetbuild.status(project_dir=tmp_path)} == {
        "tr": "fresh", "te": "fresh", "rd": "fresh"}


def test_a_sibling_run_that_confirms_an_accepted_out_changes_nothing(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile(MULTI.format(k=1, tr="1"))
    p.built()
    p.assetfile(MULTI.format(k=2, tr="1"))  # tr's value is the same; te's is not
    assert assetbuild.accept("tr", project_dir=tmp_path)["accepted"]
    r = cli(cwd=tmp_path)
    assert r.returncode == 0 and "accepted" not in r.stderr, r.stderr
    assert assetbuild.asset_log("tr", project_dir=tmp_path)["events"][0]["kind"] == "accepted"
    assert p.built() == []
