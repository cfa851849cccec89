"""Signed records: the trace of one key as the remote stores it, the keys that sign and verify
it, and the checks that make a fetched record safe to use.

A record is ``{"format": 1, "payload": "<canonical JSON>", "sig": "<hex>" | null,
"ed25519": {"key": "<key id>", "sig": "<base64>"}}`` (``ed25519`` optional). Two ways to sign,
over a domain tag and the payload's exact bytes:

- Ed25519 (``ASSETBUILD_CACHE_SIGNING_KEY``, the private key, held by the jobs that upload;
  ``ASSETBUILD_CACHE_TRUSTED_KEYS``, public keys, comma-separated, held by every reader). A reader
  with public keys only can verify but never sign, so it reads and never uploads: a pull-request
  job holds no secret at all.
- HMAC-SHA256 with the shared secret ``ASSETBUILD_CACHE_KEY``: every reader can also sign.

The payload names its own key, so a record cannot be replayed under another key. Anyone who can
write to the remote can write anything there, so a fetched record is untrusted input: it is
read at most MAX_RECORD bytes and checked field by field (any failure is a rejection, never an
exception). The only importer of ``cryptography``, and only once a key is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..clock import END_NS, FIRST_NS
from ..errors import ConfigError
from ..reports import Trace
from ..wording import words

RECORD_FORMAT = 1
KEY_ENV = "ASSETBUILD_CACHE_KEY"  # HMAC secret: signs and verifies
SIGNING_KEY_ENV = "ASSETBUILD_CACHE_SIGNING_KEY"  # Ed25519 private key: signs (writers only)
TRUSTED_KEYS_ENV = "ASSETBUILD_CACHE_TRUSTED_KEYS"  # Ed25519 public keys, comma-separated: verify
SECRET_PREFIX = "ed25519-secret:"
PUBLIC_PREFIX = "ed25519:"
MAX_RECORD = 1 << 20  # a record is a few hundred bytes; anything this big is not one
_DOMAIN = b"assetbuild remote record v1\n"
_ED25519_DOMAIN = b"assetbuild remote record v1 ed25519\n"
_PAYLOAD_FIELDS = ("format", "key", "data_version", "output_digest", "io", "size", "duration_s",
                   "created_ns", "metadata_json")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class RemoteRejected(Exception):
    """A remote entry that must not be used (bad signature, wrong key, bytes not as signed)."""


# --- keys ---------------------------------------------------------------------------------------

def _load_crypto(needs: str) -> tuple[Any, Any, type[Exception]]:
    """(ed25519, serialization, UnsupportedAlgorithm) from ``cryptography``, imported only when a
    key is set or made; ``needs``: what needs it, the subject of the error when it is missing
    ("ASSETBUILD_CACHE_SIGNING_KEY is set, and", "assetbuild cache keygen")."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError(f"{needs} needs the cryptography package, which is not installed: "
                          "pip install -e '.[remote]' in the assetbuild clone") from None
    return ed25519, serialization, UnsupportedAlgorithm


def _raw32(text: str) -> bytes | None:
    """The 32 bytes that ``text`` (standard or URL-safe base64, padding optional) encodes, else None."""
    text = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 else None


def _public_raw(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    """A public key's short name in records: the first 8 bytes of the sha256 of its raw bytes, hex."""
    return hashlib.sha256(_public_raw(public_key)).hexdigest()[:16]


def parse_signing_key(text: str, env: str = SIGNING_KEY_ENV) -> Any:
    """The Ed25519 private key in ``text``: ``ed25519-secret:<base64 of the 32-byte seed>`` (what
    ``assetbuild cache keygen`` prints) or a PEM ``PRIVATE KEY`` without a passphrase. ConfigError
    (one line that never repeats the value) otherwise."""
    ed25519, serialization, UnsupportedAlgorithm = _load_crypto(f"{env} is set, and")
    text = text.strip()
    if text.startswith(PUBLIC_PREFIX) or "BEGIN PUBLIC KEY" in text:
        raise ConfigError(f"{env} holds a public key; it takes the private signing key "
                          f"({SECRET_PREFIX}..., printed by: assetbuild cache keygen)")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except TypeError:
            raise ConfigError(f"{env} is a PEM key protected by a passphrase; "
                              "export it without one (the variable itself is the secret)") from None
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"{env} is not a readable PEM private key") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ConfigError(f"{env} is not an Ed25519 key; the remote cache signs with Ed25519 keys "
                              "(assetbuild cache keygen)")
        return key
    raw = _raw32(text[len(SECRET_PREFIX):]) if text.startswith(SECRET_PREFIX) else None
    if raw is None:
        raise ConfigError(f"{env} is not an Ed25519 signing key: expected {SECRET_PREFIX}<base64 of 32 bytes> "
                          "(printed by: assetbuild cache keygen) or a PEM private key")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw)


