"""The README's plugin section: its examples, one per hook, make one working plugin, installed
and used here as a user would; its contract-test example passes against them."""

from __future__ import annotations

import re
import subprocess
import sys

from projects import REPO, clean_env, cli


def plugin_examples() -> list[str]:
    """The Python blocks of the README's "Plugins" section, in order."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Plugins\n"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def install_examples(tmp_path) -> dict[str, str]:
    """The hook examples as the installed plugin ``assetbuild_hello``; the environment that sees it."""
    *hooks, _contract_tests = plugin_examples()
    site = tmp_path / "site"
    (site / "assetbuild_hello-0.1.dist-info").mkdir(parents=True)
    (site / "assetbuild_hello-0.1.dist-info" / "entry_points.txt").write_text(
        "[assetbuild]\nhello = assetbuild_hello\n")
    (site / "assetbuild_hello.py").write_text("\n\n".join(hooks))
    env = clean_env(PYTHONPATH=str(site))
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


ASSETFILE = """\
from assetbuild import asset, source
import lib.shout as shout

names = source("names", "names.txt")


@asset(io="rows")
def rows(names):
    return [[shout.loud(n), str(len(n))] for n in names.read_text().split()]


@asset(io="text", path="out/report.txt")
def report(rows):
    return "\\n".join(",".join(r) for r in rows)


@asset(io="json")
def broken():
    raise ValueError("on purpose")
"""


def test_the_examples_make_a_working_plugin(tmp_path):
    assert len(plugin_examples()) == 9  # one per hook, and the contract tests
    env = install_examples(tmp_path)
    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    (root / "AssetFile").write_text(ASSETFILE)
    (root / "names.txt").write_text("ada grace")
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "shout.py").write_text("def loud(s):\n    return s.upper()\n")
    assert re.search(r"--pool-workers N\s+Run assets in a process pool", cli("--help", cwd=root, env=env).stdout)
    r = cli("-k", "--pool-workers", "2", cwd=root, env=env)
    assert r.returncode == 1, r.stderr
    assert f"hello: building 3 assets in {root}" in r.stderr
    assert "hello: broken failed: ValueError: on purpose" in r.stderr
    assert r.stderr.count("hello: ALERT broken failed: ValueError: on purpose") == 1  # asset_failed
    assert "hello: failed, 2 built" in r.stderr
    assert (root / "out" / "report.txt").read_text() == "ADA,3\nGRACE,5"
    r = cli("--executor", "pool", "-j", "2", "rows", "--force", cwd=root, env=env)
    assert r.returncode == 0 and "hello: ok, 1 built" in r.stderr, r.stderr


def test_the_overdue_example_alerts_once_each_way(tmp_path):
    import os

    env = install_examples(tmp_path)
    root = tmp_path / "project"
    root.mkdir()
    (root / "AssetFile").write_text('from assetbuild import asset, source\n\nfeed = source("feed", "feed.txt")\n\n\n'
                                    '@asset(io="json", freshness="1h")\ndef latest(feed):\n    return feed.read_text()\n')
    (root / "feed.txt").write_text("one")
    os.utime(root / "feed.txt", (1709510400, 1709510400))  # 2024-03-04T00:00:00Z

    def run(now: str, *args: str) -> str:
        r = cli(*args, cwd=root, env={**env, "ASSETBUILD_NOW": now})
        assert r.returncode == 0, r.stderr
        return "\n".join(ln for ln in r.stderr.splitlines() if ln.startswith("hello: ") and "building" not in ln
                         and not ln.startswith("hello: ok"))

    run("2024-03-04T00:10:00Z", "build")
    (root / "feed.txt").write_text("two")
    os.utime(root / "feed.txt", (1709514000, 1709514000))  # 01:00
    assert run("2024-03-04T01:00:00Z", "run", "--once") == ""  # first seen at 01:00
    assert run("2024-03-04T03:00:00Z", "run", "--once") == "hello: latest is 2.0 h behind"
    assert run("2024-03-04T04:00:00Z", "run", "--once") == ""  # still behind: said once
    run("2024-03-04T04:10:00Z", "build")
    assert run("2024-03-04T04:15:00Z", "run", "--once") == "hello: latest caught up"


def test_the_contract_example_passes_against_the_examples(tmp_path):
    env = install_examples(tmp_path)
    tests = tmp_path / "plugin_tests"
    tests.mkdir()
    (tests / "test_hello.py").write_text("from assetbuild_hello import CsvRows, PoolExecutor\n\n"
                                         + plugin_examples()[-1])
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        str(tests)], cwd=tests, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"\b1[0-9] passed", r.stdout), r.stdout
