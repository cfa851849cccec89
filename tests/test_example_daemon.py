"""examples/daemon: a shop's sales kept fresh by ``assetbuild run``, and its systemd user unit.

A copy of the example is driven by the real command, one ``run --once --json`` per step of a
simulated day (``ASSETBUILD_NOW``), with the shop's exports arriving at given times (their
files' mtimes set to those times: with a simulated clock a real mtime would lie in its future).
After each tick, what it requested (with its reasons), what that build did with each asset, and
what it held back are exactly what the policies say. The README's transcript of such a day
("Keeping data fresh") is played the same way and must match the real output; `python
tests/test_example_daemon.py` prints that transcript afresh. The unit passes `systemd-analyze
verify`, and the daemon it runs stops cleanly (exit 0) on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from projects import REPO, clean_env, cli, cli_cmd

EXAMPLE = REPO / "examples" / "daemon"
UNIT = EXAMPLE / "assetbuild-run.service"
ORDERS = "data/orders.csv"


def copy_example(dest: Path, name: str = "shop") -> Path:
    """A copy of examples/daemon without what a run there left (cache, outputs)."""
    project = dest / name
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".assetbuild", "build", "__pycache__"))
    return project


def set_mtime(path: Path, when: str) -> None:
    t = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    os.utime(path, (t, t))


def export(project: Path, name: str | None, when: str) -> None:
    """The shop's export writes data/orders.csv (``incoming/orders-NAME.csv``; None: as it is) at ``when``."""
    if name is not None:
        shutil.copyfile(project / "incoming" / f"orders-{name}.csv", project / ORDERS)
    set_mtime(project / ORDERS, when)


def tick(project: Path, now: str, *args: str) -> tuple[int, dict]:
    """One ``assetbuild run --once --json`` at ``now``: its exit status and its tick."""
    r = cli("run", "--once", "--json", *args, cwd=project, env=clean_env(ASSETBUILD_NOW=now))
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, r.stdout + r.stderr
    return r.returncode, json.loads(lines[0])


EAGER_ALL = {"clean_orders": "eager: upstream orders changed",
             "daily_sales[2024-03-02]": "eager: upstream clean_orders requested",
             "daily_sales[2024-03-03]": "eager: upstream clean_orders requested"}
DASHBOARD = {"dashboard": "lazy: needed for its freshness 1h"}
REPORT = {"morning_report": "schedule: 0 9 * * *"}

# The day: (time, the export written just before the tick (name, mtime) or None, what the tick
# requests (asset -> its reason), what the build did with each (omitted: built), what it holds
# back (asset -> why), exit status).
DAY: list[tuple[str, tuple[str, str] | None, dict[str, str], dict[str, str], dict[str, str], int]] = [
    # the first tick: every eager asset is new (the partitions of the two days that have ended),
    # and a schedule never evaluated owes its latest time (yesterday 09:00 in Berlin)
    ("2024-03-04T00:05:00Z", None,
     {"clean_orders": "eager: new asset", "daily_sales[2024-03-02]": "new partition 2024-03-02",
      "daily_sales[2024-03-03]": "new partition 2024-03-03", **REPORT}, {}, {}, 0),
    ("2024-03-04T00:30:00Z", None, {}, {}, {}, 0),
    # the orders were first seen at 00:05: exactly an hour later the dashboard is not yet late
    ("2024-03-04T01:05:00Z", None, {}, {}, {}, 0),
    ("2024-03-04T01:05:01Z", None, DASHBOARD, {}, {}, 0),
    ("2024-03-04T06:00:00Z", None, {}, {}, {}, 0),  # nothing changed: a lazy asset stays as it is
    ("2024-03-04T07:45:00Z", ("0740", "2024-03-04T07:40:00Z"), EAGER_ALL, {}, {}, 0),
    ("2024-03-04T07:59:59Z", None, {}, {}, {}, 0),
    ("2024-03-04T08:00:00Z", None, REPORT, {}, {}, 0),  # 09:00 in Berlin: a tick at the time counts
    ("2024-03-04T08:45:00Z", None, {}, {}, {}, 0),
    ("2024-03-04T08:45:01Z", None, DASHBOARD, {}, {}, 0),
    # a malformed export: clean_orders fails, what reads it is skipped, the tick exits 1
    ("2024-03-04T12:15:00Z", ("1210", "2024-03-04T12:10:00Z"), EAGER_ALL,
     {"clean_orders": "failed", "daily_sales[2024-03-02]": "skipped", "daily_sales[2024-03-03]": "skipped"},
     {}, 1),
    # retry_backoff = "10m": first retried at 12:25 (still malformed: fails again), then 20 minutes later
    ("2024-03-04T12:25:00Z", None, EAGER_ALL,
     {"clean_orders": "failed", "daily_sales[2024-03-02]": "skipped", "daily_sales[2024-03-03]": "skipped"},
     {}, 1),
    ("2024-03-04T12:45:00Z", None, EAGER_ALL, {}, {}, 0),  # the export fixed at 12:28
    # the dashboard lacks the export first seen at 12:15
    ("2024-03-04T13:15:00Z", None, {}, {}, {}, 0),
    ("2024-03-04T13:15:01Z", None, DASHBOARD, {}, {}, 0),
    ("2024-03-04T23:59:59Z", None, {}, {}, {}, 0),
    ("2024-03-05T00:00:00Z", None, {"daily_sales[2024-03-04]": "new partition 2024-03-04"}, {}, {}, 0),
    ("2024-03-05T08:00:00Z", None, REPORT, {}, {}, 0),
]

