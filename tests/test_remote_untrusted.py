"""The remote cache as untrusted input (remote.py): whoever can write to the remote, without any
key, can put any bytes in a record or a blob. Fuzzed records (arbitrary bytes, mutated JSON,
wrong types, deep nesting, lone surrogates) through ``decode_record`` and through the real
reading code over a real file:// remote; Ed25519 keys, their formats and their errors."""

from __future__ import annotations

import base64
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetbuild.errors import ConfigError
from assetbuild.remote import (
    MAX_RECORD,
    RecordKeys,
    RemoteCache,
    RemoteCachedStore,
    RemoteRejected,
    RemoteSettings,
    RemoteTrace,
    decode_record,
    encode_record,
    generate_key_pair,
    parse_signing_key,
    parse_trusted_keys,
    public_key_text,
)
from assetbuild.reports import Trace
from assetbuild.store import LmdbStore

T = Trace("a" * 64, "b" * 64, "json@1", 12, 0.5, 1_700_000_000_000_000_000, '{"rows": 3}')
K1 = "1" * 64
SIGNING, PUBLIC = generate_key_pair()
HMAC = RecordKeys.of(b"s")
ED_WRITER = RecordKeys.of(signing=parse_signing_key(SIGNING))
ED_READER = RecordKeys.of(trusted=parse_trusted_keys(PUBLIC))
# What the bugs this file guards against looked like: a traceback from build, status, -n, watch.
CRASHERS = {
    "lone surrogate": json.dumps({"format": 1, "payload": "\ud800", "sig": "0" * 64}).encode(),
    "deep nesting": b"[" * 200000,
    "deep nesting in the payload": json.dumps({"format": 1, "payload": "[" * 200000, "sig": None}).encode(),
    "deep format": json.dumps({"format": [[[[[[1]]]]]], "payload": "", "sig": None}).encode()[:-1] + b"[" * 100000,
    "not an object": b"[1, 2, 3]",
    "not UTF-8": b'{"format": 1, "payload": "\xff\xfe", "sig": null}',
    "huge number": b'{"format": 1, "payload": "{}", "sig": ' + b"9" * 5000 + b"}",
    "too large": b" " * (MAX_RECORD + 1),
}


def _valid_trace(trace: Trace) -> bool:
    return (isinstance(trace.data_version, str) and isinstance(trace.output_digest, str)
            and len(trace.output_digest) == 64 and isinstance(trace.io, str)
            and type(trace.size) is int and trace.size >= 0 and type(trace.created_ns) is int
            and isinstance(trace.duration_s, (int, float)) and math.isfinite(trace.duration_s)
            and isinstance(trace.metadata_json, str))


def _decode_all_ways(raw: bytes) -> list[tuple[Trace, str | None]]:
    """decode_record under every kind of reader; anything but RemoteRejected fails the test."""
    out = []
    for keys, trust in ((HMAC, False), (ED_READER, False), (RecordKeys.of(b"s", trusted=ED_READER.trusted), False),
                        (RecordKeys(), True)):
        try:
            out.append(decode_record(raw, K1, keys=keys, trust_unsigned=trust))
        except RemoteRejected:
            pass
    return out


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_known_crashers_are_rejected(name):
    assert _decode_all_ways(CRASHERS[name]) == []


# --- fuzzing decode_record ------------------------------------------------------------------

_chars = st.characters(blacklist_categories=())  # lone surrogates included
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(_chars, max_size=20)
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(_chars, max_size=8), inner, max_size=4), max_leaves=20)
_fields = ["format", "key", "asset", "data_version", "output_digest", "io", "size", "duration_s",
           "created_ns", "metadata_json"]


def _nest(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@st.composite
def _mutated_records(draw) -> bytes:
    """A genuine record with one part replaced: in the envelope or the payload, re-signed or not."""
    writer = draw(st.sampled_from([HMAC, ED_WRITER, RecordKeys.of(b"s", signing=ED_WRITER.signing), RecordKeys()]))
    env = json.loads(encode_record(K1, T, asset="x", keys=writer))
    payload = json.loads(env["payload"])
    where = draw(st.sampled_from(["payload", "envelope", "payload-text", "ed25519"]))
    value = draw(_json_values | st.builds(_nest, st.integers(1, 50000), st.sampled_from(["list", "dict"])))
    if where == "payload":
        name = draw(st.sampled_from(_fields + ["extra"]))
        if draw(st.booleans()) and name in payload:
            del payload[name]
        else:
            payload[name] = value
    elif where == "envelope":
        env[draw(st.sampled_from(["format", "payload", "sig", "ed25519", "extra"]))] = value
    elif where == "ed25519":
        env["ed25519"] = {"key": draw(st.text(_chars, max_size=20)) if draw(st.booleans()) else
                          env.get("ed25519", {}).get("key"), "sig": value}
    else:
        env["payload"] = value if isinstance(value, str) else json.dumps(value)
    if where == "payload":
        try:
            env["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        except (ValueError, RecursionError):
            env["payload"] = "[" * 100000
        if draw(st.booleans()):  # signed by a writer who has the key: the payload is then checked
            env = json.loads(_resign(env["payload"], writer))
    try:
        return json.dumps(env).encode()
    except (ValueError, RecursionError):
        return b'{"format": 1, "payload": ' + b"[" * 100000


def _resign(payload: str, keys: RecordKeys) -> bytes:
    from assetbuild.remote import records as remote

    body = payload.encode("utf-8", "surrogatepass")
    env = {"format": 1, "payload": payload, "sig": remote._sign(keys.secret, body) if keys.secret else None}
    if keys.signing is not None:
        env["ed25519"] = {"key": remote.key_id(keys.signing.public_key()),
                          "sig": base64.b64encode(keys.signing.sign(remote._ED25519_DOMAIN + body)).decode()}
    return json.dumps(env).encode()


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=2000) | _mutated_records()
       | st.builds(lambda v: json.dumps(v).encode(), _json_values))
