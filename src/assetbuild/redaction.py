"""What of a remote cache's URL may be shown: its display form, with its secrets hidden.

A remote URL can carry credentials (``https://user:password@host/...``, a token in the user's
place, ``?token=...``, a presigned ``X-Amz-Signature=...``), and what assetbuild prints ends up
in CI logs, which are often public; what it records (the command line of a run) is shown by
``runs`` and the UI. So every warning, error, JSON document and record shows ``display_url``'s
form, never the URL as given, and an error text from a client library (which may quote the URL,
or the part of it it misread) goes through ``redact_text``. Standard library only: the run
history and the CLI use it without importing fsspec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

HIDDEN = "***"
# scheme, its slashes (even too few: an error message quotes a malformed URL as given), userinfo
# up to the last @; a password with an unescaped "/" in it, as AWS secret keys often have, too
# (read by the RFC, part of the secret would be the host, and shown). (Patterns, compiled on
# first use by re's cache: a build records its command line through ``redact_text`` and,
# without a URL in it, compiles none of them.)
_AUTHORITY = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:/*)(?P<userinfo>[^/?#\s]*@|[^/?#\s@]*:[^?#\s]*@)?"
# a query parameter or a --remote-option whose name says its value is a secret
_SECRET_NAME = r"(?i)token|sig|secret|pass|pwd|key|auth|cred|session"
_URL_IN_TEXT = r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+"
_OPTION_IN_TEXT = r"(--remote-option[= ])('[^']*'|\"[^\"]*\"|\S+)"
_MIN_SECRET = 4  # a literal secret shorter than this is not searched for in free text (it would hide words)


def display_url(url: str) -> str:
    """``url`` as it may be shown: any userinfo (user and password, or a token in the user's
    place) becomes ``***``, and so does the value of every query parameter whose name says it is
    a secret (token, sig, X-Amz-Signature, X-Amz-Credential, password, key...). A chained fsspec
    URL (``simplecache::s3://...``) is redacted part by part."""
    return "::".join(_display_part(part) for part in url.split("::"))


def _display_part(url: str) -> str:
    m = re.match(_AUTHORITY, url)
    if m is not None and m["userinfo"]:
        url = f"{m['scheme']}{HIDDEN}@{url[m.end():]}"
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_, fragment = rest.partition("#")
    params = [_display_param(p) for p in query.split("&")]
    return f"{base}?{'&'.join(params)}{hash_}{fragment}"


def _display_param(param: str) -> str:
    name, eq, value = param.partition("=")
    return f"{name}={HIDDEN}" if eq and value and re.search(_SECRET_NAME, name) else param


def _display_option(word: str) -> str:
    """One --remote-option word, ``KEY=VALUE`` (quoted or not), with VALUE hidden when KEY names
    a secret or VALUE holds one (``client_kwargs={"aws_secret_access_key": ...}``)."""
    quote = word[0] if word[:1] in ("'", '"') else ""
    name, eq, value = word.strip(quote).partition("=")
    secret = eq and value and (re.search(_SECRET_NAME, name) or re.search(_SECRET_NAME, value))
    return f"{quote}{name}={HIDDEN}{quote}" if secret else word


def remote_secrets(url: str, options: dict[str, Any] | None = None) -> list[str]:
    """The secret parts of ``url`` (userinfo, its user and password, secret query values), as
    given and percent-decoded, and the string values of ``options`` (fsspec storage options, at
    any depth) whose name says they are secrets; longest first: what an error text quoting them
    must not show."""
    found: set[str] = set(_option_secrets(options or {}))
    for part in url.split("::"):
        m = re.match(_AUTHORITY, part)
        if m is not None and m["userinfo"]:
            userinfo = m["userinfo"][:-1]
            found.update((userinfo, *userinfo.split(":", 1)))
            # a client quotes what it took for a bucket or host: the password up to a "/"
            found.update(piece for password in userinfo.split(":", 1)[1:] for piece in password.split("/"))
        _, _, rest = part.partition("?")
        for param in rest.partition("#")[0].split("&"):
            name, eq, value = param.partition("=")
            if eq and re.search(_SECRET_NAME, name):
                found.add(value)
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def _option_secrets(options: dict[str, Any], secret: bool = False) -> Iterable[str]:
    for name, value in options.items():
        named = secret or bool(re.search(_SECRET_NAME, str(name)))
        if isinstance(value, dict):
            yield from _option_secrets(value, named)
        elif named and isinstance(value, str):
            yield value


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (an error message, a command line) with every URL in it in its display form, the
    value of every secret ``--remote-option`` hidden, and each of ``secrets`` (``remote_secrets``)
    hidden wherever it appears: a client library may quote what it misread as a bucket or host
    name (``Invalid bucket name "AKIA...:secret@bucket"``)."""
    if "://" in text:
        text = re.sub(_URL_IN_TEXT, lambda m: display_url(m[0]), text)
    if "--remote-option" in text:
        text = re.sub(_OPTION_IN_TEXT, lambda m: m[1] + _display_option(m[2]), text)
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    return text
