"""The remote cache (remote.py): fresh checkouts restored from a file:// folder and from a real
S3-compatible server (moto in server mode, on loopback), rejection of tampered or foreign entries,
a remote that is down or slow, read-only and key-less modes. Asset runs are counted through a
side-effect file, so "ran nothing" is observed, not inferred."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projects import clean_env, cli, run_counter, take_runs

import assetbuild
from assetbuild.output import Reporter
from assetbuild.remote import RecordKeys, RemoteRejected, decode_record, encode_record
from assetbuild.reports import Trace
from assetbuild.store import LmdbStore

ASSETFILE = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")
""" + run_counter() + """

@asset(io="bytes")
def big(raw):
    _ran("big")
    return raw.read_bytes() * 30000          # 300 KB: a file in the local CAS


@asset(io="json")
def small(raw):
    _ran("small")
    return {"n": len(raw.read_text())}


@asset(io="text", path="out/report.txt")
def report(big, small):
    _ran("report")
    return f"{len(big)} {small['n']}\\n"


@asset(io="json")
def leaf(small):
    _ran("leaf")
    return small["n"] * 2
"""
ALL = {"big", "small", "report", "leaf"}
KEY = "correct horse battery staple"


# --- fixtures: checkouts, a run counter, the remotes -------------------------------------------

class Checkout:
    """One clone of the project at its own path, with its own (initially empty) local cache."""

    def __init__(self, root: Path, runs: Path) -> None:
        self.root = root
        self.runs = runs
        root.mkdir(parents=True)
        (root / "AssetFile").write_text(ASSETFILE)
        (root / "raw.txt").write_text("0123456789")

    def build(self, remote: str | None, **kw):
        err = io.StringIO()
        take_runs(self.runs)
        r = assetbuild.build(project_dir=self.root, remote=remote,
                             reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2), **kw)
        self.warnings = [ln for ln in err.getvalue().splitlines() if ln.startswith("warning:")]
        self.ran = set(take_runs(self.runs))
        return r

    def head(self, name: str):
        with LmdbStore(self.root / ".assetbuild", readonly=True) as s:
            return s.get_head(name)


@pytest.fixture
def checkouts(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("AB_RUNS", str(runs))
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", KEY)
    monkeypatch.delenv("ASSETBUILD_REMOTE", raising=False)
    n = iter(range(100))
    return lambda: Checkout(tmp_path / f"checkout{next(n)}", runs)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


def _s3fs():
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"], skip_instance_cache=True,
                             use_listings_cache=False)


@pytest.fixture(params=["file", "s3"])
def remote(request, tmp_path):
    """A URL and a file system to inspect and tamper with it directly."""
    if request.param == "file":
        import fsspec

        folder = tmp_path / "shared" / "cache"  # does not exist yet: the build creates it
        return f"file://{folder}", fsspec.filesystem("file"), str(folder)
    request.getfixturevalue("s3_env")
    bucket = f"b{uuid.uuid4().hex[:12]}"
    fs = _s3fs()
    fs.mkdir(bucket)
    return f"s3://{bucket}/team", fs, f"{bucket}/team"


def _objects(fs, root: str, kind: str) -> list[str]:
    try:
        return [p for p in fs.find(f"{root}/{kind}") if not p.endswith(".assetbuild-tmp")]
    except FileNotFoundError:
        return []


def _record_path(root: str, key: str) -> str:
    return f"{root}/records/{key[:2]}/{key}"


def _blob_path(root: str, digest: str) -> str:
    return f"{root}/blobs/{digest[:2]}/{digest}"


# --- the main flow -----------------------------------------------------------------------------

def test_fresh_checkout_gets_every_output_from_the_remote(checkouts, remote):
    url, fs, root = remote
    a = checkouts()
    r = a.build(url)
    assert r.ok and a.ran == ALL and a.warnings == []
    assert len(_objects(fs, root, "records")) == 4
    assert len(_objects(fs, root, "blobs")) == 4

    b = checkouts()  # another path, an empty local cache
    r = b.build(url)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert b.ran == set(), "no asset function may run"
    assert r.by_asset() == dict.fromkeys(ALL, "restored")
    assert all(x.reasons[-1].code == "remote" for x in r.results)
    assert (b.root / "out/report.txt").read_text() == (a.root / "out/report.txt").read_text()
    assert assetbuild.load_value("big", project_dir=b.root) == b"0123456789" * 30000
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20

    r = b.build(None)  # everything is now local: a null build without the remote
    assert b.ran == set() and r.by_asset() == dict.fromkeys(ALL, "cached")


def test_the_next_build_in_a_process_reaches_the_remote_with_the_same_client(checkouts, s3_env, monkeypatch):
    """A watch cycle, or a tick of `assetbuild run`, reuses the S3 client the last build made (a
    new one and its first listing took 120-360 ms); other AWS credentials get a client of their own."""
    from assetbuild.remote import transport

    monkeypatch.setattr(transport, "_KEPT", {})
    bucket = f"b{uuid.uuid4().hex[:12]}"
    _s3fs().mkdir(bucket)
    url = f"s3://{bucket}/team"
    a = checkouts()
    assert a.build(url).ok and a.ran == ALL
    (kept,) = transport._KEPT.values()
    b = checkouts()
    r = b.build(url)
    assert r.by_asset() == dict.fromkeys(ALL, "restored") and b.ran == set()  # through the kept client
    assert list(transport._KEPT.values()) == [kept]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another")  # (moto takes any)
    c = checkouts()
    assert c.build(url).by_asset() == dict.fromkeys(ALL, "restored")
    assert len(transport._KEPT) == 2 and kept in transport._KEPT.values()


def test_a_listing_that_keeps_answering_is_waited_for_past_one_transfers_deadline(checkouts, s3_env, monkeypatch):
    """A team's remote holds ever more records, and its one listing as many pages: the wait for
    it is bounded by the server's silence since its last page, not by one transfer's deadline
    (which called a server that answered every page in time down, and the build then ran
    everything it could have restored)."""
    from fsspec.asyn import sync
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    from assetbuild.remote import transport

    bucket = f"b{uuid.uuid4().hex[:12]}"
    _s3fs().mkdir(bucket)
    url = f"s3://{bucket}/team"
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for i in range(3500):  # other commits' records: four pages of a listing
        k = hashlib.sha256(b"%d" % i).hexdigest()
        backend.put_object(bucket, f"team/records/{k[:2]}/{k}", b"{}")
    a = checkouts()
    assert a.build(url).ok and a.ran == ALL
    watch = transport.watch_pages

    def slowly(fs, note):  # from now on, each page of a listing takes 0.6 s
        watch(fs, note)
        sync(fs.loop, fs.set_session).meta.events.register(
            "before-call.s3.ListObjectsV2", lambda **kw: time.sleep(0.6), unique_id="test-slow-pages")
    monkeypatch.setattr(transport, "watch_pages", slowly)
    monkeypatch.setattr(transport.RemoteSettings, "deadline", lambda self, size=0: 1.5 + size / 1e6)
    made = transport.RemoteSettings.from_env.__func__

    def few_ahead(cls, *args, **kw):
        settings = made(cls, *args, **kw)
        settings.prefetch = 8  # (the newest records, ours: fetched ahead at once)
        return settings
    monkeypatch.setattr(transport.RemoteSettings, "from_env", classmethod(few_ahead))
    b = checkouts()
    started = time.monotonic()
    r = b.build(url)
    assert time.monotonic() - started > 2.4  # the listing outlasted the deadline of one transfer
    assert b.warnings == [] and b.ran == set(), b.warnings
    assert r.by_asset() == dict.fromkeys(ALL, "restored")


def test_a_process_keeps_the_newest_clients_only(tmp_path, monkeypatch):
    from assetbuild.remote import transport

    monkeypatch.setattr(transport, "_KEPT", {})
    urls = [f"file://{tmp_path / str(i)}" for i in range(transport._KEPT_MAX + 2)]
    first = transport._file_system(urls[0], {})
    for url in urls[1:transport._KEPT_MAX]:
        transport._file_system(url, {})
    assert transport._file_system(urls[0], {}) is first  # kept, and now the newest
    for url in urls[transport._KEPT_MAX:]:
        transport._file_system(url, {})
    kept_urls = [key[1] for key in transport._KEPT]
    assert len(kept_urls) == transport._KEPT_MAX and urls[0] in kept_urls and urls[1] not in kept_urls