# Ticks during a retry's backoff: time -> (the export written before it or None, the deferral);
# nothing is built in them.
BACKOFF = {"2024-03-04T12:20:00Z": (None, "failed 1 time(s); retried after 5m"),
           "2024-03-04T12:30:00Z": (("1228", "2024-03-04T12:28:00Z"), "failed 2 time(s); retried after 15m")}


def play(project: Path, steps: list, backoff: dict) -> list[dict]:
    """Run the ticks of ``steps`` and ``backoff`` in time order, checking each; the ticks."""
    export(project, None, "2024-03-03T23:50:00Z")  # the export of the night before
    plan = [(s[0], "day", s) for s in steps] + [(t, "backoff", b) for t, b in backoff.items()]
    seen = []
    for now, kind, step in sorted(plan, key=lambda x: x[0]):
        if kind == "backoff":
            if step[0] is not None:
                export(project, *step[0])
            rc, t = tick(project, now)
            assert t["deferred"] == {"clean_orders": step[1]}, (now, t)
            assert (t["requested"], t["run"], rc) == ([], None, 0), (now, t)  # nothing, not even its readers
            seen.append(t)
            continue
        _, exported, requested, outcomes, deferred, code = step
        if exported is not None:
            export(project, *exported)
        rc, t = tick(project, now)
        assert {r["asset"]: "; ".join(r["reasons"]) for r in t["requested"]} == requested, (now, t)
        assert t["outcomes"] == {a: outcomes.get(a, "built") for a in requested}, (now, t)
        assert t["deferred"] == deferred, (now, t)
        assert t["failed"] == [a for a, s in outcomes.items() if s == "failed"], (now, t)
        assert t["overdue"] == {} and t["error"] is None, (now, t)  # a lazy asset is built before it is late
        assert rc == code, (now, t)
        assert (t["run"] is None) == (not requested), (now, t)
        seen.append(t)
    return seen


def test_a_simulated_day_builds_exactly_what_the_policies_ask(tmp_path):
    project = copy_example(tmp_path)
    played = play(project, DAY, BACKOFF)
    r = cli("ticks", "-n", "100", "--json", cwd=project, env=clean_env())
    recorded = json.loads(r.stdout)["ticks"]
    assert [t["seq"] for t in recorded] == [t["seq"] for t in played] == list(range(1, len(played) + 1))
    assert (project / "build" / "morning-report.md").read_text() == (
        "# Sales\n\n| Day | Orders | Revenue |\n|---|---:|---:|\n"
        "| 2024-03-04 | 4 | 133.00 |\n| 2024-03-03 | 2 | 55.00 |\n| 2024-03-02 | 2 | 72.00 |\n\n"
        "Since then: 0 order(s).\n")
    shown = cli("show", "dashboard", "--json", cwd=project, env=clean_env(ASSETBUILD_NOW="2024-03-05T08:00:00Z"))
    assert json.loads(shown.stdout) == [["mug", 8], ["tea tin", 4], ["teapot", 4]], shown.stdout + shown.stderr


def test_status_says_overdue_until_the_tick_that_builds_it(tmp_path):
    project = copy_example(tmp_path)
    play(project, [s for s in DAY if s[0] <= "2024-03-04T07:45:00Z"], {})  # the export first seen at 07:45

    def dashboard(now: str) -> dict:
        r = cli("status", "--json", "dashboard", cwd=project, env=clean_env(ASSETBUILD_NOW=now))
        assert r.returncode == 0, r.stdout + r.stderr
        return next(a for a in json.loads(r.stdout)["assets"] if a["asset"] == "dashboard")

    assert dashboard("2024-03-04T08:45:00Z")["state"] == "stale"  # an hour behind: not more than its freshness
    late = dashboard("2024-03-04T08:55:00Z")
    assert (late["state"], late["lag_s"]) == ("overdue", 4200.0)
    assert late["reasons"][0] == {"code": "overdue", "detail": "1h 10m behind; freshness 1h"}
    rc, t = tick(project, "2024-03-04T08:55:00Z")
    assert rc == 0 and [r["asset"] for r in t["requested"]] == ["dashboard", "morning_report"], t  # 09:00 Berlin too
    assert dashboard("2024-03-04T08:55:00Z")["state"] == "fresh"