def parse_trusted_keys(text: str, env: str = TRUSTED_KEYS_ENV) -> dict[str, Any]:
    """{key id: Ed25519 public key} of a comma-separated list of ``ed25519:<base64 of 32 bytes>``
    or PEM ``PUBLIC KEY`` entries; ConfigError naming the entry that is wrong."""
    ed25519, serialization, UnsupportedAlgorithm = _load_crypto(f"{env} is set, and")
    keys: dict[str, Any] = {}
    entries = [e.strip() for e in text.split(",") if e.strip()]
    for n, entry in enumerate(entries, 1):
        where = f"{env} entry {n}" if len(entries) > 1 else env
        if entry.startswith(SECRET_PREFIX) or "PRIVATE KEY" in entry:
            raise ConfigError(f"{where} is a private signing key: readers get public keys only "
                              f"({PUBLIC_PREFIX}..., printed by: assetbuild cache keygen); "
                              "treat that private key as leaked and make a new pair")
        if entry.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(entry.encode())
            except (ValueError, UnsupportedAlgorithm):
                raise ConfigError(f"{where} is not a readable PEM public key") from None
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise ConfigError(f"{where} is not an Ed25519 public key")
        else:
            raw = _raw32(entry[len(PUBLIC_PREFIX):]) if entry.startswith(PUBLIC_PREFIX) else None
            if raw is None:
                raise ConfigError(f"{where} is not an Ed25519 public key: expected {PUBLIC_PREFIX}<base64 of "
                                  "32 bytes> (printed by: assetbuild cache keygen) or a PEM public key")
            try:
                key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
            except ValueError:
                raise ConfigError(f"{where} is not a valid Ed25519 public key") from None
        keys[key_id(key)] = key
    if not keys:
        raise ConfigError(f"{env} is set but lists no key")
    return keys


def generate_key_pair() -> tuple[str, str]:
    """A new (signing key, public key) in the formats the two variables take."""
    ed25519, serialization, _ = _load_crypto("assetbuild cache keygen")
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    return (SECRET_PREFIX + base64.b64encode(seed).decode(),
            PUBLIC_PREFIX + base64.b64encode(_public_raw(key.public_key())).decode())


def public_key_text(signing_text: str) -> str:
    """The ``ed25519:...`` public key of a signing key in either accepted format."""
    return PUBLIC_PREFIX + base64.b64encode(_public_raw(parse_signing_key(signing_text).public_key())).decode()


@dataclass(frozen=True)
class RecordKeys:
    """What this process may sign records with and which signatures it accepts.

    ``secret``: the HMAC secret ($ASSETBUILD_CACHE_KEY), which both signs and verifies. ``signing``:
    an Ed25519 private key ($ASSETBUILD_CACHE_SIGNING_KEY). ``trusted``: Ed25519 public keys by key
    id ($ASSETBUILD_CACHE_TRUSTED_KEYS, plus the signing key's own). A process holding public keys
    only reads; it never uploads (it could not sign).
    """

    secret: bytes | None = None
    signing: Any = None
    trusted: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> RecordKeys:
        secret = os.environ.get(KEY_ENV) or None
        signing_text = os.environ.get(SIGNING_KEY_ENV, "").strip()
        trusted_text = os.environ.get(TRUSTED_KEYS_ENV, "").strip()
        return cls.of(secret.encode() if secret else None,
                      parse_signing_key(signing_text) if signing_text else None,
                      parse_trusted_keys(trusted_text) if trusted_text else {})

    @classmethod
    def of(cls, secret: bytes | None = None, signing: Any = None, trusted: dict[str, Any] | None = None) -> RecordKeys:
        trusted = dict(trusted or {})
        if signing is not None:
            trusted.setdefault(key_id(signing.public_key()), signing.public_key())  # a writer reads its own
        return cls(secret, signing, trusted)

    @property
    def can_sign(self) -> bool:
        return self.secret is not None or self.signing is not None

    @property
    def can_verify(self) -> bool:
        return self.secret is not None or bool(self.trusted)


NO_KEYS = RecordKeys()


# --- records ---------------------------------------------------------------------------------

def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).hexdigest()


def encode_record(key: str, trace: Trace, *, asset: str | None, keys: RecordKeys = NO_KEYS) -> bytes:
    """The record of ``key``, signed with every key ``keys`` can sign with (unsigned without one:
    only --trust-remote-unsigned reads it)."""
    payload = json.dumps({
        "format": RECORD_FORMAT, "key": key, "asset": asset,
        "data_version": trace.data_version, "output_digest": trace.output_digest, "io": trace.io,
        "size": trace.size, "duration_s": trace.duration_s, "created_ns": trace.created_ns,
        "metadata_json": trace.metadata_json,
    }, sort_keys=True, separators=(",", ":"))
    body = payload.encode()
    env: dict[str, Any] = {"format": RECORD_FORMAT, "payload": payload,
                           "sig": _sign(keys.secret, body) if keys.secret else None}
    if keys.signing is not None:
        env["ed25519"] = {"key": key_id(keys.signing.public_key()),
                          "sig": base64.b64encode(keys.signing.sign(_ED25519_DOMAIN + body)).decode()}
    return json.dumps(env).encode()