def test_lookups_are_one_listing_and_batched_prefetch(checkouts, tmp_path):
    """Misses are answered by one listing; hits by records prefetched in batches, not one request each."""
    from assetbuild import remote as remote_mod

    url = f"file://{tmp_path / 'shared'}"
    a = checkouts()
    a.build(url)
    seen = []
    orig = remote_mod.RemoteCachedStore.close

    def spy(self):
        seen.append(dict(self.remote.requests))
        orig(self)

    b = checkouts()
    (b.root / "raw.txt").write_text("changed")  # no key of b is on the remote now
    remote_mod.RemoteCachedStore.close = spy
    try:
        b.build(url, remote_read_only=True)
        c = checkouts()
        c.build(url, remote_read_only=True)
    finally:
        remote_mod.RemoteCachedStore.close = orig
    miss, hit = seen
    assert miss["list"] == 1 and miss["record"] == 0 and miss["blob"] == 0
    assert hit["list"] == 1 and hit["record"] == 0 and hit["records"] == 4 and hit["blob"] == 4


def test_upload_skips_a_large_blob_the_remote_has(checkouts, remote):
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    big = a.head("big").output_digest
    before = fs.info(_blob_path(root, big))
    time.sleep(1.1)
    r = a.build(url, force=True)
    assert r.ok and a.ran == ALL
    after = fs.info(_blob_path(root, big))
    stamp = "LastModified" if "LastModified" in before else "mtime"
    assert after[stamp] == before[stamp], "the 300 KB blob was uploaded again"


# --- tampering and keys -----------------------------------------------------------------------

def _tamper_blob(fs, root, digest):
    data = bytearray(fs.cat_file(_blob_path(root, digest)))
    data[len(data) // 2] ^= 0x01
    fs.pipe_file(_blob_path(root, digest), bytes(data))


@pytest.mark.parametrize("which", ["small", "big"])
def test_tampered_blob_is_rejected_and_rebuilt(checkouts, remote, which):
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    _tamper_blob(fs, root, a.head(which).output_digest)

    b = checkouts()
    r = b.build(url)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert which in b.ran
    assert r.by_asset()[which] == "built"
    assert any(f"entry for {which!r} (key " in w and "do not match the signed digest" in w
               for w in b.warnings), b.warnings  # named by its asset, not only its key
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20
    assert (b.root / "out/report.txt").read_text() == "300000 10\n"
    # the rebuilding writer repaired the remote: the next fresh checkout runs nothing
    c = checkouts()
    r = c.build(url)
    assert r.ok and c.ran == set() and c.warnings == []


FILES_ASSETFILE = run_counter() + """
from assetbuild import asset


@asset(outputs=["weights/"])
def weights(context):
    _ran("weights")
    d = context.out("weights/")
    (d / "large.bin").write_bytes(bytes(range(256)) * 2048)  # 512 KiB: asked for before an upload
    (d / "small.txt").write_text("small")
"""


@pytest.mark.parametrize("member", ["large.bin", "small.txt"])
def test_a_tampered_file_of_an_outputs_asset_is_rebuilt_and_repaired(checkouts, remote, member):
    """A file an ``outputs=`` asset wrote, altered on the remote (its size kept): the asset is
    rebuilt, and the rebuilding writer uploads the file again, so the next checkout runs nothing
    (the remote held a blob of the right size, which is no proof of the right bytes)."""
    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(FILES_ASSETFILE)
    assert a.build(url).ok and a.ran == {"weights"}
    import hashlib

    _tamper_blob(fs, root, hashlib.sha256((a.root / "weights" / member).read_bytes()).hexdigest())

    b = checkouts()
    (b.root / "AssetFile").write_text(FILES_ASSETFILE)
    r = b.build(url)
    assert r.ok and b.ran == {"weights"}
    # one warning, the remote's (the rebuild it leads to says nothing more: README, "one warning")
    assert len(b.warnings) == 1 and "do not match the signed digest" in b.warnings[0], b.warnings
    assert "entry for 'weights' (key " in b.warnings[0], b.warnings
    assert (b.root / "weights" / member).read_bytes() == (a.root / "weights" / member).read_bytes()
    c = checkouts()
    (c.root / "AssetFile").write_text(FILES_ASSETFILE)
    r = c.build(url)
    assert r.ok and c.ran == set() and c.warnings == [], c.warnings
    assert (c.root / "weights" / member).read_bytes() == (a.root / "weights" / member).read_bytes()


@pytest.mark.parametrize("how", ["leaves the project", "other outputs"])
def test_a_remote_list_of_files_never_writes_outside_the_declared_outputs(checkouts, remote, how):
    """A signed record under the real key of an ``outputs=`` asset (a writer holds the key, or a
    reader trusts unsigned ones) points at a list of files naming a path out of the project, or
    other outputs than the asset declares: rejected with one warning, built here, and nothing
    written outside its declared outputs."""
    import hashlib

    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(FILES_ASSETFILE)
    assert a.build(url).ok and a.ran == {"weights"}
    head = a.head("weights")
    magic = b"assetbuild-files 1\n"
    doc = json.loads(fs.cat_file(_blob_path(root, head.output_digest))[len(magic):])
    evil = b"evil = 1\n"
    def put(path, data):
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)  # (a file:// folder is not made by a write)
        fs.pipe_file(path, data)

    put(_blob_path(root, hashlib.sha256(evil).hexdigest()), evil)
    row = [hashlib.sha256(evil).hexdigest(), 0o644, len(evil)]
    if how == "leaves the project":
        doc["files"].append(["weights/../../escaped.txt", *row])
    else:
        doc["outputs"], doc["files"] = ["lib/", "weights/"], [["lib/mine.py", *row], *doc["files"]]
    listing = magic + json.dumps(doc, separators=(",", ":")).encode()
    digest = hashlib.sha256(listing).hexdigest()
    put(_blob_path(root, digest), listing)
    trace = Trace(digest, digest, head.io, len(listing), 0.1, head.built_ns, "")
    fs.pipe_file(_record_path(root, head.key), encode_record(head.key, trace, asset="weights",
                                                             keys=RecordKeys.of(KEY.encode())))
    b = checkouts()
    (b.root / "AssetFile").write_text(FILES_ASSETFILE)
    (b.root / "lib").mkdir()
    (b.root / "lib" / "mine.py").write_text("mine = 1\n")
    r = b.build(url, remote_read_only=True)
    assert r.ok and b.ran == {"weights"} and r.by_asset() == {"weights": "built"}
    assert len(b.warnings) == 1 and "'weights'" in b.warnings[0], b.warnings
    assert (b.root / "lib" / "mine.py").read_text() == "mine = 1\n"
    assert not (b.root.parent / "escaped.txt").exists() and not (b.root / "escaped.txt").exists()
    assert sorted(p.name for p in (b.root / "weights").iterdir()) == ["large.bin", "small.txt"]


def _edit_record(fs, root, key, edit):
    path = _record_path(root, key)
    env = json.loads(fs.cat_file(path))
    edit(env)
    fs.pipe_file(path, json.dumps(env).encode())


def _payload(env, **changes):
    p = json.loads(env["payload"])
    p.update(changes)
    env["payload"] = json.dumps(p, sort_keys=True, separators=(",", ":"))


TAMPERS = {
    "data-version": lambda env: _payload(env, data_version="0" * 64),
    "digest": lambda env: _payload(env, output_digest="1" * 64),
    "signature": lambda env: env.update(sig="0" * 64),
    "unsigned": lambda env: env.update(sig=None),
    "garbage": lambda env: env.update(payload="{not json"),
}


