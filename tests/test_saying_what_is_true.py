"""What status, why and ``-n`` say must be true: they build nothing, so they never say an
upstream "did not build"; a dry run that meets a missing source says the build would fail, and
exits 1; a missing asset has one reason; a path output that holds assetbuild's own earlier output
is no user's edit; an asset whose latest value is not its current inputs' is not called fresh."""

from __future__ import annotations

from pathlib import Path

from projects import cli

CHAIN = '''from assetbuild import asset, source

events = source("events", "data/events.csv")

TOP_N = 3


@asset(io="json", group="ingest")
def parsed(events):
    return events.read_text().splitlines()


@asset(io="json", group="ingest")
def cleaned(parsed):
    return [r for r in parsed if r][:TOP_N]


@asset(io="json", group="metrics")
def counts(cleaned):
    return len(cleaned)


@asset(io="json", group="metrics")
def longest(cleaned):
    return max(cleaned, key=len)


@asset(io="json", group="report", path="build/report.json")
def report(counts, longest):
    return {"n": counts, "longest": longest}
'''


def project(root: Path, *, data: bool = True) -> Path:
    (root / "AssetFile").write_text(CHAIN)
    (root / "data").mkdir()
    if data:
        (root / "data" / "events.csv").write_text("a\nbb\nccc\ndddd\n")
    return root


def test_after_clean_a_missing_asset_has_one_reason(tmp_path):
    root = project(tmp_path)
    assert cli("-q", cwd=root).returncode == 0
    assert cli("clean", "-y", cwd=root).returncode == 0
    r = cli("status", cwd=root)
    assert r.stdout == (
        "missing parsed   never-built: no earlier build of this asset\n"
        "missing cleaned  never-built: no earlier build of this asset\n"
        "missing counts   never-built: no earlier build of this asset\n"
        "missing longest  never-built: no earlier build of this asset\n"
        "missing report   never-built: no earlier build of this asset\n")


def test_a_path_output_assetbuild_wrote_under_the_reverted_code_is_no_users_edit(tmp_path):
    root = project(tmp_path)
    assert cli("-q", cwd=root).returncode == 0
    (root / "AssetFile").write_text(CHAIN.replace("TOP_N = 3", "TOP_N = 4"))
    assert cli("-q", cwd=root).returncode == 0
    four = (root / "build" / "report.json").read_bytes()
    (root / "AssetFile").write_text(CHAIN)  # the revert (git checkout AssetFile)
    r = cli("status", cwd=root)
    assert "outside assetbuild" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0] == "fresh   parsed"  # its key never changed
    # what came back is named: cleaned's code (a reader told "inputs" looks for a data change),
    # and the inputs of the two below it
    stored = "stored-before: its {} back to what a build before had; that build's stored value is taken"
    assert lines[1].startswith("stale   cleaned  " + stored.format("code is")), lines  # see below
    assert all(ln.split()[0] == "stale" and stored.format("inputs are") in ln for ln in lines[2:4]), lines
    assert lines[4].startswith("stale   report   upstream-changed: counts: ")
    why = cli("why", "report", cwd=root).stdout
    assert "upstream-changed: counts: " in why and "output-modified" not in why
    r = cli("-v", cwd=root)
    assert "restored  report  (upstream-changed" in r.stdout
    assert (root / "build" / "report.json").read_bytes() != four
    assert cli("status", "report", cwd=root).stdout == "fresh   report\n"
    # a file the user did change is still said to be changed
    (root / "build" / "report.json").write_text("{}")
    assert "output-modified: build/report.json was changed outside assetbuild" in cli("status", cwd=root).stdout