def test_fuzzed_records_are_rejected_or_valid(raw):
    for trace, asset in _decode_all_ways(raw):
        assert _valid_trace(trace), trace
        assert asset is None or isinstance(asset, str)


def test_a_payload_signed_with_a_lone_surrogate_is_rejected():
    """A writer holding the key cannot make readers crash either (the payload is checked too)."""
    payload = json.dumps({"format": 1, "key": K1, "asset": "\ud800", "data_version": "\udfff"})
    assert _decode_all_ways(_resign(payload, HMAC)) == []


# --- the real reading code over a real file:// remote -----------------------------------------

def _store_over(folder: Path, cache: Path, keys: RecordKeys, warn: list[str], fetch: bool,
                trust: bool = False) -> RemoteCachedStore:
    settings_ = RemoteSettings(f"file://{folder}", keys=keys, trust_unsigned=trust)
    return RemoteCachedStore(LmdbStore(cache), RemoteCache(settings_), warn=warn.append, fetch=fetch)


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=500) | _mutated_records() | st.sampled_from(sorted(CRASHERS.values())),
       fetch=st.booleans(), trust=st.booleans())
def test_fuzzed_record_files_through_a_file_remote(raw, fetch, trust):
    """A record file of any content: get_trace never raises, and whatever it returns is a trace
    whose bytes are then verified (a miss, a rejection counted in the one warning, or a hit)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "remote"
        rec = folder / "records" / K1[:2] / K1
        rec.parent.mkdir(parents=True)
        rec.write_bytes(raw)
        warnings: list[str] = []
        store = _store_over(folder, Path(tmp) / "cache", HMAC, warnings, fetch, trust)
        try:
            got = store.get_trace(K1)
            if got is not None:
                assert isinstance(got, RemoteTrace) and _valid_trace(got)
                if fetch:  # no genuine blob is there: the bytes never verify
                    assert store.settle() == {K1}
            else:
                assert len(warnings) <= 1
                assert all("rejected" in w for w in warnings), warnings
        finally:
            store.close()


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_each_crasher_is_one_warning_through_the_store(tmp_path, name):
    folder = tmp_path / "remote"
    rec = folder / "records" / K1[:2] / K1
    rec.parent.mkdir(parents=True)
    rec.write_bytes(CRASHERS[name])
    warnings: list[str] = []
    store = _store_over(folder, tmp_path / "cache", HMAC, warnings, fetch=True)
    try:
        assert store.get_trace(K1) is None
    finally:
        store.close()
    assert len(warnings) == 1 and "rejected" in warnings[0], warnings


def test_a_sparse_record_is_read_no_further_than_the_limit(tmp_path):
    folder = tmp_path / "remote"
    rec = folder / "records" / K1[:2] / K1
    rec.parent.mkdir(parents=True)
    with open(rec, "wb") as f:
        f.truncate(3 << 30)  # 3 GiB of holes: nothing on disk
    cache = RemoteCache(RemoteSettings(f"file://{folder}", keys=HMAC))
    raw = cache.get_record(K1)
    assert raw is not None and len(raw) == MAX_RECORD + 1
    with pytest.raises(RemoteRejected, match="too large"):
        decode_record(raw, K1, keys=HMAC)
    assert len(cache.get_records([K1])[K1]) == MAX_RECORD + 1


def test_a_blob_larger_than_signed_is_read_one_byte_past_its_size(tmp_path):
    import hashlib

    data = b"x" * 100_000
    digest = hashlib.sha256(data).hexdigest()
    folder = tmp_path / "remote"
    blob = folder / "blobs" / digest[:2] / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    cache = RemoteCache(RemoteSettings(f"file://{folder}", keys=HMAC))
    assert cache.get_blob(digest, len(data)) == data
    with open(blob, "r+b") as f:
        f.truncate(3 << 30)  # the genuine bytes, then 3 GiB of holes
    with pytest.raises(RemoteRejected, match="larger than signed"):
        cache.get_blob(digest, len(data))


# --- Ed25519 keys -------------------------------------------------------------------------------

def test_ed25519_round_trip_and_what_each_reader_accepts():
    raw = encode_record(K1, T, asset="x", keys=ED_WRITER)
    assert decode_record(raw, K1, keys=ED_READER) == (T, "x")
    assert decode_record(raw, K1, keys=ED_WRITER) == (T, "x")  # a writer reads its own
    other = RecordKeys.of(trusted=parse_trusted_keys(generate_key_pair()[1]))
    with pytest.raises(RemoteRejected, match="not in ASSETBUILD_CACHE_TRUSTED_KEYS"):
        decode_record(raw, K1, keys=other)
    with pytest.raises(RemoteRejected, match="ASSETBUILD_CACHE_TRUSTED_KEYS is not set"):
        decode_record(raw, K1, keys=HMAC)
    with pytest.raises(RemoteRejected, match="another key"):
        decode_record(raw, "2" * 64, keys=ED_READER)
    hmac_only = encode_record(K1, T, asset="x", keys=HMAC)
    with pytest.raises(RemoteRejected, match="no ASSETBUILD_CACHE_KEY"):
        decode_record(hmac_only, K1, keys=ED_READER)
    both = encode_record(K1, T, asset="x", keys=RecordKeys.of(b"s", signing=ED_WRITER.signing))
    assert decode_record(both, K1, keys=ED_READER)[0] == T
    assert decode_record(both, K1, keys=HMAC)[0] == T
    # several trusted keys (a rotation): either signs
    two = RecordKeys.of(trusted=parse_trusted_keys(f"{generate_key_pair()[1]}, {PUBLIC}"))
    assert decode_record(raw, K1, keys=two)[0] == T
    assert not ED_READER.can_sign and ED_READER.can_verify and ED_WRITER.can_sign


def test_a_tampered_ed25519_record_is_rejected():
    env = json.loads(encode_record(K1, T, asset="x", keys=ED_WRITER))
    p = json.loads(env["payload"])
    p["data_version"] = "0" * 64
    env["payload"] = json.dumps(p, sort_keys=True, separators=(",", ":"))
    with pytest.raises(RemoteRejected, match="Ed25519 signature does not verify"):
        decode_record(json.dumps(env).encode(), K1, keys=ED_READER)


def test_key_formats_pem_and_base64_agree():
    from cryptography.hazmat.primitives import serialization

    key = parse_signing_key(SIGNING)
    pem_private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    pem_public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert public_key_text(pem_private) == PUBLIC == public_key_text(SIGNING)
    assert parse_trusted_keys(pem_public).keys() == parse_trusted_keys(PUBLIC).keys()
    assert parse_trusted_keys(f"{pem_public},{generate_key_pair()[1]}").keys() >= parse_trusted_keys(PUBLIC).keys()
    urlsafe = PUBLIC.replace("+", "-").replace("/", "_").rstrip("=")
    assert parse_trusted_keys(urlsafe).keys() == parse_trusted_keys(PUBLIC).keys()


def _ec_pem(private: bool) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    if private:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _encrypted_pem() -> str:
    from cryptography.hazmat.primitives import serialization

    return parse_signing_key(SIGNING).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")).decode()


SIGNING_ERRORS = {
    "public instead": (lambda: PUBLIC, "holds a public key"),
    "garbage": (lambda: "hunter2", "not an Ed25519 signing key"),
    "short": (lambda: "ed25519-secret:AAAA", "not an Ed25519 signing key"),
    "another algorithm": (lambda: _ec_pem(True), "is not an Ed25519 key"),
    "passphrase": (_encrypted_pem, "passphrase"),
    "broken pem": (lambda: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable PEM"),
}
TRUSTED_ERRORS = {
    "private instead": (lambda: SIGNING, "is a private signing key"),
    "private pem": (lambda: _encrypted_pem(), "is a private signing key"),
    "second entry garbage": (lambda: f"{PUBLIC},nope", "entry 2 is not an Ed25519 public key"),
    "another algorithm": (lambda: _ec_pem(False), "not an Ed25519 public key"),
    "only commas": (lambda: " , ,", "lists no key"),
    "hex": (lambda: "ed25519:" + "ab" * 32, "not an Ed25519 public key"),
}


@pytest.mark.parametrize("case", sorted(SIGNING_ERRORS))
def test_a_malformed_signing_key_is_one_clear_line(case, monkeypatch):
    make, expected = SIGNING_ERRORS[case]
    value = make()
    monkeypatch.setenv("ASSETBUILD_CACHE_SIGNING_KEY", value)
    with pytest.raises(ConfigError, match=expected) as e:
        RecordKeys.from_env()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("ASSETBUILD_CACHE_SIGNING_KEY")
    assert value.strip()[15:] not in msg or len(value.strip()) < 20, "the secret is echoed"


@pytest.mark.parametrize("case", sorted(TRUSTED_ERRORS))
def test_a_malformed_trusted_key_is_one_clear_line(case, monkeypatch):
    make, expected = TRUSTED_ERRORS[case]
    monkeypatch.setenv("ASSETBUILD_CACHE_TRUSTED_KEYS", make())
    with pytest.raises(ConfigError, match=expected) as e:
        RecordKeys.from_env()
    assert "\n" not in str(e.value) and str(e.value).startswith("ASSETBUILD_CACHE_TRUSTED_KEYS")