@pytest.mark.parametrize("how", sorted(TAMPERS))
def test_tampered_record_is_rejected_and_rebuilt(checkouts, remote, how):
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    _edit_record(fs, root, a.head("small").key, TAMPERS[how])

    b = checkouts()
    r = b.build(url)
    assert r.ok
    assert "small" in b.ran and r.by_asset()["small"] == "built"
    assert r.by_asset()["big"] == "restored"
    assert len(b.warnings) == 1 and "rejected" in b.warnings[0], b.warnings
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20


def test_a_record_replayed_under_another_key_is_rejected(checkouts, remote):
    """A genuine, signed record copied to another key's place (it would inject another output)."""
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    small, leaf = a.head("small").key, a.head("leaf").key
    fs.pipe_file(_record_path(root, leaf), fs.cat_file(_record_path(root, small)))

    b = checkouts()
    r = b.build(url)
    assert r.ok and "leaf" in b.ran
    assert any("another key" in w for w in b.warnings), b.warnings
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20


def test_wrong_key_rejects_everything_with_one_warning_and_a_count(checkouts, remote, monkeypatch):
    url, fs, root = remote
    checkouts().build(url)
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", "another secret")
    b = checkouts()
    r = b.build(url, remote_read_only=True)
    assert r.ok and b.ran == ALL
    assert len(b.warnings) == 2, b.warnings
    assert "signature does not verify" in b.warnings[0]
    assert "more entries of the remote cache were rejected" in b.warnings[1]


def test_without_a_key_the_remote_is_neither_used_nor_uploaded(checkouts, remote, monkeypatch):
    url, fs, root = remote
    checkouts().build(url)  # with the key: the remote has everything
    monkeypatch.delenv("ASSETBUILD_CACHE_KEY")
    b = checkouts()
    (b.root / "raw.txt").write_text("other data")
    r = b.build(url)
    assert r.ok and b.ran == ALL
    assert len(b.warnings) == 1 and "no key is set" in b.warnings[0]
    assert len(_objects(fs, root, "records")) == 4  # nothing of b's uploaded
    c = checkouts()
    c.build(url)
    assert c.ran == ALL  # nothing used either


def test_trust_remote_unsigned(checkouts, remote, monkeypatch):
    url, fs, root = remote
    monkeypatch.delenv("ASSETBUILD_CACHE_KEY")
    a = checkouts()
    r = a.build(url, trust_remote_unsigned=True)
    assert r.ok and a.warnings == []
    env = json.loads(fs.cat_file(_record_path(root, a.head("small").key)))
    assert env["sig"] is None
    b = checkouts()
    r = b.build(url, trust_remote_unsigned=True)
    assert r.ok and b.ran == set()
    # a build that has a key does not take unsigned entries unless told to
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", KEY)
    c = checkouts()
    c.build(url, remote_read_only=True)
    assert c.ran == ALL and "unsigned record" in c.warnings[0]


def test_read_only_uploads_nothing_but_reads(checkouts, remote):
    url, fs, root = remote
    a = checkouts()
    r = a.build(url, remote_read_only=True)
    assert r.ok and a.ran == ALL
    assert _objects(fs, root, "records") == [] and _objects(fs, root, "blobs") == []
    a.build(url, force=True)  # a trusted writer fills it
    b = checkouts()
    r = b.build(url, remote_read_only=True)
    assert r.ok and b.ran == set()


def test_file_remote_folder_is_created(checkouts, tmp_path):
    folder = tmp_path / "not" / "yet" / "there"
    a = checkouts()
    r = a.build(str(folder))  # a plain path is a local folder too
    assert r.ok and (folder / "records").is_dir()


@pytest.mark.parametrize("url", ["s3:/bucket/team", "s3:bucket/team", "file:/tmp/x"])
def test_a_url_missing_its_slashes_is_refused_not_made_a_folder(checkouts, url, monkeypatch):
    """`--remote s3:/bucket/team` (one slash) was a plain path: a folder named 's3:' in the
    working directory became the 'remote', silently, and nothing was shared."""
    from assetbuild.errors import ConfigError

    a = checkouts()
    scheme, rest = url.split(":", 1)
    with pytest.raises(ConfigError) as e:
        a.build(url)
    meant = {"s3": "s3://bucket/team", "file": "file:///tmp/x"}[scheme]
    assert str(e.value) == (f"remote={url!r}: a URL's scheme is followed by '://' (did you mean "
                            f"{meant}?); a folder is a path or file:///path")
    monkeypatch.setenv("ASSETBUILD_REMOTE", url)
    with pytest.raises(ConfigError, match=r"^\$ASSETBUILD_REMOTE "):
        a.build(None)
    assert not (a.root / f"{scheme}:").exists()  # (a relative folder is the project's)


# --- a remote that is down, slow or wrong never fails a build ----------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_builds_locally_with_one_warning(checkouts, s3_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nobody listens
    a = checkouts()
    t0 = time.monotonic()
    r = a.build("s3://cache/team", remote_timeout=1)
    assert r.ok and a.ran == ALL
    assert time.monotonic() - t0 < 15
    assert len(a.warnings) == 1 and "is unavailable" in a.warnings[0], a.warnings


