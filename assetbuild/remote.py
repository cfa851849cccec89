"""The remote cache: outputs shared between machines through fsspec, signed and verified.

The only importer of fsspec (and, through it, s3fs). Layout under the remote URL::

    records/ab/<key>      one JSON record per key: the trace fields a local store needs, signed
    blobs/cd/<digest>     output bytes, content-addressed by sha256 (written before any record
                          that names them)

A record is ``{"format": 1, "payload": "<canonical JSON>", "sig": "<hex>" | null,
"ed25519": {"key": "<key id>", "sig": "<base64>"}}`` (``ed25519`` optional). Two ways to sign,
over a domain tag and the payload's exact bytes:

- Ed25519 (``ASSETBUILD_CACHE_SIGNING_KEY``, the private key, held by the jobs that upload;
  ``ASSETBUILD_CACHE_TRUSTED_KEYS``, public keys, comma-separated, held by every reader). A reader
  with public keys only can verify but never sign, so it reads and never uploads: a pull-request
  job holds no secret at all.
- HMAC-SHA256 with the shared secret ``ASSETBUILD_CACHE_KEY``: every reader can also sign.

The payload names its own key, so a record cannot be replayed under another key. Anyone who can
write to the remote can write anything there, so everything read is untrusted input: records are
read at most MAX_RECORD bytes and checked field by field (any failure is a rejection, never an
exception), blobs are read at most one byte past their signed size and must match the signed
digest. Loading a pickle runs code, so nothing unverified ever reaches an IO manager.

``RemoteCachedStore`` wraps a local store (``LmdbStore``) at the store interface the scheduler
uses: a local miss asks the remote; a hit returns the signed trace at once (downstream keys need
only its data version) while the bytes download in background threads and are recorded locally
when verified; a build's new traces are uploaded (blob, then record) in background threads.
Every store call stays on the caller's thread. A remote that is down, slow or wrong never fails
a build: one warning, then local work; after the first failure the remote is not tried again
in this build.

Round trips: at the first local miss the records prefix is listed once, so further misses are
answered without a request; the newest listed records are then fetched concurrently in batches
(prefetch), so a key that hits usually finds its record already here. A build without local
misses (a null build) sends no request at all.
"""

from __future__ import annotations

import base64
import binascii
import collections
import concurrent.futures as cf
import errno
import hashlib
import hmac
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .atomicfile import open_dir_below, write_atomically
from .errors import CacheCorrupt, ConfigError
from .reports import Trace
from .store import INLINE_MAX

RECORD_FORMAT = 1
KEY_ENV = "ASSETBUILD_CACHE_KEY"  # HMAC secret: signs and verifies
SIGNING_KEY_ENV = "ASSETBUILD_CACHE_SIGNING_KEY"  # Ed25519 private key: signs (writers only)
TRUSTED_KEYS_ENV = "ASSETBUILD_CACHE_TRUSTED_KEYS"  # Ed25519 public keys, comma-separated: verify
SECRET_PREFIX = "ed25519-secret:"
PUBLIC_PREFIX = "ed25519:"
REMOTE_ENV = "ASSETBUILD_REMOTE"
DEFAULT_TIMEOUT = 10.0
CHECK_BLOB_MIN = 256 * 1024  # smaller blobs are uploaded again rather than asked for (one request either way)
MAX_RECORD = 1 << 20  # a record is a few hundred bytes; anything this big is not one
_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
_DOMAIN = b"assetbuild remote record v1\n"
_ED25519_DOMAIN = b"assetbuild remote record v1 ed25519\n"
_PAYLOAD_FIELDS = ("format", "key", "data_version", "output_digest", "io", "size", "duration_s",
                   "created_ns", "metadata_json")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class RemoteRejected(Exception):
    """A remote entry that must not be used (bad signature, wrong key, bytes not as signed)."""


class _Down(Exception):
    """The remote is unusable for the rest of this build (set once, by the first failure)."""


class RemoteTrace(Trace):
    """A trace taken from the remote cache (its bytes may still be downloading)."""

    __slots__ = ()
    origin = "remote"
    remote = True


# --- keys ---------------------------------------------------------------------------------------