def test_a_tick_during_a_backoff_requests_nothing_for_the_asset_held_back(tmp_path):
    project = copy_example(tmp_path)
    play(project, [s for s in DAY if s[0] <= "2024-03-04T12:15:00Z"], {})
    rc, t = tick(project, "2024-03-04T12:20:00Z")
    assert t["deferred"] == {"clean_orders": "failed 1 time(s); retried after 5m"}
    assert t["requested"] == [], t


# --- the README's transcript ---------------------------------------------------------------------

README = REPO / "README.md"
FIRST = "cp -r examples/daemon /tmp/shop && cd /tmp/shop"


def transcript() -> list[tuple[str, str]]:
    """The commands of the README's simulated day ("Keeping data fresh") with the output shown
    under each."""
    section = re.split(r"\n#+ ", README.read_text(encoding="utf-8").split("\n### Keeping data fresh\n", 1)[1])[0]
    blocks = [b for b in section.split("```")[1::2] if f"$ {FIRST}" in b]
    assert len(blocks) == 1, "the section has one transcript, starting with " + FIRST
    out: list[tuple[str, str]] = []
    for line in blocks[0].split("\n", 1)[1].rstrip("\n").splitlines():  # past the fence's language
        if line.startswith("$ "):
            out.append((line[2:], ""))
        else:
            cmd, text = out[-1]
            out[-1] = (cmd, text + line + "\n")
    assert out[0] == (FIRST, ""), out[0]
    return out


def run_line(project: Path, line: str) -> tuple[int, str]:
    """A transcript command in ``project`` (the README's /tmp/shop), stdout and stderr together
    as a terminal shows them: ``[VAR=value...] assetbuild ARGS`` by this interpreter, anything
    else by bash."""
    words = shlex.split(line)
    env = clean_env()
    while words and re.match(r"^[A-Z_]+=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if words and words[0] == "assetbuild":
        cmd = cli_cmd(*words[1:])
    else:
        cmd = ["bash", "-c", line]
    r = subprocess.run(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    return r.returncode, r.stdout.replace(str(project), "/tmp/shop")


def play_transcript(project: Path) -> list[tuple[str, int, str]]:
    """Each README command (after the copy) run in ``project``: (command, exit status, output)."""
    return [(cmd, *run_line(project, cmd)) for cmd, _ in transcript()[1:]]


def comparable(text: str) -> str:
    """Output without what differs between Python versions: 12-digit digests (keys hold
    bytecode) and a traceback's ^^^ marks (3.11 on)."""
    text = re.sub(r"\b[0-9a-f]{12}\b", "<digest>", text)
    return "".join(ln for ln in text.splitlines(keepends=True) if not re.fullmatch(r"\s*[~^]+\s*", ln))


def test_the_readme_transcript_is_real_output(tmp_path):
    project = copy_example(tmp_path)
    shown = dict(transcript())
    for cmd, rc, out in play_transcript(project):
        assert comparable(out) == comparable(shown[cmd]), f"$ {cmd}\n{out}"
        assert rc == (1 if "FAILED" in out else 0), f"$ {cmd}\n{out}"


# --- the service unit ----------------------------------------------------------------------------

def test_the_service_unit_verifies():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (it comes with systemd)")
    r = subprocess.run([tool, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    if "Failed to initialize manager" in r.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {r.stderr.strip()}")
    assert (r.returncode, r.stdout + r.stderr) == (0, "")  # a misplaced or unknown key is only a warning
    settings = [ln.split("=", 1) for ln in UNIT.read_text().splitlines() if re.match(r"^[A-Za-z]+=", ln)]
    assert ["Restart", "on-failure"] in settings and ["WantedBy", "default.target"] in settings
    assert ["ExecStart", "/usr/bin/env assetbuild run --tick 30"] in settings


def test_sigterm_stops_the_daemon_cleanly_and_one_daemon_keeps_a_project(tmp_path):
    """What the unit relies on: SIGTERM (systemctl stop) is exit 0, so it is not restarted."""
    project = copy_example(tmp_path)
    export(project, None, "2024-03-03T23:50:00Z")
    env = clean_env(ASSETBUILD_NOW="2024-03-04T00:05:00Z")
    proc = subprocess.Popen(cli_cmd("run", "--tick", "1h"), cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first tick's headline: it is waiting for the next one
        assert first.startswith("2024-03-04T00:05:00Z tick 1: 4 requested; 4 built"), first
        second = cli("run", "--once", cwd=project, env=env)
        assert second.returncode == 2 and f"(pid {proc.pid})" in second.stderr, second.stderr
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


if __name__ == "__main__":  # print the README's transcript as the example gives it now
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shop = copy_example(Path(tmp))
        print(f"$ {FIRST}")
        for cmd, _, out in play_transcript(shop):
            print(f"$ {cmd}\n{out}", end="")
    sys.exit(0)