def test_slow_server_is_bounded_by_the_timeout(checkouts, s3_env, monkeypatch):
    """A server that accepts connections and never answers: the build waits the timeout of one
    request and of its one retry (each a connection of its own), then builds locally."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{srv.getsockname()[1]}")
    try:
        a = checkouts()
        t0 = time.monotonic()
        r = a.build("s3://cache/team", remote_timeout=0.5)
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()
    assert r.ok and a.ran == ALL
    assert len(held) == 2, len(held)  # the listing and its retry; then the remote is left alone
    assert took < 20, took
    assert len(a.warnings) == 1 and "is unavailable" in a.warnings[0], a.warnings


@pytest.mark.parametrize("how", ["put", "put_file"])
def test_an_upload_the_server_never_answers_fails_by_its_deadline(stalling_server, tmp_path, monkeypatch, how):
    """A server that takes an upload's connection and never reads it: the request timeouts do
    not bound sending the body, the transfer's deadline does (its thread is free again: a
    watch or run process keeps none stuck)."""
    from assetbuild.remote import RemoteCache, RemoteSettings
    from assetbuild.remote.transport import UploadFailed

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stalling_server.server_address[1]}")
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(k, v)
    settings = RemoteSettings("s3://cache/x", timeout=0.5)
    cache = RemoteCache(settings)
    data = b"x" * 300_000
    source = tmp_path / "blob"
    source.write_bytes(data)
    failed: list[UploadFailed] = []

    def upload() -> None:
        try:
            if how == "put":
                cache.put(cache.blob_path("ab" * 32), data)
            else:
                cache.put_file(cache.blob_path("ab" * 32), source)
        except UploadFailed as e:
            failed.append(e)

    t = threading.Thread(target=upload, daemon=True)  # (a hang fails the test, not the test run)
    t.start()
    t.join(settings.deadline(len(data)) + 3)
    assert not t.is_alive(), "the upload still waits for the server"
    assert stalling_server.stalled
    assert len(failed) == 1 and "TimeoutError" in str(failed[0]), failed


def test_an_upload_abandoned_in_a_folder_that_stopped_answering_leaves_no_temp_file(checkouts, tmp_path, monkeypatch):
    """A folder remote that stops answering while an upload is written (its writer hangs before
    the rename): the build gives the upload up at its deadline, as before, and removes the
    hidden temp file it was writing, which the exit otherwise left in the shared folder."""
    import assetbuild.atomicfile as atomicfile

    release = threading.Event()
    real = atomicfile.crash_point
    monkeypatch.setattr(atomicfile, "crash_point",
                        lambda point: release.wait(60) if point == "remote-upload" else real(point))
    folder = tmp_path / "shared"
    a = checkouts()
    t0 = time.monotonic()
    try:
        r = a.build(f"file://{folder}", remote_timeout=0.1)
        took = time.monotonic() - t0
        left = list(folder.rglob(".*.assetbuild-tmp"))
    finally:
        release.set()
    assert r.ok and a.ran == ALL
    assert took < 4 * 0.1 + 5 + 3, took  # the deadline still bounds the exit (RemoteSettings.deadline)
    assert any("did not finish in time" in w for w in a.warnings), a.warnings
    assert left == []


def test_a_killed_uploads_temp_file_is_removed_by_the_next_upload_in_its_folder(tmp_path):
    """A build killed while it wrote an object into a folder remote leaves its hidden temp file
    there (as an upload abandoned in a folder that never answered again would): the next build
    whose upload into that folder goes through removes it (never one a live writer holds)."""
    from projects import clean_env, cli, end_group, start_cli

    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text("from assetbuild import asset\n\n\n@asset(io='bytes')\n"
                                    "def big():\n    return b'x' * 300_000\n")
    url = f"file://{tmp_path / 'shared'}"
    env = clean_env(ASSETBUILD_CACHE_KEY=KEY)
    p = start_cli("build", "--remote", url, cwd=root, env={**env, "ASSETBUILD_CRASH_AT": "remote-upload:1"})
    try:
        p.wait(timeout=120)
    finally:
        end_group(p)
    assert p.returncode == -9
    (tmp,) = (tmp_path / "shared").rglob(".*.assetbuild-tmp")
    an_hour_ago = time.time() - 3601  # (one written to since may be another machine's: test_atomicfile)
    os.utime(tmp, (an_hour_ago, an_hour_ago))
    shutil.rmtree(root / ".assetbuild")  # (the killed build may have recorded its run: build and upload again)
    done = cli("build", "--remote", url, cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    assert not tmp.exists() and not list((tmp_path / "shared").rglob(".*.assetbuild-tmp"))
    assert list((tmp_path / "shared" / "records").rglob("*"))  # and the upload went through


def test_lost_connections_on_fsspecs_loop_print_no_traceback(s3_env, caplog):
    """A server that resets connections while bodies upload fails aiohttp's task writing each
    body on fsspec's event loop, where nobody retrieves it: asyncio's "Task exception was never
    retrieved" traceback is not shown for those (the request gave its one warning); any other
    unretrieved error still is."""
    import asyncio
    import gc
    import logging

    import aiohttp
    from fsspec.asyn import sync

    from assetbuild.remote import RemoteCache, RemoteSettings

    cache = RemoteCache(RemoteSettings("s3://cache/x", timeout=1))
    cache.record_path("ab" * 32)  # connects (makes the client, sends nothing)

    async def lose(err: BaseException) -> None:
        async def write_bytes() -> None:
            raise err

        task = asyncio.ensure_future(write_bytes())
        await asyncio.sleep(0.01)
        del task

    caplog.set_level(logging.ERROR, logger="asyncio")
    sync(cache.fs.loop, lose, aiohttp.ClientConnectionResetError("Cannot write to closing transport"))
    sync(cache.fs.loop, lose, ConnectionResetError(104, "Connection reset by peer"))
    gc.collect()
    assert [r.getMessage() for r in caplog.records] == []
    sync(cache.fs.loop, lose, ValueError("a bug"))
    gc.collect()
    assert ["Task exception was never retrieved" in r.getMessage() for r in caplog.records] == [True]


def test_missing_bucket_is_one_warning(checkouts, s3_env):
    a = checkouts()
    r = a.build("s3://no-such-bucket/x", remote_timeout=2)
    assert r.ok and a.ran == ALL
    assert len(a.warnings) <= 1


def test_unknown_protocol_is_one_warning(checkouts):
    a = checkouts()
    r = a.build("nosuchproto://x/y")
    assert r.ok and a.ran == ALL
    assert len(a.warnings) == 1 and "nosuchproto" in a.warnings[0] and "unavailable" in a.warnings[0], a.warnings


def test_a_protocol_whose_library_is_missing_is_an_error_naming_its_install(checkouts):
    """gs:// without gcsfs was a warning (the build went on) that suggested the remote extra,
    which does not have gcsfs. Named by remote=, it is an error naming the library and the pip
    install of it (tests/test_remote_missing_library.py: the command, and $ASSETBUILD_REMOTE)."""
    import importlib.util

    from assetbuild.errors import ConfigError

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here: gs:// has its library")
    a = checkouts()
    with pytest.raises(ConfigError) as e:
        a.build("gs://bucket/team")
    assert str(e.value) == ("the remote cache gs://bucket/team needs gcsfs (for gs://), which is not installed: "
                            "pip install gcsfs")
    assert take_runs(a.runs) == {}  # nothing ran


def test_dry_run_does_not_touch_the_remote(checkouts, tmp_path):
    folder = tmp_path / "remote-for-dry-run"
    a = checkouts()
    r = a.build(f"file://{folder}", dry_run=True)
    assert r.ok and not folder.exists()


# --- records: signing and verification ----------------------------------------------------------

T = Trace("a" * 64, "b" * 64, "json@1", 12, 0.5, 1_700_000_000_000_000_000, '{"rows": 3}')
K1, K2 = "1" * 64, "2" * 64


def test_record_round_trip_and_binding():
    raw = encode_record(K1, T, asset="x", keys=RecordKeys.of(b"s"))
    assert decode_record(raw, K1, keys=RecordKeys.of(b"s"), trust_unsigned=False) == (T, "x")
    with pytest.raises(RemoteRejected, match="another key"):
        decode_record(raw, K2, keys=RecordKeys.of(b"s"), trust_unsigned=False)
    with pytest.raises(RemoteRejected, match="signature"):
        decode_record(raw, K1, keys=RecordKeys.of(b"other"), trust_unsigned=False)
    unsigned = encode_record(K1, T, asset="x")
    with pytest.raises(RemoteRejected, match="unsigned"):
        decode_record(unsigned, K1, keys=RecordKeys.of(b"s"), trust_unsigned=False)
    assert decode_record(unsigned, K1, trust_unsigned=True)[0] == T


def test_records_of_every_time_a_build_can_record_are_accepted(checkouts, tmp_path, monkeypatch):
    """ASSETBUILD_NOW goes up to (not including) 2500: a record built then (past 2262, beyond a
    signed 64-bit count of nanoseconds) is genuine and restored; a time no build records is not."""
    from assetbuild.clock import END_NS

    keys = RecordKeys.of(b"s")
    for created in (0, 1 << 63, END_NS - 1):
        t = T._replace(created_ns=created)
        assert decode_record(encode_record(K1, t, asset="x", keys=keys), K1, keys=keys)[0] == t
    with pytest.raises(RemoteRejected, match="malformed record payload"):
        decode_record(encode_record(K1, T._replace(created_ns=END_NS), asset="x", keys=keys), K1, keys=keys)
    monkeypatch.setenv("ASSETBUILD_NOW", "2499-12-31T23:59:59Z")
    url = f"file://{tmp_path / 'shared'}"
    checkouts().build(url)
    b = checkouts()
    r = b.build(url)
    assert r.ok and b.ran == set() and b.warnings == [], b.warnings


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_in_a_record_is_rejected_or_harmless(pos, bit):
    """Flipping any bit of a signed record never yields a different trace or key binding."""
    raw = bytearray(encode_record(K1, T, asset="x", keys=RecordKeys.of(b"s")))
    raw[pos % len(raw)] ^= 1 << bit
    try:
        trace, _ = decode_record(bytes(raw), K1, keys=RecordKeys.of(b"s"), trust_unsigned=False)
    except RemoteRejected:
        return
    assert trace == T  # only bytes outside the signed payload (JSON whitespace/escapes) can change


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_planted_pickle_is_never_loaded(checkouts, tmp_path):
    """Someone with write access but no key replaces an output by a pickle that runs code when
    loaded, and writes an unsigned record for it: neither is used, the payload never runs."""
    import hashlib
    import pickle

    folder = tmp_path / "shared"
    a = checkouts()
    (a.root / "AssetFile").write_text(ASSETFILE + '\n\n@asset\ndef obj(small):\n    return dict(small)\n')
    a.build(f"file://{folder}")
    key = a.head("obj").key
    sentinel = tmp_path / "PWNED"
    evil = pickle.dumps(_Evil(str(sentinel)))
    digest = hashlib.sha256(evil).hexdigest()
    rec = folder / "records" / key[:2] / key
    # 1. the same (signed) record, another blob under its digest's name
    blob = folder / "blobs" / a.head("obj").output_digest[:2] / a.head("obj").output_digest
    blob.write_bytes(evil)
    b = checkouts()
    (b.root / "AssetFile").write_text((a.root / "AssetFile").read_text())
    r = b.build(f"file://{folder}", remote_read_only=True)
    assert r.ok and not sentinel.exists()
    # 2. an unsigned record pointing at the planted blob
    (folder / "blobs" / digest[:2]).mkdir(exist_ok=True)
    (folder / "blobs" / digest[:2] / digest).write_bytes(evil)
    trace = Trace(digest, digest, "pickle@1", len(evil), 0.0, 0, "")
    rec.write_bytes(encode_record(key, trace, asset="obj"))
    c = checkouts()
    (c.root / "AssetFile").write_text((a.root / "AssetFile").read_text())
    r = c.build(f"file://{folder}", remote_read_only=True)
    assert r.ok and "obj" in {x.asset for x in r.results if x.status == "built"}
    assert not sentinel.exists()
    assert assetbuild.load_value("obj", project_dir=c.root) == {"n": 10}


def test_a_null_build_sends_no_request(checkouts, s3_env, monkeypatch):
    """Everything local: the remote is never contacted (here it is down, and nobody notices)."""
    a = checkouts()
    a.build(None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    r = a.build("s3://cache/team", remote_timeout=1)
    assert r.ok and a.ran == set() and a.warnings == []


def test_parallel_build_uploads_and_a_fresh_checkout_restores(checkouts, remote):
    """-j 2: threads run the assets; store and remote calls stay on the scheduler's thread.
    (Not the process executor here: its workers can outlive a test and keep an old AB_RUNS.)"""
    url, fs, root = remote
    a = checkouts()
    r = a.build(url, jobs=2, executor="threads")
    assert r.ok and a.ran == ALL and r.by_asset() == dict.fromkeys(ALL, "built")
    b = checkouts()
    r = b.build(url, jobs=2, executor="threads")
    assert r.ok and b.ran == set() and r.by_asset() == dict.fromkeys(ALL, "restored")
    assert (b.root / "out/report.txt").read_text() == "300000 10\n"


SPOOLED_ASSETFILE = """\
from assetbuild import asset


