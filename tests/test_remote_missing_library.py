"""A remote cache whose client library is not installed: named on the command line it is an error
(exit 2, the install command); inherited from $ASSETBUILD_REMOTE the build warns and uses the
local cache alone. fsspec and s3fs are hidden as in an install without the ``remote`` extra, and
a protocol's own library (gcsfs for gs://, paramiko for sftp://) as in one without it: its
install command is that library's, which the remote extra does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import clean_env, cli, hiding, write

ASSETFILE = '''
from assetbuild import asset


@asset(io="text", path="out/hello.txt")
def hello():
    return "hello"
'''


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write(tmp_path / "p", {"AssetFile": ASSETFILE})


@pytest.fixture
def setup(tmp_path: Path, root: Path):
    blocker = hiding(tmp_path / "block", "fsspec", "s3fs")
    remote = tmp_path / "remote"
    remote.mkdir()
    return root, blocker, remote.as_uri()


def test_an_explicit_remote_without_fsspec_is_exit_2_with_the_install_command(setup):
    root, blocker, url = setup
    r = cli("build", "--remote", url, "--trust-remote-unsigned", cwd=root, env=clean_env(PYTHONPATH=blocker))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == (f"assetbuild: error: the remote cache {url} needs fsspec (for file://), which is not installed: "
                        "pip install -e '.[remote]' in the assetbuild clone\n")
    assert not (root / "out").exists()


def test_a_remote_from_the_environment_without_fsspec_warns_and_builds_locally(setup):
    root, blocker, url = setup
    r = cli("build", "--trust-remote-unsigned", cwd=root, env=clean_env(PYTHONPATH=blocker, ASSETBUILD_REMOTE=url))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == (f"warning: the remote cache {url} ($ASSETBUILD_REMOTE) needs fsspec (for file://), which is not "
                        "installed: pip install -e '.[remote]' in the assetbuild clone; building with the local cache alone\n")
    assert (root / "out" / "hello.txt").read_text() == "hello"
    assert not any(Path(url.removeprefix("file://")).iterdir())  # nothing uploaded


def test_with_fsspec_the_same_remote_is_used(setup):
    root, _blocker, url = setup
    r = cli("build", "--remote", url, "--trust-remote-unsigned", cwd=root)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert any(Path(url.removeprefix("file://")).iterdir())


OTHER_PROTOCOLS = [("gs://bucket/team", "gcsfs (for gs://)", "pip install gcsfs"),
                   ("sftp://deploy:S3cretPassw0rd@127.0.0.1/srv/cache", "paramiko (for sftp://)", "pip install paramiko"),
                   ("s3://bucket/team", "s3fs (for s3://)", "pip install -e '.[remote]' in the assetbuild clone")]


@pytest.mark.parametrize("url, library, install", OTHER_PROTOCOLS)
def test_an_explicit_remote_without_its_protocols_library_is_exit_2_with_its_install(tmp_path, root, url, library,
                                                                                       install):
    blocker = hiding(tmp_path / "block-lib", "gcsfs", "paramiko", "s3fs")
    r = cli("build", "--remote", url, "--trust-remote-unsigned", cwd=root, env=clean_env(PYTHONPATH=blocker))
    assert r.returncode == 2, r.stdout + r.stderr
    shown = url.replace("deploy:S3cretPassw0rd", "***")
    assert r.stderr == f"assetbuild: error: the remote cache {shown} needs {library}, which is not installed: {install}\n"
    assert not (root / "out").exists()


@pytest.mark.parametrize("url, library, install", OTHER_PROTOCOLS)
def test_a_remote_from_the_environment_without_its_protocols_library_warns_with_its_install(tmp_path, root, url,
                                                                                            library, install):
    blocker = hiding(tmp_path / "block-lib", "gcsfs", "paramiko", "s3fs")
    r = cli("build", "--trust-remote-unsigned", cwd=root, env=clean_env(PYTHONPATH=blocker, ASSETBUILD_REMOTE=url))
    assert r.returncode == 0, r.stdout + r.stderr
    shown = url.replace("deploy:S3cretPassw0rd", "***")
    assert r.stderr == (f"warning: the remote cache {shown} ($ASSETBUILD_REMOTE) needs {library}, which is not "
                        f"installed: {install}; building with the local cache alone\n")
    assert (root / "out" / "hello.txt").read_text() == "hello"


def test_keygen_without_cryptography_names_itself_and_the_install(tmp_path):
    """cache keygen's keys need the cryptography package (the remote extra): one sentence
    naming the command and its install, exit 2."""
    blocker = hiding(tmp_path / "block", "cryptography")
    r = cli("cache", "keygen", cwd=tmp_path, env=clean_env(PYTHONPATH=blocker))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == ("assetbuild: error: assetbuild cache keygen needs the cryptography package, which is not "
                        "installed: pip install -e '.[remote]' in the assetbuild clone\n")
    r = cli("build", cwd=write(tmp_path / "p", {"AssetFile": ASSETFILE}),
            env=clean_env(PYTHONPATH=blocker, ASSETBUILD_CACHE_TRUSTED_KEYS="ed25519:x", ASSETBUILD_REMOTE="file:///nowhere"))
    assert r.returncode == 2 and r.stderr == (
        "assetbuild: error: ASSETBUILD_CACHE_TRUSTED_KEYS is set, and needs the cryptography package, which is not "
        "installed: pip install -e '.[remote]' in the assetbuild clone\n"), r.stderr