def _load_crypto(env: str) -> tuple[Any, Any, type[Exception]]:
    """(ed25519, serialization, UnsupportedAlgorithm) from ``cryptography``, imported only when a key is set."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError(f"{env} is set but the cryptography package is not installed "
                          "(pip install 'assetbuild[remote]')") from None
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
    ed25519, serialization, UnsupportedAlgorithm = _load_crypto(env)
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
    ed25519, serialization, UnsupportedAlgorithm = _load_crypto(env)
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
        raise RemoteRejected("unsigned record (pass --trust-remote-unsigned to accept)")
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
          and type(trace.created_ns) is int and 0 <= trace.created_ns < 1 << 63
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


# --- settings and the file system ------------------------------------------------------------

@dataclass
class RemoteSettings:
    """What ``--remote`` and its options asked for."""

    url: str
    read_only: bool = False
    trust_unsigned: bool = False
    timeout: float = DEFAULT_TIMEOUT  # connect and read timeouts of one request, in seconds
    options: dict[str, Any] = field(default_factory=dict)  # fsspec storage options
    keys: RecordKeys = NO_KEYS
    concurrency: int = 32
    prefetch: int | None = None  # records to fetch ahead (default: from the plan's size)

    @classmethod
    def from_env(cls, url: str | None, **kw: Any) -> RemoteSettings | None:
        """None when neither ``url`` nor $ASSETBUILD_REMOTE names a remote; ConfigError for a
        malformed key in the environment."""
        url = url if url is not None else os.environ.get(REMOTE_ENV)
        if not url:
            return None
        return cls(url, keys=RecordKeys.from_env(), **{k: v for k, v in kw.items() if v is not None})


def _storage_options(url: str, settings: RemoteSettings) -> dict[str, Any]:
    """fsspec options: bounded timeouts and no listing cache; S3 endpoint from the AWS variables."""
    opts = dict(settings.options)
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            opts.setdefault("endpoint_url", endpoint)
        cfg = dict(opts.get("config_kwargs") or {})
        cfg.setdefault("connect_timeout", settings.timeout)
        cfg.setdefault("read_timeout", settings.timeout)
        cfg.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
        opts["config_kwargs"] = cfg
        opts.setdefault("skip_instance_cache", True)
        opts.setdefault("max_concurrency", 1)  # else every GET is preceded by a HEAD (chunked reads)
    opts.setdefault("use_listings_cache", False)  # a stale listing would hide new entries
    return opts


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class RemoteCache:
    """One remote cache: listing, batched record fetches, blob transfers, with a circuit breaker.

    Thread-safe: its methods run in the pool's threads. ``down`` is set by the first failure of
    a request (anything but "not found"); after that every method returns at once.
    """

    def __init__(self, settings: RemoteSettings, *, create: bool = True) -> None:
        self.settings = settings
        self.create = create  # a missing file:// folder is made (not by a dry run or status)
        self.url = settings.url
        self.down: str | None = None
        self.local = False
        self.root = ""
        self._fs: Any = None
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self.requests: dict[str, int] = {"list": 0, "records": 0, "record": 0, "blob": 0, "exists": 0, "put": 0}

    @property
    def fs(self) -> Any:
        """The fsspec file system, made on first use: a build that needs nothing from the remote
        never imports fsspec or s3fs (half a second)."""
        if self._fs is None:
            with self._connect_lock:
                if self._fs is None:
                    self._connect()
        return self._fs

    def _connect(self) -> None:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(self.url, **_storage_options(self.url, self.settings))
        if hasattr(fs, "retries"):
            fs.retries = 1  # s3fs's own retry loop (5, with backoff) on top of botocore's
        self.root = root.rstrip("/")
        self.local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        if self.local and self.create:
            fs.makedirs(self.root, exist_ok=True)  # a file:// folder that does not exist yet
        self._fs = fs

    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.requests[kind] += n

    def record_path(self, key: str) -> str:
        self._guard()
        return f"{self.root}/records/{key[:2]}/{key}"

    def blob_path(self, digest: str) -> str:
        self._guard()
        return f"{self.root}/blobs/{digest[:2]}/{digest}"

    def fail(self, err: BaseException) -> None:
        with self._lock:
            if self.down is None:
                self.down = _describe(err)

    def _guard(self) -> None:
        """Raise _Down once the remote failed; connect on first use (a failure to connect counts)."""
        if self.down is not None:
            raise _Down(self.down)
        if self._fs is None:
            try:
                self.fs  # noqa: B018 - connects
            except ImportError as e:
                self.fail(ImportError(f"{e.name or 'a package it needs'} is not installed "
                                      "(pip install 'assetbuild[remote]')"))
                raise _Down(self.down) from e
            except Exception as e:  # noqa: BLE001 - a bad URL or options, a folder we cannot create
                self.fail(e)
                raise _Down(self.down) from e

    def list_records(self) -> dict[str, float]:
        """Every key with a record, and its modification time (one listing, paginated by the server)."""
        self._guard()
        self._count("list")
        try:
            found = self.fs.find(f"{self.root}/records", detail=True)
        except FileNotFoundError:
            return {}
        except Exception as e:  # noqa: BLE001 - any transport error: the remote is down
            self.fail(e)
            raise _Down(self.down) from e
        out: dict[str, float] = {}
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if _HEX64.match(name):
                out[name] = _mtime(info)
        return out

    def get_records(self, keys: list[str]) -> dict[str, bytes | None]:
        """The raw records of ``keys`` (None: not there), fetched concurrently in one call."""
        self._guard()
        paths = {self.record_path(k): k for k in keys}
        self._count("records", len(paths))
        try:  # bounded: a record beyond MAX_RECORD is rejected, never read whole
            if self.local:
                got = {p: _read_local(p, MAX_RECORD + 1, on_error="return") for p in paths}
            else:
                got = self.fs.cat(list(paths), on_error="return", start=0, end=MAX_RECORD + 1)
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise _Down(self.down) from e
        out: dict[str, bytes | None] = {}
        for path, value in got.items():
            k = paths.get(path) or paths.get(self.fs._strip_protocol(path))
            if k is None:
                continue
            if isinstance(value, FileNotFoundError):
                out[k] = None
            elif _empty_object(value):
                out[k] = b""
            elif isinstance(value, BaseException):
                self.fail(value)
                raise _Down(self.down) from value
            else:
                out[k] = value
        return out

    def get_record(self, key: str) -> bytes | None:
        self._guard()
        self._count("record")
        try:
            return self._cat(self.record_path(key), MAX_RECORD + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            if _empty_object(e):
                return b""
            self.fail(e)
            raise _Down(self.down) from e
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise _Down(self.down) from e

    def get_blob(self, digest: str, size: int) -> bytes:
        """The bytes of ``digest``, verified against the signed ``digest`` and ``size``.

        One ranged read that stops one byte past ``size``: an object larger than signed (a sparse
        file of gigabytes) costs no more memory than the genuine output would, and is rejected.
        """
        if size == 0 and digest == _EMPTY_DIGEST:
            return b""  # nothing to fetch (and an empty range is an error on S3)
        self._guard()
        self._count("blob")
        try:
            data = self._cat(self.blob_path(digest), size + 1)
        except FileNotFoundError:
            raise RemoteRejected("its output bytes are missing from the remote") from None
        except OSError as e:
            if not _empty_object(e):
                self.fail(e)
                raise _Down(self.down) from e
            data = b""
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise _Down(self.down) from e
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise RemoteRejected("its bytes do not match the signed digest"
                                 + (" (the object is larger than signed)" if len(data) > size else ""))
        return data

    def _cat(self, path: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the object at ``path`` (a planted object that is not a
        regular file reads as empty: a malformed entry)."""
        if self.local:
            return _read_local(path, limit)
        return self.fs.cat_file(path, start=0, end=limit)

    def has_blob(self, digest: str, size: int) -> bool:
        self._guard()
        self._count("exists")
        try:
            return self.fs.size(self.blob_path(digest)) == size
        except FileNotFoundError:
            return False
        except Exception as e:  # noqa: BLE001
            self.fail(e)
            raise _Down(self.down) from e

    def put(self, path: str, data: bytes) -> None:
        """Write one object; on a local folder through a temp file and a rename (readers never see half)."""
        self._guard()
        self._count("put")
        try:
            if self.local:  # others may write here too: no symlink below the root is followed
                *parts, name = path[len(self.root) + 1:].split("/")
                fd = open_dir_below(self.root, parts)
                try:
                    write_atomically(name, data, dir_fd=fd, crash_at="remote-upload")
                finally:
                    os.close(fd)
            else:
                self.fs.pipe_file(path, data)
        except Exception as e:  # noqa: BLE001
            raise _UploadFailed(_describe(e)) from e