@asset(io="bytes")
def huge():
    return b"x" * (2 << 20)                 # 2 MiB: a process worker hands it over in a file


@asset(io="json")
def size(huge):
    return len(huge)
"""


def test_a_large_output_of_a_process_worker_is_uploaded_and_restored(checkouts, remote):
    """An output of SPOOL_MIN bytes or more reaches the store as a file (put_blob_file), not as
    bytes: it is uploaded all the same, and a fresh checkout restores it without running it.
    (Statuses, not the run counter: process workers can outlive a test and keep an old AB_RUNS.)"""
    from assetbuild.execute import SPOOL_MIN

    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(SPOOLED_ASSETFILE)
    r = a.build(url, jobs=2, executor="processes")
    assert r.ok and r.by_asset() == {"huge": "built", "size": "built"}, [(x.asset, x.error) for x in r.results]
    huge = a.head("huge")
    assert huge.size >= SPOOL_MIN
    assert fs.size(_blob_path(root, huge.output_digest)) == huge.size
    assert len(_objects(fs, root, "records")) == 2

    b = checkouts()
    (b.root / "AssetFile").write_text(SPOOLED_ASSETFILE)
    r = b.build(url, jobs=2, executor="processes")
    assert r.ok and r.by_asset() == {"huge": "restored", "size": "restored"}
    assert assetbuild.load_value("huge", project_dir=b.root) == b"x" * (2 << 20)


def test_an_asset_that_runs_gets_its_inputs_from_the_remote(checkouts, remote):
    """A changed downstream asset runs in a fresh checkout: its inputs' bytes come from the remote."""
    url, fs, root = remote
    checkouts().build(url)
    b = checkouts()
    text = (b.root / "AssetFile").read_text()
    (b.root / "AssetFile").write_text(text.replace('return f"{len(big)} {small[\'n\']}\\n"',
                                                   'return f"{len(big)}+{small[\'n\']}\\n"'))
    r = b.build(url)
    assert r.ok and b.ran == {"report"}
    assert r.by_asset() == {"big": "restored", "small": "restored", "leaf": "restored", "report": "built"}
    assert (b.root / "out/report.txt").read_text() == "300000+10\n"


def test_a_tampered_input_of_an_asset_that_runs_is_rebuilt_first(checkouts, remote):
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    _tamper_blob(fs, root, a.head("big").output_digest)
    b = checkouts()
    text = (b.root / "AssetFile").read_text()
    (b.root / "AssetFile").write_text(text.replace('return f"{len(big)} {small[\'n\']}\\n"',
                                                   'return f"{len(big)}+{small[\'n\']}\\n"'))
    r = b.build(url)
    assert r.ok and b.ran == {"big", "report"}
    assert (b.root / "out/report.txt").read_text() == "300000+10\n"
    assert any("do not match the signed digest" in w for w in b.warnings), b.warnings


def test_dry_run_and_status_say_what_the_remote_has(checkouts, remote):
    url, fs, root = remote
    checkouts().build(url)
    records = sorted(_objects(fs, root, "records"))
    b = checkouts()
    r = b.build(url, dry_run=True)
    assert r.ok and b.ran == set()
    assert {x.asset: x.metadata.get("would") for x in r.results} == dict.fromkeys(ALL, "restore")
    assert all(x.reasons[-1].code == "remote" for x in r.results)
    st = {s.asset: s for s in assetbuild.status(project_dir=b.root, remote=url)}
    assert {n: s.state for n, s in st.items()} == dict.fromkeys(ALL, "missing")
    assert all(s.reasons[0].code == "remote" for s in st.values())
    assert not (b.root / ".assetbuild" / "db").exists() and not (b.root / "out").exists()
    assert sorted(_objects(fs, root, "records")) == records
    # with --force a dry run would run them
    r = b.build(url, dry_run=True, force=True)
    assert {x.metadata.get("would") for x in r.results} == {"run"}
    b.build(url)
    st = {s.asset: s.state for s in assetbuild.status(project_dir=b.root, remote=url)}
    assert st == dict.fromkeys(ALL, "fresh")


def test_a_local_entry_whose_bytes_are_gone_is_restored_from_the_remote(checkouts, remote):
    """A local trace without its bytes is a miss in effect: the remote's entry for the key is
    restored (and -n and status say so), rather than the asset run again."""
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    big = a.head("big")
    for p in (a.root / ".assetbuild" / "cas").rglob("*"):
        if p.is_file():
            p.unlink()  # the local bytes are lost; the remote holds them
    r = a.build(url, dry_run=True)
    (dry,) = [x for x in r.results if x.asset == "big"]
    assert dry.metadata.get("would") == "restore" and dry.reasons[-1].code == "remote", dry
    st = {s.asset: s for s in assetbuild.status(project_dir=a.root, remote=url)}
    assert st["big"].state == "stale" and st["big"].reasons[0].code == "remote"
    r = a.build(url)
    assert r.ok and a.ran == set() and a.warnings == []
    assert r.by_asset()["big"] == "restored"
    assert assetbuild.load_value("big", project_dir=a.root) == b"0123456789" * 30000
    assert a.head("big") == big
    st = {s.asset: s.state for s in assetbuild.status(project_dir=a.root)}
    assert st == dict.fromkeys(ALL, "fresh")


