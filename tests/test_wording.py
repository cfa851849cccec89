"""assetbuild.wording: the Python API's errors and warnings speak its words (``timeout=``,
``partitions=``, ``only=True``, ``trust_remote_unsigned=True``, ``keep_going=True``,
``param_args``), the command's its own (``--timeout``...), and an asset that calls the API inside
a command's build hears the API's."""

from __future__ import annotations

import pytest
from projects import cli, write

import assetbuild
from assetbuild.output import Reporter


@pytest.fixture
def root(project):
    project.assetfile("@asset\ndef a():\n    return 1\n")
    return project.root


@pytest.mark.parametrize("kw,api,cli_args,command", [
    (dict(timeout=5, executor="threads", jobs=2), "timeout=: the 'threads' executor cannot stop a running asset; use "
     "executor='processes'", ["--timeout", "5", "--executor", "threads", "-j", "2"], "--timeout: the 'threads' executor "
     "cannot stop a running asset; use --executor processes"),
    (dict(partitions="x"), "partitions=: this project has no partitioned asset", ["--partition", "x"],
     "--partition(s): this project has no partitioned asset"),
    (dict(param_args=["a"]), "param_args item 'a': use ASSET.KEY=VALUE, e.g. 'big_ones.threshold=5'",
     ["--param", "a"], "--param 'a': use ASSET.KEY=VALUE, e.g. --param big_ones.threshold=5"),
])
def test_an_error_speaks_the_callers_words(root, kw, api, cli_args, command):
    with pytest.raises(assetbuild.AssetbuildError) as e:
        assetbuild.build(project_dir=root, **kw)
    assert str(e.value) == api
    p = cli(*cli_args, cwd=root)
    assert p.returncode == 2 and f"assetbuild: error: {command}" in p.stderr, p.stderr


def test_a_warning_speaks_the_callers_words(root, tmp_path, capsys):
    assert assetbuild.build(["a"], project_dir=root, only=True, reporter=Reporter(verbosity=-2)).ok
    assert assetbuild.build(project_dir=root, remote=str(tmp_path / "remote")).ok
    err = capsys.readouterr().err
    assert "warning: only=True: 1 selected asset(s) run against" in err and "--only" not in err
    assert "or pass trust_remote_unsigned=True)" in err and "--trust" not in err
    p = cli("--only", "a", "--remote", str(tmp_path / "remote"), cwd=root)
    assert p.returncode == 0, p.stderr
    assert "warning: --only: 1 selected" in p.stderr and "or pass --trust-remote-unsigned)" in p.stderr


def test_a_stopped_build_says_keep_going_in_the_callers_words(project):
    project.assetfile("@asset\ndef bad():\n    raise ValueError('no')\n\n@asset\ndef other():\n    return 1\n")
    r = project.build()
    assert r.by_asset() == {"bad": "failed", "other": "skipped"}
    assert [x.error for x in r.results if x.asset == "other"] == [
        "not run: the build stopped after 'bad' failed (use keep_going=True to keep going)"]
    p = cli("--json", cwd=project.root)
    assert "(use -k to keep going)" in p.stdout


def test_an_asset_calling_the_api_in_a_command_hears_the_apis_words(tmp_path):
    write(tmp_path / "inner", {"AssetFile": "from assetbuild import asset\n\n@asset\ndef x():\n    return 1\n"})
    outer = write(tmp_path / "outer", {"AssetFile": "import assetbuild\nfrom assetbuild import asset\n\n@asset\n"
                                                    "def sub():\n    assetbuild.build(project_dir='../inner', "
                                                    "partitions='k')\n"})
    p = cli(cwd=outer, timeout=60)
    assert p.returncode == 1
    assert "SelectionError: partitions=: this project has no partitioned asset" in p.stderr, p.stderr
