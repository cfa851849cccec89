"""The remote cache: outputs shared between machines through fsspec, signed and verified.

Three parts, each its own module:

- ``records``: the signed record of one key (its encoding, the HMAC and Ed25519 keys that sign
  and verify it, and the checks that make fetched bytes safe to use);
- ``transport``: the remote itself through fsspec (listing, bounded reads, writes, the circuit
  breaker that stops asking a remote that failed);
- ``cached_store``: ``RemoteCachedStore``, a local store with the remote behind it, which the
  scheduler uses like any store; ``open_remote`` makes one; ``uploads``: its upload half (this
  build's new traces and their blobs sent to the remote, waited for within a deadline);
- ``pool``: the threads transfers run on (daemons: an abandoned transfer never keeps the
  process alive); ``libraries``: the client library a URL needs, and whether it is installed;
  ``folder``: bounded reads of a ``file://`` folder that others write to.

Anyone who can write to the remote can write anything there, so everything read is untrusted
input: records are checked field by field and their signatures verified, blobs are read at most
one byte past their signed size and must match the signed digest. fsspec and cryptography are
imported on first use only.
"""

from __future__ import annotations

from ..redaction import display_url, redact_text, remote_secrets
from .cached_store import RemoteCachedStore, RemoteTrace, open_remote
from .libraries import MissingLibrary, missing_library
from .records import (
    KEY_ENV,
    MAX_RECORD,
    NO_KEYS,
    PUBLIC_PREFIX,
    RECORD_FORMAT,
    SECRET_PREFIX,
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    RecordKeys,
    RemoteRejected,
    decode_record,
    encode_record,
    generate_key_pair,
    key_id,
    parse_signing_key,
    parse_trusted_keys,
    public_key_text,
)
from .transport import DEFAULT_TIMEOUT, REMOTE_ENV, RemoteCache, RemoteSettings
from .uploads import CHECK_BLOB_MIN

__all__ = [
    "CHECK_BLOB_MIN", "DEFAULT_TIMEOUT", "KEY_ENV", "MAX_RECORD", "NO_KEYS", "PUBLIC_PREFIX", "RECORD_FORMAT",
    "REMOTE_ENV", "SECRET_PREFIX", "SIGNING_KEY_ENV", "TRUSTED_KEYS_ENV",
    "MissingLibrary", "RecordKeys", "RemoteCache", "RemoteCachedStore", "RemoteRejected", "RemoteSettings", "RemoteTrace",
    "decode_record", "display_url", "encode_record", "generate_key_pair", "key_id", "missing_library", "open_remote", "parse_signing_key",
    "parse_trusted_keys", "public_key_text", "redact_text", "remote_secrets",
]