def test_a_restore_of_another_build_of_a_key_whose_bytes_are_gone_becomes_the_latest(checkouts, remote):
    """A local entry whose bytes are gone is restored from the remote; when the remote holds
    another build of that key (another machine built it, with another value), that build
    becomes the asset's latest (it stayed the old one, bytes gone: show failed, status said
    stale, the next build ran it again, while its reader was restored keyed on the remote's
    value), and the history's event names the value restored."""
    url, fs, root = remote
    a, b = checkouts(), checkouts()
    assert b.build(None).ok and b.ran == ALL  # b alone
    (a.root / "raw.txt").write_text("0123456789")
    assert a.build(url).ok and a.ran == ALL
    planted = b"9876543210" * 30000  # the remote's build of big's key has another value
    digest = hashlib.sha256(planted).hexdigest()
    fs.makedirs(_blob_path(root, digest).rsplit("/", 1)[0], exist_ok=True)
    fs.pipe(_blob_path(root, digest), planted)
    key = a.head("big").key
    trace = Trace(digest, digest, a.head("big").io, len(planted), 0.1, a.head("big").built_ns, "")
    fs.pipe(_record_path(root, key), encode_record(key, trace, asset="big", keys=RecordKeys(KEY.encode())))
    for p in (b.root / ".assetbuild" / "cas").rglob("*"):
        if p.is_file():
            p.unlink()  # b's own bytes of big are lost
    r = b.build(url)
    assert r.ok and r.by_asset()["big"] == "restored" and b.ran <= {"report"}, (r.by_asset(), b.ran)
    assert b.head("big").output_digest == digest
    assert assetbuild.load_value("big", project_dir=b.root) == planted
    st = {s.asset: s.state for s in assetbuild.status(project_dir=b.root)}
    assert st == dict.fromkeys(ALL, "fresh"), st
    event = assetbuild.asset_log("big", project_dir=b.root)["events"][0]
    assert event["kind"] == "restored" and event["data_version"] == digest, event
    r = b.build(None)
    assert b.ran == set() and r.by_asset() == dict.fromkeys(ALL, "cached")


def test_a_folder_remote_may_be_given_as_a_path(checkouts, tmp_path):
    """remote= takes a folder's pathlib.Path, as project_dir= does (it raised a raw TypeError
    from re that named no argument); anything but text or a path is a TypeError naming it."""
    folder = tmp_path / "shared"
    a = checkouts()
    assert a.build(folder).ok and a.ran == ALL and a.warnings == []
    assert len(list((folder / "records").rglob("*"))) > 4
    b = checkouts()
    assert b.build(folder).by_asset() == dict.fromkeys(ALL, "restored") and b.ran == set()
    st = {s.asset: s.state for s in assetbuild.status(project_dir=b.root, remote=folder)}
    assert st == dict.fromkeys(ALL, "fresh")
    with pytest.raises(TypeError, match="remote="):
        b.build(5)


EXPIRING = """\
import os
from assetbuild import asset

@asset(io="bytes", max_age="1h")
def x():
    return os.urandom(200_000)
"""


def _expiring_checkout(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "AssetFile").write_text(EXPIRING)
    return root


def _quiet_build(root: Path, url: str) -> assetbuild.BuildResult:
    return assetbuild.build(project_dir=root, remote=url,
                            reporter=Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2))


def test_a_run_of_an_expired_remote_hit_keeps_its_own_latest_build(tmp_path, monkeypatch, remote):
    """An asset whose remote entry is expired (max_age) runs here, while the download its
    lookup started may still be under way: the build's own head is recorded whatever that
    download does (it was held back behind it, and lost when the remote's bytes were
    rejected), and the trace of its key stays this build's (the download, landing later,
    recorded the remote's expired one over it: head and trace then disagreed)."""
    url, fs, root = remote
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", KEY)
    monkeypatch.delenv("ASSETBUILD_REMOTE", raising=False)
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T10:00:00Z")
    assert _quiet_build(_expiring_checkout(tmp_path / "a"), url).ok
    (blob,) = _objects(fs, root, "blobs")
    (record,) = _objects(fs, root, "records")
    good, expired = fs.cat(blob), fs.cat(record)
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T12:00:00Z")
    for name, planted in (("bad", b"X" + good[1:]), ("good", good)):  # rejected, then landing
        fs.pipe(blob, planted)
        fs.pipe(record, expired)  # (the build before uploaded its own, fresh)
        b = _expiring_checkout(tmp_path / name)
        r = _quiet_build(b, url)
        assert r.ok and r.by_asset() == {"x": "built"}, name
        with LmdbStore(b / ".assetbuild", readonly=True) as s:
            head = s.get_head("x")
            assert head is not None, name
            assert s.get_trace(head.key).data_version == head.data_version, name
        assert assetbuild.load_value("x", project_dir=b) != good


def test_an_expired_local_entry_is_restored_from_a_fresher_remote_build_of_its_key(tmp_path, monkeypatch, remote):
    """max_age: the local build of a key expired, and another machine built the key again
    since (within max_age) and uploaded it: that build is restored, not the asset run again
    (-n and status say so); it becomes the latest build, and counts its age from when it was
    built there. A remote build that expired too is not downloaded: the asset runs."""
    url, fs, root = remote
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", KEY)
    monkeypatch.delenv("ASSETBUILD_REMOTE", raising=False)
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T10:00:00Z")
    b = _expiring_checkout(tmp_path / "b")
    assert _quiet_build(b, url).ok
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T12:00:00Z")
    a = _expiring_checkout(tmp_path / "a")
    assert _quiet_build(a, url).by_asset() == {"x": "built"}  # expired there too: built again, uploaded
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T12:10:00Z")
    (dry,) = assetbuild.build(project_dir=b, remote=url, dry_run=True).results
    assert dry.metadata.get("would") == "restore" and dry.reasons[-1].code == "remote", dry
    (st,) = assetbuild.status(project_dir=b, remote=url)
    assert st.state == "stale" and st.reasons[0].code == "remote", st
    r = _quiet_build(b, url)
    assert r.by_asset() == {"x": "restored"}
    assert assetbuild.load_value("x", project_dir=b) == assetbuild.load_value("x", project_dir=a)
    (st,) = assetbuild.status(project_dir=b)
    assert st.state == "fresh", st
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T13:30:00Z")  # both expired now
    c = _expiring_checkout(tmp_path / "c")
    assert _quiet_build(c, None).ok
    monkeypatch.setenv("ASSETBUILD_NOW", "2026-01-01T15:00:00Z")
    with LmdbStore(c / ".assetbuild", readonly=True) as s:
        was = s.get_head("x")
    r = _quiet_build(c, url)
    assert r.by_asset() == {"x": "built"}
    with LmdbStore(c / ".assetbuild", readonly=True) as s:
        head = s.get_head("x")
        assert head.data_version != was.data_version and s.get_trace(head.key).data_version == head.data_version


def test_files_of_an_outputs_asset_gone_with_their_local_copies_are_restored_from_the_remote(checkouts, remote):
    """The files an ``outputs=`` asset wrote, gone from the project and their stored copies
    gone from the local cache (its entry and list of files kept: a CI cache restored in part):
    the remote holds them, so they are restored from it (and -n and status say so), rather than
    the asset run again (it was, though a plain value's lost bytes were restored)."""
    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(FILES_ASSETFILE)
    assert a.build(url).ok and a.ran == {"weights"}
    want = {p.name: p.read_bytes() for p in (a.root / "weights").iterdir()}
    for p in [*(a.root / ".assetbuild" / "cas").rglob("*"), *(a.root / "weights").iterdir()]:
        if p.is_file():
            p.unlink()
    r = a.build(url, dry_run=True)
    assert r.results[0].metadata.get("would") == "restore" and r.results[0].reasons[-1].code == "remote", r.results
    st = {s.asset: s for s in assetbuild.status(project_dir=a.root, remote=url)}
    assert st["weights"].state == "stale" and st["weights"].reasons[0].code == "remote"
    r = a.build(url)
    assert r.ok and a.ran == set() and a.warnings == [], a.warnings
    assert r.by_asset()["weights"] == "restored"
    assert {p.name: p.read_bytes() for p in (a.root / "weights").iterdir()} == want
    r = a.build(None)  # the files' copies are back in the local cache too
    assert r.ok and a.ran == set() and r.by_asset()["weights"] == "cached"