def test_after_a_revert_the_latest_value_is_not_called_fresh_until_a_build_takes_the_stored_one(tmp_path):
    """Inputs reverted to ones built before: the value for them is stored, and a build takes it
    without running anything; until then the asset's latest value (what show and load_value
    give) is the other inputs', so status says stale, and show warns."""
    import assetbuild

    root = project(tmp_path)
    events = root / "data" / "events.csv"
    assert cli("-q", cwd=root).returncode == 0
    events.write_text("a\nbb\n")
    assert cli("-q", cwd=root).returncode == 0
    events.write_text("a\nbb\nccc\ndddd\n")  # back to the first build's data
    r = cli("status", "parsed", cwd=root)
    assert r.stdout.startswith("stale   parsed  stored-before: its inputs are back to what a build before had"), r.stdout
    assert assetbuild.load_value("parsed", project_dir=root) == ["a", "bb"]  # the latest build's, as said
    r = cli("show", "parsed", cwd=root)
    assert r.returncode == 0 and "warning: 'parsed' is stale (stored-before: " in r.stderr, r.stderr
    r = cli(cwd=root)
    assert r.returncode == 0 and "0 built" in r.stdout, r.stdout  # nothing ran
    assert cli("status", "parsed", cwd=root).stdout == "fresh   parsed\n"
    assert assetbuild.load_value("parsed", project_dir=root) == ["a", "bb", "ccc", "dddd"]
    r = cli("show", "parsed", cwd=root)
    assert r.stderr == "" and "'dddd'" in r.stdout


MISSING = "source 'events' does not exist: data/events.csv"


def test_a_dry_run_with_a_missing_source_says_the_build_would_fail_and_exits_1(tmp_path):
    root = project(tmp_path, data=False)
    r = cli("-n", cwd=root)
    assert r.returncode == 1, r.stderr
    assert r.stdout == (
        f"would fail    parsed  ({MISSING})\n"
        f"would skip    cleaned  (upstream 'parsed' cannot be built: {MISSING})\n"
        f"would skip    counts  (upstream 'cleaned' cannot be built: {MISSING})\n"
        f"would skip    longest  (upstream 'cleaned' cannot be built: {MISSING})\n"
        f"would skip    report  (upstream 'counts' cannot be built: {MISSING})\n"
        "dry run: the build would fail: 1 asset would fail (parsed), 4 would be skipped; "
        "0 of 5 assets would run or be restored; nothing was run or written\n")
    real = cli(cwd=root)  # and the build does fail
    assert real.returncode == 1 and "FAILED    parsed: " + MISSING in real.stderr


def test_a_dry_run_that_predicts_a_failure_is_not_ok_through_the_api(tmp_path):
    import assetbuild

    root = project(tmp_path, data=False)
    dry = assetbuild.build(dry_run=True, project_dir=root)
    assert not dry.ok and dry.by_asset()["parsed"] == "failed"
    (root / "data" / "events.csv").write_text("a\n")
    assert assetbuild.build(dry_run=True, project_dir=root).ok


def test_status_builds_nothing_and_says_so(tmp_path):
    root = project(tmp_path, data=False)
    r = cli("status", cwd=root)
    assert "did not build" not in r.stdout and "failed" not in r.stdout
    assert r.stdout == (
        f"missing parsed   source-missing: {MISSING}\n"  # never built: missing, and why it cannot be
        f"missing cleaned  source-missing: upstream 'parsed' cannot be built: {MISSING}\n"
        f"missing counts   source-missing: upstream 'cleaned' cannot be built: {MISSING}\n"
        f"missing longest  source-missing: upstream 'cleaned' cannot be built: {MISSING}\n"
        f"missing report   source-missing: upstream 'counts' cannot be built: {MISSING}\n")
    why = cli("why", "counts", cwd=root).stdout
    assert f"source-missing: upstream 'cleaned' cannot be built: {MISSING}" in why
    # a build says what happened
    r = cli("-k", "-v", cwd=root)
    assert "skipped   cleaned: not run: upstream 'parsed' failed" in r.stdout


def test_a_dry_run_says_what_a_build_that_stops_at_the_failure_skips(tmp_path):
    root = project(tmp_path, data=False)
    (root / "AssetFile").write_text(CHAIN + '''

other = source("other", "other.txt")


@asset(io="json")
def elsewhere(other):
    return other.read_text()
''')
    (root / "other.txt").write_text("x")
    r = cli("-n", cwd=root)
    assert r.returncode == 1
    assert "would skip    elsewhere  (the build stops when 'parsed' fails; -k keeps going)\n" in r.stdout
    assert r.stdout.endswith("1 asset would fail (parsed), 5 would be skipped; 0 of 6 assets would run or be "
                             "restored; nothing was run or written\n")
    k = cli("-n", "-k", cwd=root)
    assert "would run     elsewhere  (never-built: no earlier build of this asset)\n" in k.stdout
    assert "1 of 6 assets would run" in k.stdout
    real = cli("-v", cwd=root)
    assert "skipped   elsewhere: not run: the build stopped after 'parsed' failed" in real.stdout