class _UploadFailed(Exception):
    pass


def _read_local(path: str, limit: int, on_error: str = "raise") -> Any:
    """At most ``limit`` bytes of the file at ``path`` in a ``file://`` remote, which others may
    write to: a FIFO or a device there would block or never end, and a symlink would read
    whatever it points at, so each of those reads as empty (a malformed entry, rejected and
    counted). ``on_error="return"``: an OSError is returned, as ``fs.cat`` does."""
    import stat

    try:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if e.errno == errno.ELOOP:  # a symlink at that name
                return b""
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b""
            os.set_blocking(fd, True)
            chunks, left = [], limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as e:
        if on_error == "return":
            return e
        raise


def _empty_object(err: object) -> bool:
    """True for an object store's answer to a ranged read of an empty object (HTTP 416): a
    planted empty file is a malformed entry, not a remote that is down."""
    return isinstance(err, OSError) and err.errno == errno.EINVAL and "range" in str(err).lower()


def _mtime(info: dict[str, Any]) -> float:
    t = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
    if hasattr(t, "timestamp"):
        return float(t.timestamp())
    try:
        return float(t)
    except (TypeError, ValueError):
        return 0.0


# --- the store wrapper -----------------------------------------------------------------------

@dataclass
class _Download:
    """Bytes of a remote hit on their way; ``keys`` are the traces waiting for them."""

    digest: str
    size: int
    future: cf.Future[bytes]
    keys: dict[str, Trace] = field(default_factory=dict)
    heads: list[tuple[str, Any]] = field(default_factory=list)  # put_head calls held back