def test_a_file_planted_at_the_local_spool_folder_is_the_local_caches_fault(checkouts, remote, tmp_path):
    """Restoring a large blob from the remote streams it into the local ``cas/tmp``: a file
    planted there receives nothing, and the build stops as for any fault of the local cache
    (a StoreError naming it), rather than calling the remote unavailable, turning it off and
    running the asset because its bytes "did not arrive intact". A symlink there is replaced
    by a directory as the build starts (only the link goes), and the restore goes on."""
    from assetbuild.errors import StoreError

    url, fs, root = remote
    a = checkouts()
    a.build(url)
    for p in (a.root / ".assetbuild" / "cas").rglob("*"):
        if p.is_file():
            p.unlink()  # the local bytes are lost; the remote holds them
    spool, elsewhere = a.root / ".assetbuild" / "cas" / "tmp", tmp_path / "elsewhere"
    elsewhere.mkdir()
    if spool.exists():
        spool.rmdir()
    spool.write_text("mine")
    err = io.StringIO()
    with pytest.raises(StoreError, match=f"into the local cache: {spool} is not a directory"):
        assetbuild.build(project_dir=a.root, remote=url, reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
    assert "unavailable" not in err.getvalue() and "intact" not in err.getvalue(), err.getvalue()
    assert spool.read_text() == "mine" and a.head("big") is not None
    spool.unlink()
    spool.symlink_to(elsewhere)
    r = a.build(url)
    assert r.ok and r.by_asset()["big"] == "restored" and a.ran == set(), a.warnings
    assert [w.split(" was a symlink")[0] for w in a.warnings] == [f"warning: {spool}"] and list(elsewhere.iterdir()) == []


def test_a_spool_folder_that_cannot_take_a_download_is_said_before_any_restored_line(tmp_path):
    """The download of a large blob failed in its worker, after the build had printed
    ``restored  big  (remote)``: a success, then the error saying nothing was restored. The
    spool folder is tried before the download starts: the error alone, exit 2. (A file planted
    there; a symlink, also refused then, is now replaced as the build starts.)"""
    root, url = tmp_path / "p", f"file://{tmp_path / 'remote'}"
    root.mkdir()
    (root / "AssetFile").write_text('from assetbuild import asset\n\n\n@asset(io="bytes")\ndef big():\n'
                                    '    return b"0123456789" * 300000\n')
    env = clean_env(ASSETBUILD_CACHE_KEY=KEY)
    assert cli("--remote", url, cwd=root, env=env).returncode == 0
    cas = root / ".assetbuild" / "cas"
    for p in cas.rglob("*"):
        if p.is_file():
            p.unlink()  # the local bytes are lost; the remote holds them
    spool = cas / "tmp"
    if spool.exists():
        spool.rmdir()
    spool.write_text("mine")
    r = cli("--remote", url, cwd=root, env=env)
    assert (r.returncode, r.stdout) == (2, ""), r.stdout
    assert r.stderr == (f"assetbuild: error: cannot restore from the remote cache into the local cache: {spool} is "
                        "not a directory: assetbuild writes nothing through it (remove it)\n")
    spool.unlink()
    r = cli("--remote", url, cwd=root, env=env)
    assert r.returncode == 0 and "restored  big  (remote)" in r.stdout, r.stdout + r.stderr


VOLATILE = """\
from assetbuild import asset


@asset(io="json", volatile=True)
def clock():
    return "same every time"


@asset(io="json")
def reader(clock):
    return clock.upper()
"""


def test_a_volatile_assets_record_is_not_uploaded_its_readers_is(checkouts, remote):
    """No build can look a volatile asset's key up (a fresh random part each build): its record
    is never uploaded; its reader's is, and another checkout restores the reader."""
    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(VOLATILE)
    for _ in range(2):
        assert a.build(url).ok
    reader = a.head("reader")
    assert [p.rsplit("/", 1)[-1] for p in _objects(fs, root, "records")] == [reader.key]
    b = checkouts()
    (b.root / "AssetFile").write_text(VOLATILE)
    assert b.build(url).by_asset() == {"clock": "built", "reader": "restored"}


# --- untrusted input: records and blobs written by anyone who can write to the remote -------------

PLANTED = {
    "lone surrogate": json.dumps({"format": 1, "payload": "\ud800", "sig": "0" * 64}).encode(),
    "deep nesting": b"[" * 200000,
    "wrong types": json.dumps({"format": 1, "payload": {"size": "big"}, "sig": 7}).encode(),
    "not UTF-8": b'{"format": 1, "payload": "\xff", "sig": null}',
    "empty": b"",
}


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_a_planted_record_is_rejected_counted_and_built_locally(checkouts, remote, what):
    """Anyone with write access and no key overwrites every record: build, -n and status go on
    (no traceback), with one warning and a count, and the build runs everything locally."""
    url, fs, root = remote
    a = checkouts()
    a.build(url)
    for path in _objects(fs, root, "records"):
        fs.pipe_file(path, PLANTED[what])
    b = checkouts()
    r = b.build(url, dry_run=True)
    assert r.ok and {x.metadata.get("would") for x in r.results} == {"run"}
    assert len(b.warnings) == 2 and "was rejected: malformed record" in b.warnings[0], b.warnings
    st = {s.asset: s.state for s in assetbuild.status(project_dir=b.root, remote=url)}
    assert st == dict.fromkeys(ALL, "missing")
    r = b.build(url, remote_read_only=True)
    assert r.ok and b.ran == ALL and r.by_asset() == dict.fromkeys(ALL, "built")
    assert len(b.warnings) == 2, b.warnings
    assert "rejected" in b.warnings[0] and "3 more entries of the remote cache were rejected" in b.warnings[1]
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "symlink to a genuine record"])
def test_special_files_planted_in_a_file_remote_never_hang_and_are_rejected(checkouts, tmp_path, kind):
    """A FIFO would block a read for ever, /dev/zero would never end, a symlink reads whatever it
    points at: in a file:// remote each is a malformed entry, rejected at once and counted."""
    folder = tmp_path / "shared"
    a = checkouts()
    a.build(f"file://{folder}")
    records = sorted(p for p in (folder / "records").rglob("*") if p.is_file())
    blobs = sorted(p for p in (folder / "blobs").rglob("*") if p.is_file())
    assert records and blobs
    genuine = tmp_path / "genuine-record"
    genuine.write_bytes(records[0].read_bytes())
    for path in records + blobs:
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "symlink to /dev/zero":
            path.symlink_to("/dev/zero")
        else:
            path.symlink_to(genuine)
    b = checkouts()
    t0 = time.monotonic()
    r = b.build(f"file://{folder}", remote_read_only=True)
    assert time.monotonic() - t0 < 30
    assert r.ok and b.ran == ALL and r.by_asset() == dict.fromkeys(ALL, "built")
    assert b.warnings and "rejected" in b.warnings[0], b.warnings
    assert assetbuild.load_value("leaf", project_dir=b.root) == 20


