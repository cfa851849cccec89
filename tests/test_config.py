"""``[tool.assetbuild]`` as a build reads it: every setting checked by the build, whichever
command uses it, each mistake one message in one format (the file, the table, the key)."""

from __future__ import annotations

import pytest
from projects import Project, cli

import assetbuild
from assetbuild.errors import ConfigError

ONE = """
@asset(io="json")
def one():
    return 1
"""


@pytest.mark.parametrize("setting", ["jobs = 0", "timeout = -1", "executor = 3", "history = -1", 'history = "x"',
                                     "history = [1]", "history = 1.5", "history = true", 'retry_backoff = "soon"'])
def test_the_build_refuses_an_invalid_setting_in_one_format(project: Project, setting: str) -> None:
    """``history`` (gc's) and ``retry_backoff`` (run's) passed every build; the first ``cache
    gc`` refused it, in another format, long after it was written."""
    project.assetfile(ONE)
    project.write("pyproject.toml", f"[tool.assetbuild]\n{setting}\n")
    key = setting.split(" = ")[0]
    prefix = f"{project.root / 'pyproject.toml'} [tool.assetbuild]: {key} must be "
    with pytest.raises(ConfigError) as e:
        assetbuild.build(project_dir=project.root)
    assert str(e.value).startswith(prefix), str(e.value)
    r = cli("-n", cwd=project.root)
    assert r.returncode == 2 and r.stderr.startswith(f"assetbuild: error: {prefix}"), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_valid_settings_pass(project: Project) -> None:
    project.assetfile(ONE)
    project.write("pyproject.toml", '[tool.assetbuild]\nhistory = 0\nretry_backoff = "5m"\njobs = 2\ntimeout = 60\n')
    assert assetbuild.build(project_dir=project.root).ok