class RemoteCachedStore:
    """A local store (``LmdbStore``) with a remote cache behind it; see the module docstring.

    Everything not overridden here goes straight to the local store.
    """

    def __init__(self, local: Any, remote: RemoteCache, *, warn: Callable[[str], None],
                 note: Callable[[str], None] | None = None, expected: int = 0, fetch: bool = True) -> None:
        self.local = local
        self.remote = remote
        self.settings = remote.settings
        self.fetch = fetch  # False (dry runs, status): look up records only; download and write nothing
        self._peeked: set[str] = set()
        self.read = True
        self.write = fetch and not self.settings.read_only
        self._warn = warn
        self._note = note or (lambda msg: None)
        self._messages: list[str] = []  # from worker threads, printed on the caller's thread
        self._mlock = threading.Lock()
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency),
                                           thread_name_prefix="assetbuild-remote")
        self._downloads: dict[str, _Download] = {}  # digest -> transfer not yet recorded locally
        self._waiting: dict[str, str] = {}  # key -> digest of its download
        self._failed: set[str] = set()  # keys whose bytes did not arrive or did not verify
        self._rejected: set[str] = set()  # keys not to ask the remote again in this build
        self._bad_blobs: set[str] = set()  # digests the remote holds wrong bytes for: upload again
        self._seen_blobs: set[str] = set()  # digests known to be on the remote
        self._outgoing: dict[str, bytes] = {}  # digest -> bytes of a blob put in this build
        self._uploads: dict[str, list[Any]] = {}  # key -> [trace, asset] not yet submitted
        self._upload_futures: list[cf.Future[None]] = []
        self._rejections = 0
        self.stats = {"hits": 0, "misses": 0, "downloaded": 0, "uploaded": 0, "bytes_down": 0, "bytes_up": 0}
        self._prefetched: dict[str, cf.Future[dict[str, bytes | None]]] = {}
        self._listed: dict[str, float] | None = None
        n = self.settings.prefetch
        self._prefetch_limit = n if n is not None else max(1024, 2 * expected)
        self._listing: cf.Future[None] | None = None  # started by the first local miss
        self._done: collections.deque[str] = collections.deque()  # digests whose download ended

    # --- messages ----------------------------------------------------------------------------

    def _message(self, text: str) -> None:
        with self._mlock:
            self._messages.append(text)

    def _emit(self) -> None:
        if self.remote.down is not None and self.read:
            self.read = self.write = False
            self._message(f"the remote cache {self.remote.url} is unavailable ({self.remote.down}); "
                          "building locally without it for the rest of this build")
        if self._messages:
            with self._mlock:
                msgs, self._messages = self._messages, []
            for m in msgs:
                self._warn(m)

    def _reject(self, key: str, asset: str | None, why: str) -> None:
        self._rejected.add(key)
        self._rejections += 1
        if self._rejections == 1:
            what = f"{asset!r} (key {key[:12]})" if asset else f"key {key[:12]}"
            self._message(f"the remote cache's entry for {what} was rejected: {why}; building it locally "
                          "(further rejections are counted at the end)")

    # --- lookups -----------------------------------------------------------------------------

    def _list_and_prefetch(self) -> None:
        listed = self.remote.list_records()
        newest = sorted(listed, key=listed.__getitem__, reverse=True)[: self._prefetch_limit]
        for i in range(0, len(newest), 64):  # small batches: the first answers come sooner
            batch = newest[i:i + 64]
            fut = self._pool.submit(self.remote.get_records, batch)
            for k in batch:
                self._prefetched[k] = fut
        self._listed = listed  # last: a key listed but not prefetched is then asked directly

    def _wait(self, fut: cf.Future[Any], size: int = 0) -> Any:
        """A transfer's result; a wait far beyond the request timeouts (and 1 MB/s for ``size``
        bytes) counts as the remote being down (a hung file system has no timeouts of its own)."""
        limit = 4 * self.settings.timeout + 5 + size / 1e6
        try:
            with self.local.flushing_while_away():  # a long wait commits finished work meanwhile
                return fut.result(timeout=limit)
        except cf.TimeoutError:
            self.remote.fail(TimeoutError(f"no answer in {limit:.0f}s"))
            raise _Down(self.remote.down) from None

    def _fetch_record(self, key: str) -> bytes | None:
        if self._listing is None:
            self._listing = self._pool.submit(self._list_and_prefetch)
        if self._listed is None:
            self._wait(self._listing)  # re-raises _Down
        if self._listed is not None and key not in self._listed:
            return None  # answered by the listing: no request
        fut = self._prefetched.get(key)
        if fut is not None:
            raw = self._wait(fut).get(key)
            if raw is not None:
                return raw
        return self.remote.get_record(key)

    def get_trace(self, key: str) -> Trace | None:
        self._drain()
        trace = self.local.get_trace(key)
        if trace is not None or not self.read or key in self._rejected:
            return trace
        digest = self._waiting.get(key)
        if digest is not None:  # asked again (a repair): the same answer
            return self._downloads[digest].keys[key]
        try:
            raw = self._fetch_record(key)
        except (_Down, RemoteRejected):
            raw = None
        if raw is None:
            self.stats["misses"] += 1
            self._emit()
            return None
        try:
            trace, asset = decode_record(raw, key, keys=self.settings.keys,
                                         trust_unsigned=self.settings.trust_unsigned)
        except RemoteRejected as e:
            self._reject(key, None, str(e))
            self._emit()
            return None
        self.stats["hits"] += 1
        rtrace = RemoteTrace(*trace)
        if not self.fetch:
            self._peeked.add(trace.output_digest)
            return rtrace
        if self._local_bytes(trace.output_digest):
            self.local.put_trace(key, trace)
            return rtrace
        d = self._downloads.get(trace.output_digest)
        if d is None:
            fut = self._pool.submit(self._download, trace.output_digest, trace.size)
            fut.add_done_callback(lambda f, digest=trace.output_digest: self._done.append(digest))
            d = self._downloads[trace.output_digest] = _Download(trace.output_digest, trace.size, fut)
        d.keys[key] = rtrace
        self._waiting[key] = trace.output_digest
        return rtrace

    def _local_bytes(self, digest: str) -> bool:
        try:
            self.local.read_blob(digest)
            return True
        except CacheCorrupt:
            return False

    def _download(self, digest: str, size: int) -> bytes:
        """In a worker: fetch, verify against the signed digest and size, write large blobs locally."""
        data = self.remote.get_blob(digest, size)
        if size > INLINE_MAX:
            self.local.put_blob(data, digest)  # a file write and rename: safe off the main thread
        return data

    def _drain(self, wait: bool = False) -> None:
        """Record finished downloads locally (blob, trace, held-back heads); forget failed ones.

        ``wait``: every download, waiting for those under way (not once the remote is down).
        """
        if wait:
            for digest, d in list(self._downloads.items()):
                if not d.future.done() and self.remote.down is None:
                    try:
                        self._wait(d.future, d.size)
                    except Exception:  # noqa: BLE001 - judged in _finish
                        pass
                self._finish(digest)
        else:
            while self._done:
                digest = self._done.popleft()
                if digest in self._downloads and self._downloads[digest].future.done():
                    self._finish(digest)
        self._emit()

    def _finish(self, digest: str) -> None:
        d = self._downloads.pop(digest)
        for key in d.keys:
            self._waiting.pop(key, None)
        fut = d.future
        if not fut.done():
            fut.cancel()
        err = fut.exception() if fut.done() and not fut.cancelled() else _Down(self.remote.down or "no answer")
        if err is None:
            data = fut.result()
            self._seen_blobs.add(digest)
            self.stats["downloaded"] += 1
            self.stats["bytes_down"] += len(data)
            if len(data) <= INLINE_MAX:
                self.local.put_blob(data, digest)
            for key, trace in d.keys.items():
                self.local.put_trace(key, Trace(*trace))
            for asset, head in d.heads:
                self.local.put_head(asset, head)
            return
        self._failed.update(d.keys)
        if isinstance(err, RemoteRejected):
            self._bad_blobs.add(digest)
            for key in d.keys:
                self._reject(key, None, str(err))
        else:
            self.remote.fail(err)
            self._rejected.update(d.keys)

    # --- the store interface the scheduler uses ----------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name == "local":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.local, name)

    def has_blob(self, digest: str, size: int) -> bool:
        if digest in self._downloads or digest in self._peeked:
            return True  # on its way (read_blob waits for it), or looked up only
        return self.local.has_blob(digest, size)

    def read_blob(self, digest: str) -> bytes:
        d = self._downloads.get(digest)
        if d is None:
            return self.local.read_blob(digest)
        if d.future.cancel():  # still queued behind other downloads: this one is needed now
            fut: cf.Future[bytes] = cf.Future()
            try:
                fut.set_result(self._download(digest, d.size))
            except Exception as e:  # noqa: BLE001 - judged like a download's failure
                fut.set_exception(e)
            d.future = fut
        try:
            data = self._wait(d.future, d.size)
        except Exception as e:  # noqa: BLE001 - down, timed out, or bytes not as signed
            if digest in self._downloads:
                self._finish(digest)
            self._emit()
            raise CacheCorrupt(digest, f"not usable from the remote cache ({_describe(e)})") from None
        self._drain()
        return data

    def put_head(self, asset: str, head: Any) -> None:
        digest = self._waiting.get(head.key)
        if digest is not None:  # its bytes are not here yet: record the head with them
            self._downloads[digest].heads.append((asset, head))
            return
        up = self._uploads.get(head.key)
        if up is not None:
            up[1] = asset
        self.local.put_head(asset, head)

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = self.local.put_blob(data, digest)
        if self.write:
            self._outgoing[digest] = data
        return digest

    def put_trace(self, key: str, trace: Trace) -> None:
        self.local.put_trace(key, trace)
        if self.write and trace.output_digest in self._outgoing:
            self._uploads[key] = [trace, None]

    def delete_trace(self, key: str) -> None:
        self._rejected.add(key)
        self._uploads.pop(key, None)
        digest = self._waiting.pop(key, None)
        if digest is not None and digest in self._downloads:
            self._downloads[digest].keys.pop(key, None)
        self.local.delete_trace(key)

    def maybe_flush(self, *args: Any, **kw: Any) -> None:
        self._drain()
        self._submit_uploads()
        self.local.maybe_flush(*args, **kw)

    def flush(self) -> None:
        self._drain()
        self._submit_uploads()
        self.local.flush()

    def settle(self) -> set[str]:
        """Wait for every download; the keys whose bytes did not arrive intact (to be rebuilt)."""
        self._drain(wait=True)
        failed, self._failed = self._failed, set()
        return failed

    # --- uploads -----------------------------------------------------------------------------

    def _submit_uploads(self) -> None:
        if not self._uploads:
            return
        if not self.write:
            self._uploads.clear()
            self._outgoing.clear()
            return
        for key, (trace, asset) in self._uploads.items():
            data = self._outgoing.get(trace.output_digest)
            if data is None:
                continue
            record = encode_record(key, trace, asset=asset, keys=self.settings.keys)
            self._upload_futures.append(self._pool.submit(self._upload, key, trace.output_digest, data, record))
        self._uploads.clear()
        self._outgoing.clear()

    def _upload(self, key: str, digest: str, data: bytes, record: bytes) -> None:
        """In a worker: the blob unless the remote has it, then the record (never a record without its blob)."""
        if not self.write or self.remote.down is not None:
            return
        try:
            if digest in self._bad_blobs or digest not in self._seen_blobs and (
                    len(data) < CHECK_BLOB_MIN or not self.remote.has_blob(digest, len(data))):
                self.remote.put(self.remote.blob_path(digest), data)
                with self._mlock:
                    self.stats["bytes_up"] += len(data)
            self._seen_blobs.add(digest)
            self.remote.put(self.remote.record_path(key), record)
            with self._mlock:
                self.stats["uploaded"] += 1
        except _Down:
            return
        except _UploadFailed as e:
            if self.write:
                self.write = False
                self._message(f"cannot upload to the remote cache {self.remote.url} ({e}); "
                              "no more uploads in this build")

    def close(self) -> None:
        """Finish uploads (each request bounded by the timeouts), report, then close the local store."""
        try:
            self._drain(wait=True)
            self._submit_uploads()
            deadline = time.monotonic() + 4 * self.settings.timeout + 5
            for fut in self._upload_futures:
                try:
                    fut.result(timeout=max(0.0, deadline - time.monotonic()))
                except cf.TimeoutError:
                    self._message(f"uploads to the remote cache {self.remote.url} did not finish in time; "
                                  "the rest are abandoned")
                    break
                except KeyboardInterrupt:
                    self._message("interrupted: the remaining uploads to the remote cache are abandoned")
                    self._emit()
                    raise
            if self._rejections > 1:
                n = self._rejections - 1
                self._message(f"{n} more {'entry' if n == 1 else 'entries'} of the remote cache "
                              f"{'was' if n == 1 else 'were'} rejected")
            self._emit()
            s = self.stats
            if s["hits"] or s["uploaded"]:
                self._note(f"remote cache: {s['hits']} hits ({s['bytes_down'] / 1e6:.1f} MB downloaded), "
                           f"{s['misses']} misses, {s['uploaded']} uploaded ({s['bytes_up'] / 1e6:.1f} MB)")
            if self.fetch and getattr(self.local, "pending", 0) and not getattr(self.local, "readonly", False):
                self.local.flush()
        finally:
            self.write = False
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.local.close()


def open_remote(local: Any, settings: RemoteSettings, *, warn: Callable[[str], None],
                note: Callable[[str], None] | None = None, expected: int = 0, fetch: bool = True) -> Any:
    """``local`` with the remote cache behind it, or ``local`` alone (with one warning) without a key
    to verify with. Holding public keys only (no HMAC secret, no signing key) reads and never
    uploads. A URL fsspec rejects, or s3fs missing, shows at the first request (as a remote that
    is unavailable)."""
    keys = settings.keys
    if not keys.can_verify and not settings.trust_unsigned:
        warn(f"the remote cache {settings.url} is not used: no key is set to verify its entries with "
             f"(set {TRUSTED_KEYS_ENV}, {SIGNING_KEY_ENV} or {KEY_ENV}, or pass --trust-remote-unsigned)")
        return local
    store = RemoteCachedStore(local, RemoteCache(settings, create=fetch), warn=warn, note=note,
                              expected=expected, fetch=fetch)
    if not keys.can_sign and keys.can_verify:
        store.write = False  # public keys only: it could not sign what it uploads
    return store