@pytest.mark.parametrize("size", [4096, 4097, 5000, 10_000])  # (whole chunks, one past, a part chunk)
def test_a_blob_streams_into_a_file_in_bounded_reads(remote, tmp_path, monkeypatch, size):
    """A large blob is downloaded into a file in pieces (never whole in memory), verified as a
    whole read is: larger than signed, other bytes or missing are rejected, and leave no file."""
    import hashlib

    from assetbuild.remote import RemoteCache, RemoteSettings, transport

    url, fs, root = remote
    monkeypatch.setattr(transport, "_STREAM_CHUNK", 1024)
    cache = RemoteCache(RemoteSettings(url))
    reads: list[int] = []
    if not cache.local:
        cat = cache.fs.cat_file
        monkeypatch.setattr(cache.fs, "cat_file", lambda path, start, end: reads.append(end - start) or cat(
            path, start=start, end=end))
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    cache.put(cache.blob_path(digest), data)
    spool = tmp_path / "spool"
    path = cache.get_blob_file(digest, size, str(spool))
    assert Path(path).read_bytes() == data and Path(path).parent == spool
    if not cache.local:  # ranged reads of a chunk each (the last one byte more: never an empty range)
        assert max(reads) <= 1025 and len(reads) == -(-size // 1024), reads
    bad = [("larger than signed", data + b"x"), ("do not match", data[:-1] + bytes([data[-1] ^ 1]))]
    for why, planted in bad:
        fs.pipe_file(_blob_path(root, digest), planted)
        with pytest.raises(RemoteRejected, match=why):
            cache.get_blob_file(digest, size, str(spool))
    with pytest.raises(RemoteRejected, match="missing"):
        cache.get_blob_file("cd" * 32, size, str(spool))
    assert sorted(spool.iterdir()) == [Path(path)]  # no temp file left by a rejection


def test_a_blob_larger_than_signed_is_rejected_without_reading_it(checkouts, tmp_path):
    """The genuine bytes followed by 3 GiB of holes under a genuine digest: rejected, rebuilt,
    and only one byte past the signed size was read (a 3 GiB read would take seconds and memory)."""
    folder = tmp_path / "shared"
    a = checkouts()
    a.build(f"file://{folder}")
    dg = a.head("big").output_digest
    with open(folder / "blobs" / dg[:2] / dg, "r+b") as f:
        f.truncate(3 << 30)
    b = checkouts()
    t0 = time.monotonic()
    r = b.build(f"file://{folder}", remote_read_only=True)
    assert r.ok and "big" in b.ran and r.by_asset()["big"] == "built"
    assert any("larger than signed" in w for w in b.warnings), b.warnings
    assert time.monotonic() - t0 < 30


# --- Ed25519: writers sign with the private key, readers hold public keys only -------------------

@pytest.fixture
def key_pair(monkeypatch):
    from assetbuild.remote import generate_key_pair

    monkeypatch.delenv("ASSETBUILD_CACHE_KEY")
    return generate_key_pair()


def test_ed25519_writer_signs_and_a_public_key_reader_restores_but_never_uploads(
        checkouts, remote, key_pair, monkeypatch):
    url, fs, root = remote
    signing, public = key_pair
    monkeypatch.setenv("ASSETBUILD_CACHE_SIGNING_KEY", signing)
    a = checkouts()
    r = a.build(url)
    assert r.ok and a.warnings == []
    env = json.loads(fs.cat_file(_record_path(root, a.head("small").key)))
    assert env["sig"] is None and set(env["ed25519"]) == {"key", "sig"}

    monkeypatch.delenv("ASSETBUILD_CACHE_SIGNING_KEY")
    monkeypatch.setenv("ASSETBUILD_CACHE_TRUSTED_KEYS", public)
    b = checkouts()
    r = b.build(url)
    assert r.ok and b.ran == set() and b.warnings == []
    assert r.by_asset() == dict.fromkeys(ALL, "restored")
    c = checkouts()  # other data: everything runs, and nothing is uploaded (no flag needed)
    (c.root / "raw.txt").write_text("other, longer data")
    r = c.build(url)
    assert r.ok and c.ran == ALL and c.warnings == []
    assert len(_objects(fs, root, "records")) == 4


def test_a_record_signed_by_an_untrusted_key_is_rejected(checkouts, remote, key_pair, monkeypatch):
    from assetbuild.remote import generate_key_pair

    url, fs, root = remote
    signing, public = key_pair
    monkeypatch.setenv("ASSETBUILD_CACHE_SIGNING_KEY", generate_key_pair()[0])  # someone else's
    checkouts().build(url)
    monkeypatch.delenv("ASSETBUILD_CACHE_SIGNING_KEY")
    monkeypatch.setenv("ASSETBUILD_CACHE_TRUSTED_KEYS", public)
    b = checkouts()
    r = b.build(url)
    assert r.ok and b.ran == ALL
    assert "not in ASSETBUILD_CACHE_TRUSTED_KEYS" in b.warnings[0], b.warnings


def test_hmac_and_ed25519_together(checkouts, tmp_path, key_pair, monkeypatch):
    """A writer holding both keys serves readers of either kind (a migration from HMAC)."""
    url = f"file://{tmp_path / 'shared'}"
    signing, public = key_pair
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", KEY)
    monkeypatch.setenv("ASSETBUILD_CACHE_SIGNING_KEY", signing)
    checkouts().build(url)
    monkeypatch.delenv("ASSETBUILD_CACHE_SIGNING_KEY")
    b = checkouts()
    assert b.build(url).ok and b.ran == set() and b.warnings == []
    monkeypatch.delenv("ASSETBUILD_CACHE_KEY")
    monkeypatch.setenv("ASSETBUILD_CACHE_TRUSTED_KEYS", public)
    c = checkouts()
    assert c.build(url).ok and c.ran == set() and c.warnings == []


def test_a_malformed_key_is_a_config_error(checkouts, tmp_path, monkeypatch):
    from assetbuild.errors import ConfigError

    monkeypatch.setenv("ASSETBUILD_CACHE_TRUSTED_KEYS", "ed25519:not-a-key")
    with pytest.raises(ConfigError, match="ASSETBUILD_CACHE_TRUSTED_KEYS is not an Ed25519 public key"):
        checkouts().build(f"file://{tmp_path / 'shared'}")


NONDETERMINISTIC = """\
import uuid

from assetbuild import asset


@asset(io="text")
def token():
    return uuid.uuid4().hex      # another value on each run


@asset(io="text", path="out/seen.txt")
def seen(token):
    return f"seen {token}"


@asset(io="text")
def unrelated():
    return "same"
"""


def test_a_reader_of_an_asset_rebuilt_with_another_value_runs_again(checkouts, remote):
    """A remote hit whose bytes are rejected runs in the reader's checkout; if its value there is
    another than the signed record said (the asset's value differs run to run), the readers the
    build decided on the record's value run again, and the build ends with none stale."""
    url, fs, root = remote
    a = checkouts()
    (a.root / "AssetFile").write_text(NONDETERMINISTIC)
    a.build(url)
    _tamper_blob(fs, root, a.head("token").output_digest)
    b = checkouts()
    (b.root / "AssetFile").write_text(NONDETERMINISTIC)
    r = b.build(url)
    assert r.ok and r.by_asset() == {"token": "built", "seen": "built", "unrelated": "restored"}
    token = assetbuild.load_value("token", project_dir=b.root)
    assert (b.root / "out" / "seen.txt").read_text() == f"seen {token}"
    assert {s.asset: s.state for s in assetbuild.status(project_dir=b.root)} == dict.fromkeys(
        ("token", "seen", "unrelated"), "fresh")


FLAKY = """\
import os
import uuid

from assetbuild import asset


@asset(io="text")
def token():
    if os.environ.get("AB_FAIL"):
        raise ValueError("boom")
    return uuid.uuid4().hex      # another value on each run


@asset(io="text")
def shout(token):
    return token.upper()
"""


@pytest.mark.parametrize("fail", [False, True], ids=["rerun-builds", "rerun-fails"])
def test_a_rejected_remote_hit_run_again_is_what_its_run_records(checkouts, tmp_path, monkeypatch, fail):
    """The run of a build whose remote hit was rejected and run again records that run (its
    event in place of the restore that did not happen, or its failure), the final counts and the
    command's exit status; ``status`` then says ``failed`` when the rerun failed."""
    url = f"file://{tmp_path / 'shared'}"
    a = checkouts()
    (a.root / "AssetFile").write_text(FLAKY)
    a.build(url)
    import fsspec

    _tamper_blob(fsspec.filesystem("file"), str(tmp_path / "shared"), a.head("token").output_digest)
    b = checkouts()
    (b.root / "AssetFile").write_text(FLAKY)
    if fail:
        monkeypatch.setenv("AB_FAIL", "1")
    r = b.build(url)
    assert r.ok is not fail
    with LmdbStore(b.root / ".assetbuild", readonly=True) as s:
        (run,) = s.runs()
        token_events = s.events("token")
    assert run.seq == r.run and run.exit_status == int(fail)
    if fail:
        assert r.by_asset() == {"token": "failed", "shout": "skipped"}
        assert [e.kind for e in token_events] == ["failed"]
        assert run.counts == {"failed": 1, "skipped": 1}
        states = {s.asset: s.state for s in assetbuild.status(project_dir=b.root)}
        assert states["token"] == "failed"
    else:
        assert r.by_asset() == {"token": "built", "shout": "built"}
        assert [(e.kind, e.data_version) for e in token_events] == [("materialized", b.head("token").data_version)]
        assert token_events[0].reasons[0][0] == "repaired"  # not "forced: --force"
        assert run.counts == {"built": 2}
