"""Cache keys: a digest of everything an asset's output can depend on, and how two keys differ.

Nothing that differs between two checkouts of the same commit may enter a key: no absolute
paths, times, hosts, hash seeds or dict orders. Inputs enter as *data versions* (digests of
upstream outputs or source contents), never as upstream keys: that is what gives early cutoff.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .reports import Reason

# The encoding of keys: a new schema gives every asset a new key (one full rebuild). Additions
# that only some keys need can avoid that: the source paths (KeyParts.sources) are appended to
# the encoded tuple only when an asset reads a source, so no other key changed when they came,
# and no key that has them can equal one made before (the tuples differ in length). A volatile
# asset's nonce (KeyParts.nonce) is appended the same way, last, and only when set; so are the
# values of the environment variables an asset declares (KeyParts.env), before the nonce, and
# the resolved params of an asset that declares some (KeyParts.params), after them, and the
# versions of the resources it uses (KeyParts.resources), after those and before the nonce; the
# shape of an asset's fan-in parameters (KeyParts.fan_in), after the resources; the parameter
# each input is passed to (KeyParts.binding), behind the marker "binding" after the fan-in, only
# when the function's parameters and the inputs' order leave it open (see implied_binding).
# An out of a multi-asset has its out name as the asset name and its multi-asset's name
# (KeyParts.producer) behind the str marker "multi", after the fan-in and before the nonce:
# a plain asset's tuple never holds that marker, so no out's key can equal a plain asset's key,
# and no plain asset's key changed when multi-assets came. The out's place in ``outs``
# (KeyParts.out_index) follows its multi-asset's name, an int: a returned tuple gives outs
# their values by place, so reordering ``outs`` changes what each out holds. Out keys made
# before it came have no place (-1): each multi-asset ran once more after it came. A partition's definition
# (KeyParts.partition) follows behind the marker "partition", before the nonce; its key is in
# the name (``daily[2024-01-01]``), which no unpartitioned asset's name can be.
KEY_SCHEMA = 1

# Interpreter identity: bytecode and pickles differ between minor versions and implementations.
INTERPRETER = f"{sys.implementation.cache_tag}-O{sys.flags.optimize}"
_PREFIX = f"assetbuild-key/{KEY_SCHEMA}/{INTERPRETER}\n".encode()


class KeyParts(NamedTuple):
    """What went into a key, kept with the latest build of an asset so `status`/`why` can explain.

    A NamedTuple, not a frozen dataclass: a build makes one per asset (and per partition), and a
    frozen dataclass costs an ``object.__setattr__`` per field to make."""

    code: str  # fingerprint digest, or "v:" + code_version
    code_parts: dict[str, str]  # fingerprint components (label -> digest); empty with code_version
    inputs: tuple[tuple[str, str], ...]  # (upstream name, data version) in binding order
    io: str  # "name@version"
    path: str | None
    # (source name, path as source_key_path gives it) of each source passed to a parameter: the
    # function receives that path, so renaming a file with the same bytes is a change too
    sources: tuple[tuple[str, str], ...] = ()
    # a fresh random string per build of a volatile asset, so its key never has a trace; "" else
    nonce: str = ""
    # (name, value) of each environment variable the asset declares, sorted by name: None when
    # unset (not ""), and for a secret name (see is_secret) a digest of the value, never the value
    env: tuple[tuple[str, str | None], ...] = ()
    # the canonical JSON of the asset's resolved params (assetbuild.params); "" when it declares none
    params: str = ""
    # (name, version) of each resource the asset uses that declares a version, sorted by name
    resources: tuple[tuple[str, str], ...] = ()
    # (parameter, how many inputs it binds) of each parameter that receives a dict of several
    # inputs (a glob or group in ``ins``), in parameter order; their names and versions are in
    # ``inputs``. Without it, a glob matching one asset and an ``ins`` naming that asset would
    # share a key, though one function receives {name: value} and the other the value.
    fan_in: tuple[tuple[str, int], ...] = ()
    # the multi-asset that produces this asset (an out of it); "" for a plain asset
    producer: str = ""
    # a partition's definition beyond its key, which is in its node's name (``daily[2024-01-01]``):
    # "daily:UTC" (a time zone changes the window), a file partition's path; "" unpartitioned
    partition: str = ""
    # an out's place among its multi-asset's outs (0, 1...); -1 for a plain asset, and in the head
    # of an out built before places entered keys
    out_index: int = -1
    # the parameter each input is passed to ("" for deps=), when it is not implied_binding's; ()
    # when it is (as it is for a function whose parameters take the inputs in order)
    binding: tuple[str, ...] = ()


def implied_binding(free: Sequence[str], n: int, fan_in: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """The parameter each of ``n`` inputs goes to as a reader of the function would guess: the
    ``free`` parameters (the function's, but ``context``, a resource's or an unmapped
    partition's), in order, each taking one input (a fan-in parameter, as many as it binds),
    while the inputs last; the inputs left are deps= (""). A key holds its asset's binding
    (KeyParts.binding) only when it is another one: declarations that bind in order keep the keys
    they had, and ``ins={"b": "x"}`` (``a`` left to its default) cannot share one with
    ``ins={"a": "x"}``, nor a ``deps=["y"]`` input with one passed to a parameter."""
    counts = dict(fan_in)
    out: list[str] = []
    for p in free:
        k = counts.get(p, 1)
        if len(out) + k > n:
            break
        out += [p] * k
    return tuple(out) + ("",) * (n - len(out))


def make_key(name: str, parts: KeyParts) -> str:
    """The hex digest that identifies one materialization of ``name``.

    The encoding is the ``repr`` of a tuple of strings: unambiguous (quotes are escaped), the
    same in every process and hash seed, and one C call instead of one hash update per field.
    """
    fields: tuple[object, ...] = (name, parts.code, parts.inputs, parts.io, parts.path)
    if parts.sources:  # see KEY_SCHEMA
        fields += (parts.sources,)
    if parts.env:  # the marker "env" is a str, where sources are a tuple and a nonce is "nonce:..."
        fields += ("env", parts.env)
    if parts.params:  # behind its str marker, as env
        fields += ("params", parts.params)
    if parts.resources:  # behind its own str marker, like env
        fields += ("resources", parts.resources)
    if parts.fan_in:  # behind its own str marker, like env
        fields += ("fan_in", parts.fan_in)
    if parts.binding:  # behind its own str marker, like env
        fields += ("binding", parts.binding)
    if parts.producer:  # behind its str marker, like env, and its place (an int) behind it: see KEY_SCHEMA
        fields += ("multi", parts.producer) if parts.out_index < 0 else ("multi", parts.producer, parts.out_index)
    if parts.partition:  # behind its str marker, like env: see KEY_SCHEMA
        fields += ("partition", parts.partition)
    if parts.nonce:  # a str, where sources are a tuple: the two cannot be mistaken for each other
        fields += ("nonce:" + parts.nonce,)
    body = repr(fields)
    return hashlib.sha256(_PREFIX + body.encode("utf-8", "surrogatepass")).hexdigest()


def source_key_path(declared: str) -> str:
    """A source's path as it enters keys: as declared, normalised, with POSIX separators. A
    relative path is relative to the project directory, so a copy of the project elsewhere
    has the same keys; an absolute one is what the function receives wherever the project is."""
    return os.path.normpath(declared).replace(os.sep, "/")


_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def is_secret(name: str, value: str | None = None) -> bool:
    """Whether an environment variable's value must never be shown or stored: its name contains
    KEY, TOKEN, SECRET or PASSWORD, in any case, or its ``value`` holds credentials."""
    upper = name.upper()
    return any(w in upper for w in _SECRET_WORDS) or (value is not None and holds_credentials(value))


def holds_credentials(value: str) -> bool:
    """Whether a text holds a URL with a user part (``postgres://bob:hunter2@db/x``, a token as
    the user): ``DATABASE_URL`` is named like no secret. As ``snapshot.holds_credentials``."""
    at = value.find("://")
    while at > 0:
        start = end = at + 3
        while end < len(value) and value[end] not in "/?#, ;\n":
            end += 1
        if "@" in value[start:end]:
            return True
        at = value.find("://", end)
    return False


def is_env_digest(value: str | None) -> bool:
    """Whether a key's env value is the digest ``env_parts`` puts in place of a secret's."""
    return value is not None and len(value) == 71 and value.startswith("sha256:")


def env_parts(names: tuple[str, ...], environ: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    """KeyParts.env of an asset declaring ``names`` (sorted, no repeats), read from ``environ``.
    A secret's value enters as a digest: the key still changes with it, and the head that
    ``status`` and ``why`` read (and ``cache export`` writes) never holds it."""
    out = []
    for n in names:
        v = environ.get(n)
        if v is not None and is_secret(n, v):
            v = "sha256:" + hashlib.sha256(f"assetbuild-env\0{n}\0{v}".encode("utf-8", "surrogatepass")).hexdigest()
        out.append((n, v))
    return tuple(out)


def _env_value(v: str | None) -> str:
    """A value as a reason shows it: a long one cut (a 50 KB value made every status line of its
    readers 100 KB, and was stored so in the history)."""
    if v is None:
        return "unset"
    return repr(v) if len(v) <= 80 else f"{v[:60]!r}… ({len(v):,} characters)"


def resource_changes(old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]) -> list[Reason]:
    """``resource-changed`` reasons: a versioned resource whose version changed, or that an
    asset newly uses or no longer uses (or that gained or lost its version)."""
    out = []
    before, after = dict(old), dict(new)
    for n in sorted(before.keys() | after.keys()):
        if n not in after:
            out.append(Reason("resource-changed", f"{n} (version {before[n]!r}) removed"))
        elif n not in before:
            out.append(Reason("resource-changed", f"{n} (version {after[n]!r}) added"))
        elif before[n] != after[n]:
            out.append(Reason("resource-changed", f"{n} version {before[n]!r} -> {after[n]!r}"))
    return out


def fan_in_changes(old: tuple[tuple[str, int], ...], new: tuple[tuple[str, int], ...], *,
                   counts: bool = True) -> list[Reason]:
    """``fan-in-changed`` reasons: a parameter that became, or stopped being, a dict of several
    inputs, or (``counts``) binds another number of them."""
    before, after = dict(old), dict(new)
    out = []
    for p in [p for p, _ in new] + [p for p, _ in old if p not in after]:
        if p not in before:
            out.append(Reason("fan-in-changed", f"{p} now receives a dict of {after[p]} inputs"))
        elif p not in after:
            out.append(Reason("fan-in-changed", f"{p} no longer receives a dict of inputs"))
        elif before[p] != after[p] and counts:
            out.append(Reason("fan-in-changed", f"{p} binds {after[p]} inputs (was {before[p]})"))
    return out


def short(digest: str | None) -> str:
    return digest[:12] if digest else "-"


GENERATED = "helper:<generated>"  # code a decorator made (a dataclass's __init__, __eq__...)


def shown_parts(labels: list[str]) -> list[str]:
    """The code parts worth naming: methods generated by a decorator (a dataclass's ``__init__``,
    ``__repr__``, ``__eq__``...) change with their class, whose own part names the change once."""
    mine = [k for k in labels if not k.startswith(GENERATED)]
    return mine or labels


_PER_PARTITION = 3  # more changed partitions of one upstream than this: one reason for them


def _by_partitioned_asset(reasons: list[Reason]) -> list[Reason]:
    """Reasons about many partitions of one upstream as one: "hourly: 24 partitions changed
    (hourly[2024-01-30-00:00] .. hourly[2024-01-30-23:00])" instead of 24 lines."""
    from .partitions import split_node

    groups: dict[tuple[str, str], list[Reason]] = {}
    for r in reasons:
        if r.code in ("upstream-changed", "input-added", "input-removed"):
            asset, key = split_node(r.detail.split(" ", 1)[0].rstrip(":"))
            if key is not None:
                groups.setdefault((r.code, asset), []).append(r)
    out: list[Reason] = []
    done: set[tuple[str, str]] = set()
    verbs = {"upstream-changed": "changed", "input-added": "are new inputs", "input-removed": "are no longer inputs"}
    for r in reasons:
        asset, key = split_node(r.detail.split(" ", 1)[0].rstrip(":"))
        g = groups.get((r.code, asset)) if key is not None else None
        if g is None or len(g) <= _PER_PARTITION:
            out.append(r)
        elif (r.code, asset) not in done:
            done.add((r.code, asset))
            first, last = (x.detail.split(" ", 1)[0].rstrip(":") for x in (g[0], g[-1]))
            out.append(Reason(r.code, f"{asset}: {len(g)} partitions {verbs[r.code]} ({first} .. {last})"))
    return out


def _rebound(old: KeyParts, new: KeyParts, free: Sequence[str] | None) -> list[Reason]:
    """``input-rebound`` reasons: inputs both keys have, passed to other parameters (or in
    another order), which the inputs as a dict do not show. With ``free`` (the function's
    parameters, as implied_binding takes them), what each parameter reads now; else the order."""
    was_up, now_up = [u for u, _ in old.inputs], [u for u, _ in new.inputs]
    both = set(was_up) & set(now_up)
    was_p = old.binding or (implied_binding(free, len(was_up), old.fan_in) if free is not None else None)
    now_p = new.binding or (implied_binding(free, len(now_up), new.fan_in) if free is not None else None)
    out = []
    if not old.binding and new.binding and was_up == now_up:  # the old one implied, or not recorded (an older head)
        return [Reason("input-rebound", "its inputs are now passed out of parameter order: " + _listed(
            [f"{p}={u}" if p else f"deps: {u}" for p, u in zip(new.binding, now_up)]))]
    if was_p is not None and now_p is not None and len(was_p) == len(was_up) and len(now_p) == len(now_up):
        reads: dict[str, tuple[list[str], list[str]]] = {p: ([], []) for p in (*now_p, *was_p)}
        for i, ps in enumerate((was_p, now_p)):
            for p, u in zip(ps, (was_up, now_up)[i]):
                reads[p][i].append(u)
        for p, (was, now) in reads.items():
            if [u for u in was if u in both] == [u for u in now if u in both]:
                continue  # unchanged, or changed only by inputs added or removed (said already)
            if not p:
                out.append(Reason("input-rebound", f"deps= now lists {_listed(now) or 'nothing'} "
                                                   f"(was {_listed(was) or 'nothing'})"))
            elif now:
                out.append(Reason("input-rebound", f"input {p!r} now reads {_quoted(now)} "
                                                   f"(was {_quoted(was) if was else 'unbound'})"))
            else:
                out.append(Reason("input-rebound", f"input {p!r} is now unbound (was {_quoted(was)})"))
    if not out and [u for u in was_up if u in both] != [u for u in now_up if u in both]:
        out.append(Reason("input-rebound", f"its inputs are bound in another order: "
                                           f"{_listed([u for u in was_up if u in both])} -> "
                                           f"{_listed([u for u in now_up if u in both])}"))
    return out


def _quoted(names: list[str]) -> str:
    return repr(names[0]) if len(names) == 1 else _listed(names)


def _listed(names: list[str], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _io_change(old: str, new: str) -> str:
    """How an asset's IO manager changed, from the ``name@version`` tags in its keys (io.io_tag):
    another manager, or a new version of the same one (an upgrade of the manager: it reruns the
    asset once, and its readers only if the bytes differ)."""
    old_name, _, old_v = old.partition("@")  # (a name has no "@": testing.IOManagerContract)
    new_name, _, new_v = new.partition("@")
    if old_name == new_name:
        return f"IO manager {new_name!r} version {old_v or '?'} -> {new_v or '?'} (its new version may store values in " \
               "other bytes)"
    return f"IO manager {old_name!r} -> {new_name!r}"


def explain_change(old: KeyParts, new: KeyParts, *, sources: frozenset[str] | set[str] = frozenset(),
                   observed: frozenset[str] | set[str] = frozenset(),
                   values: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {}),
                   free: Sequence[str] | None = None) -> list[Reason]:
    """Why ``new`` differs from ``old``, one Reason per changed part, most telling first.
    ``sources``: the file sources among the inputs; ``observed``: the observable sources, whose
    versions are the user's strings and are shown as they are; ``values``: (old, new) short
    values of code parts (assetbuild.fingerprint.shown), shown for a changed part known in both;
    ``free``: the function's parameters as implied_binding takes them, to name what an input
    passed to another parameter is passed to."""
    reasons: list[Reason] = []
    if old.code != new.code:
        if new.code.startswith("v:") or old.code.startswith("v:"):
            reasons.append(Reason("code-changed", f"code_version {old.code.removeprefix('v:')!r} -> "
                                  f"{new.code.removeprefix('v:')!r}" if old.code.startswith("v:")
                                  and new.code.startswith("v:") else "code_version set or removed"))
        else:
            changed = sorted(k for k in old.code_parts.keys() & new.code_parts.keys()
                             if old.code_parts[k] != new.code_parts[k])
            added = sorted(new.code_parts.keys() - old.code_parts.keys())
            removed = sorted(old.code_parts.keys() - new.code_parts.keys())
            was, now = values
            bits = [f"{k}: {was[k]} -> {now[k]}" if k in was and k in now else f"{k} changed"
                    for k in shown_parts(changed)] + \
                   [f"{k} added" for k in shown_parts(added)] + [f"{k} removed" for k in shown_parts(removed)]
            reasons.append(Reason("code-changed", "; ".join(bits) or "function code changed"))
    old_in = dict(old.inputs)
    new_in = dict(new.inputs)
    for up, dv in new.inputs:
        before = old_in.get(up)
        if before is None:
            reasons.append(Reason("input-added", f"{up} is a new input"))
        elif before != dv and up in observed:
            reasons.append(Reason("observation-changed", f"{up}: {before!r} -> {dv!r}"))
        elif before != dv:
            code = "source-changed" if up in sources else "upstream-changed"
            reasons.append(Reason(code, f"{up}: {short(before)} -> {short(dv)}"))
    for up in sorted(old_in.keys() - new_in.keys()):
        reasons.append(Reason("input-removed", f"{up} is no longer an input"))
    if old.binding != new.binding or [u for u, _ in old.inputs] != [u for u, _ in new.inputs]:
        reasons += _rebound(old, new, free)
    if len(reasons) > _PER_PARTITION:
        reasons = _by_partitioned_asset(reasons)
    old_src = dict(old.sources)
    for up, p in new.sources:
        before = old_src.get(up)
        if before is not None and before != p:
            reasons.append(Reason("source-moved", f"{up}: its path {before} -> {p}"))
    if old.env != new.env:
        old_env, new_env = dict(old.env), dict(new.env)
        for n in sorted(old_env.keys() | new_env.keys()):
            if n not in new_env:
                reasons.append(Reason("env-changed", f"{n} is no longer declared"))
            elif n not in old_env:
                reasons.append(Reason("env-changed", f"{n} is newly declared"))
            elif old_env[n] != new_env[n]:
                reasons.append(Reason("env-changed", f"{n} changed" if is_secret(n) or is_env_digest(old_env[n])
                                      or is_env_digest(new_env[n]) else
                                      f"{n} {_env_value(old_env[n])} -> {_env_value(new_env[n])}"))
    if old.params != new.params:
        from .params import params_changes

        reasons += [Reason("params-changed", f"{k} {change}") for k, change in params_changes(old.params, new.params)]
    if old.resources != new.resources:
        reasons += resource_changes(old.resources, new.resources)
    if old.fan_in != new.fan_in:  # a count follows from the inputs added or removed, if any
        reasons += fan_in_changes(old.fan_in, new.fan_in, counts=old_in.keys() == new_in.keys())
    if old.producer != new.producer:
        reasons.append(Reason("producer-changed", f"produced by {old.producer or 'itself'!r} -> "
                              f"{new.producer or 'itself'!r}"))
    elif old.out_index != new.out_index and old.out_index < 0:
        reasons.append(Reason("key-changed", f"its key now holds its place among the outs of {new.producer!r} "
                              "(its latest build was made by an older assetbuild)"))
    elif old.out_index != new.out_index:
        reasons.append(Reason("out-moved", f"it is now out {new.out_index + 1} of {new.producer!r} (was "
                              f"{old.out_index + 1}), and a tuple returned gives outs their values by place"))
    if old.partition != new.partition:
        reasons.append(Reason("partition-changed", f"partitions {old.partition or 'none'} -> {new.partition or 'none'}"))
    if old.io != new.io:
        reasons.append(Reason("io-changed", _io_change(old.io, new.io)))
    if old.path != new.path:
        reasons.append(Reason("path-changed", f"output path {old.path} -> {new.path}"))
    return reasons
