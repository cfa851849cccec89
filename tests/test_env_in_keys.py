"""Environment variables in keys: ``@asset(env=[...])``.

The declared variables' values enter the key (unset is not empty), ``why`` and ``status`` name
the change (never a secret's value), and process workers see the values the key was made from.
Real builds, a real LMDB store and the real command in subprocesses.
"""

from __future__ import annotations

import json

import pytest
from projects import Project, clean_env, cli, run_counter, take_runs

import assetbuild
from assetbuild.errors import DefinitionError
from assetbuild.keys import KeyParts, env_parts, explain_change, make_key

ASSETFILE = '''
import os

@asset(io="json", env=["REGION", "API_KEY"])
def region():
    _ran("region")
    return (os.environ.get("REGION") or "none")[:2]


@asset(io="json")
def region_reader(region):
    _ran("region_reader")
    return region + "!"


@asset(io="json")
def plain():
    _ran("plain")
    return 1
'''


@pytest.fixture
def proj(project: Project, tmp_path, monkeypatch) -> Project:
    project.write("AssetFile", "from assetbuild import asset\n" + run_counter(tmp_path / "runs") + ASSETFILE,
                  dedent=False)
    monkeypatch.delenv("REGION", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    project.runs = tmp_path / "runs"  # type: ignore[attr-defined]
    return project


def reasons(project: Project, name: str) -> list[tuple[str, str]]:
    return [(r.code, r.detail) for r in project.status()[name].reasons]


def test_only_the_declaring_asset_reruns_and_readers_only_when_bytes_change(proj, monkeypatch):
    monkeypatch.setenv("REGION", "eu")
    proj.built()
    take_runs(proj.runs)
    monkeypatch.setenv("REGION", "eu-west")  # the function returns "eu" still: early cutoff
    assert reasons(proj, "region") == [("env-changed", "REGION 'eu' -> 'eu-west'")]
    assert proj.status()["plain"].state == "fresh"
    assert proj.built() == ["region"]
    assert take_runs(proj.runs) == {"region": 1}
    monkeypatch.setenv("REGION", "us")
    assert sorted(proj.built()) == ["region", "region_reader"]
    assert proj.value("region_reader") == "us!"
    assert proj.built() == []


def test_unset_and_empty_differ_and_going_back_reuses(proj, monkeypatch):
    proj.built()  # REGION unset
    monkeypatch.setenv("REGION", "")
    assert reasons(proj, "region") == [("env-changed", "REGION unset -> ''")]
    assert proj.built() == ["region"]
    monkeypatch.setenv("REGION", "us")
    assert sorted(proj.built()) == ["region", "region_reader"]
    take_runs(proj.runs)
    monkeypatch.delenv("REGION")  # back to unset: the first build's outputs are reused
    st = proj.status()["region"]  # its key has a trace: nothing to run, but the latest value is "us"'s
    assert st.state == "stale" and [r.code for r in st.reasons] == ["stored-before"]
    assert st.reasons[0].detail.startswith("its environment variables are back to what a build before had")
    r = proj.build()
    assert r.ok and r.names("built") == []
    assert take_runs(proj.runs) == {}
    assert proj.value("region_reader") == "no!"


def test_secret_values_are_never_shown_nor_stored(proj, monkeypatch):
    monkeypatch.setenv("API_KEY", "hunter2-first")
    proj.built()
    monkeypatch.setenv("API_KEY", "hunter2-second")
    assert reasons(proj, "region") == [("env-changed", "API_KEY changed")]
    info = assetbuild.why("region", project_dir=proj.root)
    text = json.dumps(info)
    assert "hunter2" not in text
    assert {"name": "API_KEY", "old": None, "new": None, "changed": True, "secret": True} in info["env"]
    assert {"name": "REGION", "old": None, "new": None, "changed": False, "secret": False} in info["env"]
    proj.built()
    # nothing the cache holds has the value (heads are written by marshal: the text is plain)
    for f in (proj.root / ".assetbuild").rglob("*"):
        if f.is_file():
            assert b"hunter2" not in f.read_bytes(), f


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_secret_an_asset_quotes_in_its_error_or_log_is_hidden(project: Project, jobs):
    """An HTTP client's "401 for url ...?token=..." put the declared secret's value on the
    terminal, in --json and in the history (log, runs show, status's failed reason)."""
    project.assetfile("""
import os
from assetbuild import asset

@asset(env=["API_TOKEN"])
def fetch(context):
    context.log.info(f"calling with {os.environ['API_TOKEN']}")
    raise RuntimeError(f"GET https://api/x?token={os.environ['API_TOKEN']} failed: 401")
""")
    env = clean_env(API_TOKEN="tok123-s3cret")
    shown = ""
    for args in (["build", "-j", jobs], ["build", "--json", "-j", jobs], ["log", "fetch"], ["status"],
                 ["runs", "show", "1"]):
        r = cli(*args, cwd=project.root, env=env)
        shown += r.stdout + r.stderr
    assert "token=*** failed: 401" in shown and "calling with ***" in shown
    assert "tok123-s3cret" not in shown
    for f in (project.root / ".assetbuild").rglob("*"):
        if f.is_file():
            assert b"tok123-s3cret" not in f.read_bytes(), f


def test_a_url_with_credentials_is_a_secret_whatever_its_name(project: Project):
    """``env=["DATABASE_URL"]`` holding ``postgres://bob:hunter2@db/x``: named like no secret, its
    password was shown by status, why and log, and stored in the cache (heads, history, the
    snapshot, cache export). A value holding a URL with a user part is a secret too: a digest in
    the key, "changed" in reasons, *** where an asset quotes it; the fast path agrees. So is a
    code constant holding one, in why's code parts."""
    project.assetfile("""
import os
from assetbuild import asset

DEFAULT = "sqlite://user:pw-in-code@localhost/x"

@asset(env=["DATABASE_URL"])
def rows(context):
    context.log.info(f"connecting to {os.environ['DATABASE_URL']}")
    return len(os.environ["DATABASE_URL"]) + len(DEFAULT)
""")
    env = clean_env(DATABASE_URL="postgres://bob:hunter2@db/x")
    shown = ""
    for args in (["build"], ["build"]):  # (the second: a null build, answered by the snapshot)
        r = cli(*args, cwd=project.root, env=env)
        assert r.returncode == 0, r.stderr
        shown += r.stdout + r.stderr
    assert "0 built" in r.stderr + r.stdout or json.loads(cli("--json", cwd=project.root, env=env).stdout)["ok"]
    env["DATABASE_URL"] = "postgres://bob:hunter3@db/x"
    project.write("AssetFile", (project.root / "AssetFile").read_text().replace("pw-in-code", "pw2-in-code"),
                  dedent=False)
    for args in (["status"], ["why", "rows"], ["why", "rows", "--json"], ["-n"], ["build", "-v"], ["log", "rows"],
                 ["runs", "show", "2"]):
        r = cli(*args, cwd=project.root, env=env)
        shown += r.stdout + r.stderr
    assert "env-changed: DATABASE_URL changed" in shown and "connecting to ***" in shown, shown
    assert "hunter" not in shown and "pw-in-code" not in shown and "pw2-in-code" not in shown, shown
    for f in (project.root / ".assetbuild").rglob("*"):
        if f.is_file() and f.suffix != ".pyc" and "code" not in f.parts:  # (the compiled AssetFile holds its text)
            assert b"hunter" not in f.read_bytes(), f
    from assetbuild.keys import env_parts

    parts = dict(env_parts(("URL", "PLAIN"), {"URL": "https://tok@github.com/x", "PLAIN": "https://github.com/x"}))
    assert parts["PLAIN"] == "https://github.com/x" and parts["URL"].startswith("sha256:")


def test_why_and_list_on_the_command_line(proj, monkeypatch):
    env = clean_env(REGION="eu", API_KEY="s3cret-one")
    env.pop("ASSETBUILD_NOW", None)
    r = cli("build", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    env.update(REGION="us", API_KEY="s3cret-two")
    r = cli("why", "region", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    assert "env-changed: API_KEY changed" in r.stdout
    assert "env-changed: REGION 'eu' -> 'us'" in r.stdout
    assert "s3cret" not in r.stdout + r.stderr
    r = cli("why", "region", "--json", cwd=proj.root, env=env)
    info = json.loads(r.stdout)
    assert "s3cret" not in r.stdout
    assert {"name": "REGION", "old": "eu", "new": "us", "changed": True, "secret": False} in info["env"]
    assert {"code": "env-changed", "detail": "API_KEY changed"} in info["reasons"]
    r = cli("list", "--json", cwd=proj.root, env=env)
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert rows["region"]["env"] == ["API_KEY", "REGION"] and rows["plain"]["env"] == []


def test_process_workers_see_the_values_of_the_key(proj, monkeypatch):
    monkeypatch.setenv("REGION", "eu")
    r = proj.build(executor="processes", jobs=2)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert proj.value("region") == "eu"
    monkeypatch.setenv("REGION", "us")
    r = proj.build(executor="processes", jobs=2)
    assert r.ok and sorted(r.names("built")) == ["region", "region_reader"]
    assert proj.value("region_reader") == "us!"


def test_processes_on_the_command_line(proj):
    env = clean_env(REGION="jp")
    r = cli("build", "--executor", "processes", "-j", "2", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    assert proj.value("region") == "jp"


def test_keys_without_env_are_unchanged_and_env_changes_the_key():
    base = KeyParts("c", {}, (("a", "1"),), "json@1", None)
    assert make_key("x", base) == make_key("x", KeyParts("c", {}, (("a", "1"),), "json@1", None, env=()))
    unset = KeyParts("c", {}, (("a", "1"),), "json@1", None, env=(("R", None),))
    empty = KeyParts("c", {}, (("a", "1"),), "json@1", None, env=(("R", ""),))
    assert len({make_key("x", base), make_key("x", unset), make_key("x", empty)}) == 3
    assert env_parts(("TOKEN_X", "R"), {"TOKEN_X": "abc"}) [1] == ("R", None)
    assert env_parts(("TOKEN_X",), {"TOKEN_X": "abc"})[0][1].startswith("sha256:")
    assert [r.detail for r in explain_change(unset, empty)] == ["R unset -> ''"]
    for secret in ("my_password", "Github_Token", "aws_secret_x", "API_KEY"):
        old = KeyParts("c", {}, (), "json@1", None, env=env_parts((secret,), {secret: "a"}))
        new = KeyParts("c", {}, (), "json@1", None, env=env_parts((secret,), {}))
        assert [r.detail for r in explain_change(old, new)] == [f"{secret} changed"]


@pytest.mark.parametrize("env, message", [
    ('"REGION"', "env must be a list of environment variable names"),
    ('[1]', "env must be a list of strings"),
    ('["1BAD"]', "'1BAD', which is not an environment variable name"),
    ('["A-B"]', "'A-B', which is not an environment variable name"),
])
def test_definition_errors(project: Project, env, message):
    project.assetfile(f"\n\n@asset(env={env})\ndef a():\n    return 1\n")
    with pytest.raises(DefinitionError, match=message) as e:
        project.build()
    assert "AssetFile:4" in str(e.value)
    r = cli("build", cwd=project.root)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_cache_export_and_import_carry_env_and_accept_older_exports(proj, tmp_path):
    import io
    import tarfile

    env = clean_env(REGION="eu")
    assert cli("build", cwd=proj.root, env=env).returncode == 0
    archive = tmp_path / "a.tar"
    r = cli("cache", "export", str(archive), cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    # an export made before env= existed has no "env" in its heads: it still imports
    old = tmp_path / "old.tar"
    seen = []
    with tarfile.open(archive) as src, tarfile.open(old, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None and m.name.endswith(".json"):
                doc = json.loads(data)
                for e in doc.get("entries", []):
                    seen.append(e["asset"])
                    assert ["REGION", "eu"] in e["head"]["env"] or e["asset"] != "region"
                    e["head"].pop("env")
                data = json.dumps(doc).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    assert sorted(seen) == ["plain", "region", "region_reader"]
    for src_archive in (archive, old):
        fresh = tmp_path / ("cache-" + src_archive.stem)
        r = cli("cache", "import", str(src_archive), "--json", cwd=proj.root,
                env=clean_env(ASSETBUILD_CACHE_DIR=str(fresh)))
        assert r.returncode == 0, r.stderr
        assert "bad head" not in r.stdout + r.stderr
        summary = json.loads(r.stdout)
        assert summary["skipped"] == 0 and summary["heads_added"] == 3, summary
    # the imported head explains a change of the variable
    r = cli("why", "region", cwd=proj.root, env=clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "cache-a"),
                                                           REGION="us"))
    assert "env-changed: REGION 'eu' -> 'us'" in r.stdout, r.stdout + r.stderr


def test_a_long_value_is_cut_in_its_reason() -> None:
    """A 50 KB value was shown whole in env-changed, twice (old and new): every status line of
    its readers was 100 KB, and the history stored it so. Cut, with its length."""
    from assetbuild.keys import KeyParts, explain_change

    def parts(v: str) -> KeyParts:
        return KeyParts(code="c", code_parts={}, inputs=(), io="pickle", path=None, env=(("BIG", v),))

    (reason,) = explain_change(parts("a" * 50_000), parts("b" * 50_000))
    assert reason.detail == f"BIG {'a' * 60!r}… (50,000 characters) -> {'b' * 60!r}… (50,000 characters)"
    (short,) = explain_change(parts("eu"), parts("us"))
    assert short.detail == "BIG 'eu' -> 'us'"