def _json(raw: str | bytes) -> Any:
    """Parsed JSON, or RemoteRejected: also for nesting too deep for the parser and for text that
    is not UTF-8 (a lone surrogate)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, MemoryError):
        raise RemoteRejected("malformed record") from None


def _check_signatures(env: dict[str, Any], body: bytes, keys: RecordKeys, trust_unsigned: bool) -> None:
    """RemoteRejected unless a signature this reader trusts verifies (or unsigned records are trusted)."""
    sig, ed = env.get("sig"), env.get("ed25519")
    if not (sig is None or isinstance(sig, str) and _HEX64.match(sig)):
        raise RemoteRejected("malformed record signature")
    if ed is not None and not (isinstance(ed, dict) and isinstance(ed.get("key"), str)
                               and isinstance(ed.get("sig"), str)):
        raise RemoteRejected("malformed record signature")
    untrusted = None
    if ed is not None and keys.trusted:
        public = keys.trusted.get(ed["key"])
        if public is None:
            untrusted = f"signed by a key that is not in {TRUSTED_KEYS_ENV} (key id {ed['key'][:16]!r})"
        else:
            from cryptography.exceptions import InvalidSignature

            try:
                public.verify(base64.b64decode(ed["sig"], validate=True), _ED25519_DOMAIN + body)
                return
            except (InvalidSignature, ValueError, binascii.Error):
                raise RemoteRejected("its Ed25519 signature does not verify (tampered record)") from None
    if sig is not None and keys.secret is not None:
        if hmac.compare_digest(sig, _sign(keys.secret, body)):
            return
        raise RemoteRejected(f"signature does not verify (tampered record, or another {KEY_ENV})")
    if trust_unsigned:
        return
    if untrusted:
        raise RemoteRejected(untrusted)
    if sig is None and ed is None:
        raise RemoteRejected(f"unsigned record (pass {words('--trust-remote-unsigned', 'trust_remote_unsigned=True')} "
                             "to accept)")
    if ed is not None:
        raise RemoteRejected(f"signed with an Ed25519 key, but {TRUSTED_KEYS_ENV} is not set to verify it")
    raise RemoteRejected(f"signed record but no {KEY_ENV} to verify it")


def _trace_of(p: Any) -> Trace:
    """The trace in a parsed payload; RemoteRejected unless every field has its type and range."""
    if not isinstance(p, dict) or p.get("format") != RECORD_FORMAT or set(_PAYLOAD_FIELDS) - set(p):
        raise RemoteRejected("malformed record payload")
    trace = Trace(p["data_version"], p["output_digest"], p["io"], p["size"], p["duration_s"],
                  p["created_ns"], p["metadata_json"])
    ok = (isinstance(trace.data_version, str) and trace.data_version != ""
          and isinstance(trace.output_digest, str) and _HEX64.match(trace.output_digest) is not None
          and isinstance(trace.io, str) and trace.io != ""
          and type(trace.size) is int and 0 <= trace.size < 1 << 62
          and type(trace.duration_s) in (int, float) and 0 <= trace.duration_s < 1e9  # NaN, inf: False
          and type(trace.created_ns) is int and FIRST_NS <= trace.created_ns < END_NS  # the times a build records
          and isinstance(trace.metadata_json, str)
          and (p.get("asset") is None or isinstance(p.get("asset"), str)))
    if not ok:
        raise RemoteRejected("malformed record payload")
    return trace


def decode_record(raw: bytes, key: str, *, keys: RecordKeys = NO_KEYS,
                  trust_unsigned: bool = False) -> tuple[Trace, str | None]:
    """(trace, asset name) of a record fetched for ``key``; RemoteRejected unless it may be used.

    Anyone who can write to the remote can write a record, so every byte is suspect: size, JSON
    depth, text encoding and every field's type are checked, and the signature over the payload's
    exact bytes before the payload is parsed. Nothing else is ever raised.
    """
    if len(raw) > MAX_RECORD:
        raise RemoteRejected("record too large")
    env = _json(raw)
    if not isinstance(env, dict):
        raise RemoteRejected("malformed record")
    if env.get("format") != RECORD_FORMAT:
        fmt = env.get("format")
        shown = repr(fmt)[:20] if isinstance(fmt, (int, str)) and not isinstance(fmt, bool) else "?"
        raise RemoteRejected(f"unknown record format {shown}")
    payload = env.get("payload")
    if not isinstance(payload, str):
        raise RemoteRejected("malformed record")
    try:
        body = payload.encode("utf-8")
    except UnicodeEncodeError:
        raise RemoteRejected("malformed record (not UTF-8 text)") from None
    _check_signatures(env, body, keys, trust_unsigned)
    p = _json(payload)
    trace = _trace_of(p)
    if p["key"] != key:
        raise RemoteRejected("the record is for another key (replayed)")
    asset = p.get("asset")
    return trace, asset
