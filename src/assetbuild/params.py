"""Params: values an asset declares with ``@asset(params={...})``, which a run may override.

An asset's params are resolved once per build, from four layers, lowest to highest: its
declared defaults; ``[tool.assetbuild.params.ASSET]`` in pyproject.toml; ``--param
ASSET.KEY=VALUE``; ``build(params={ASSET: {KEY: value}})``. The result is one canonical JSON
text per asset (sorted keys, compact, not ASCII-escaped): it is what enters the asset's key,
what the head records, and what the function reads back as ``context.params``, so the key and
the run can never see different values.

Every value must be JSON (no NaN, no non-string object keys): a default that is not is a
definition error, an override that is not a ConfigError naming where it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from .errors import ConfigError
from .wording import words

# A param's name: what a pyproject bare key and ``--param ASSET.KEY=VALUE`` can both carry.
PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: sorted keys, no spaces, non-ASCII kept, numbers as json gives them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_problem(value: Any) -> str | None:
    """Why ``value`` is not a JSON value (None if it is): what it holds that JSON has no form for."""
    stack = [value]
    while stack:
        v = stack.pop()
        if v is None or isinstance(v, (bool, int)):
            continue
        if isinstance(v, str):
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:  # ("\ud800" in JSON text: half of a character)
                    return f"{v!r} is not Unicode text (it holds a lone surrogate)"
            continue
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return f"{v!r} has no JSON form"
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            for k in v:
                if not isinstance(k, str):
                    return f"the object key {k!r} is not a string"
            stack.extend(v)
            stack.extend(v.values())
        else:
            return f"{type(v).__module__}.{type(v).__qualname__} {_short_repr(v)} is not JSON"
    return None


def _short_repr(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def declared_json(defaults: Mapping[str, Any]) -> str:
    """The canonical JSON of an asset's params when nothing overrides them ("" for none)."""
    return canonical_json(dict(defaults)) if defaults else ""


def parse_param_arg(item: str) -> tuple[str, str, Any]:
    """(asset, key, value) of one ``--param ASSET.KEY=VALUE``: the asset name may hold '/' and
    '.' is not in a key, so ASSET.KEY splits at its last '.'; VALUE is read as JSON, else it is
    the string itself (``--param a.region=eu`` needs no quotes)."""
    target, sep, raw = item.partition("=")
    asset, dot, key = target.strip().rpartition(".")
    if not sep or not dot or not asset or not key:
        raise ConfigError(f"{_item(item)}: use ASSET.KEY=VALUE, e.g. "
                          f"{words('--param big_ones.threshold=5', repr('big_ones.threshold=5'))}")
    try:
        value = json.loads(raw, parse_constant=_not_json)
    except _NotJson as e:
        try:  # JSON in form, but for a number JSON has none of (NaN, [1, Infinity]): not meant as text
            json.loads(raw)
        except ValueError:
            return asset, key, raw  # ("NaNa": text)
        raise ConfigError(f"{_item(item)}: the value is not JSON: {e}") from None
    except ValueError:
        value = raw
    return asset, key, value


def _item(item: str) -> str:
    """One ``--param`` item as its reader names it (the API's ``param_args``)."""
    return words(f"--param {item!r}", f"param_args item {item!r}")


class _NotJson(ValueError):
    pass


def _not_json(name: str) -> Any:
    raise _NotJson(f"{name} has no JSON form")  # NaN, Infinity: Python's json reads them, JSON does not


# name -> (the name its params are set by, what it is of that one): a multi-asset's out, a partition
Owners = Mapping[str, tuple[str, str]]


def resolve_params(declared: Mapping[str, Mapping[str, Any]], assets: Container[str], *,
                   table: Any = None, table_where: str = "pyproject.toml [tool.assetbuild.params]",
                   args: Iterable[str] = (), given: Mapping[str, Any] | None = None,
                   owners: Owners | None = None) -> dict[str, str]:
    """Asset -> the canonical JSON of its resolved params, for every asset that declares some.

    ``declared`` maps each asset that declares params to its defaults, ``assets`` holds every
    asset's name (an override of another asset says it declares none); ``table`` is pyproject's
    ``[tool.assetbuild.params]`` (``table_where`` names it in errors), ``args`` the ``--param``
    items, ``given`` the ``params=`` of the API call. Each later layer overrides the earlier
    ones, key by key. An unknown asset or key, an asset without params, or a value that is not
    JSON is a ConfigError naming its layer. ``owners`` names the assets whose params are set by
    another name (a multi-asset's outs, partitions), so that naming one says which name to use.
    """
    owners = owners or {}
    layers: list[dict[str, dict[str, Any]]] = []  # lowest first
    if table is not None:
        layers.append(_table_layer(declared, assets, table, table_where, owners))
    if args:
        cli: dict[str, dict[str, Any]] = {}
        for item in args:
            asset, key, value = parse_param_arg(item)
            raw = item.partition("=")[2]

            def cli_fix(owner: str, key: str = key, raw: str = raw) -> str:
                return words(f"--param {owner}.{key}={raw}", repr(f"{owner}.{key}={raw}"))

            _check(declared, assets, asset, key, value, _item(item), owners, cli_fix)
            cli.setdefault(asset, {})[key] = value
        layers.append(cli)
    if given is not None:
        if not isinstance(given, Mapping):
            raise ConfigError(f"params= must map asset names to {{key: value}} dicts, got {_short_repr(given)}")
        api: dict[str, dict[str, Any]] = {}
        for asset, values in given.items():
            if not isinstance(values, Mapping):
                raise ConfigError(f"params=: the value for {asset!r} must be a {{key: value}} dict, "
                                  f"got {_short_repr(values)}")
            def api_fix(owner: str, values: Any = values) -> str:
                return f"params={{{owner!r}: {dict(values)!r}}}"

            _check_asset(declared, assets, asset, "params=", owners, api_fix)
            for key, value in values.items():
                _check(declared, assets, asset, key, value, "params=", owners, api_fix)
            api[asset] = dict(values)
        layers.append(api)
    out = {}
    for asset, defaults in declared.items():
        values = dict(defaults)
        for layer in layers:
            values.update(layer.get(asset, ()))
        out[asset] = canonical_json(values)
    return out


def _table_layer(declared: Mapping[str, Mapping[str, Any]], assets: Container[str], table: Any,
                 where: str, owners: Owners) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of tables, one per asset "
                          "(e.g. [tool.assetbuild.params.big_ones] with threshold = 5)")
    out: dict[str, dict[str, Any]] = {}
    for asset, values in table.items():
        here = f"{where.removesuffix(']')}.{_toml_key(asset)}]"
        if not isinstance(values, dict):
            raise ConfigError(f"{here} must be a table of the asset's params, got {_short_repr(values)} "
                              "(a namespaced asset's name is quoted: [tool.assetbuild.params.\"sales/monthly\"])")
        def table_fix(owner: str) -> str:
            return f"{where.rsplit(' ', 1)[-1].removesuffix(']')}.{_toml_key(owner)}]"

        _check_asset(declared, assets, asset, here, owners, table_fix)
        for key, value in values.items():
            _check(declared, assets, asset, key, value, here, owners, table_fix)
        out[asset] = dict(values)
    return out


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _check(declared: Mapping[str, Mapping[str, Any]], assets: Container[str], asset: Any, key: Any, value: Any,
           where: str, owners: Owners | None = None, fix: Callable[[str], str] | None = None) -> None:
    """One override: its asset declares params, its key is one of them, its value is JSON."""
    defaults = _check_asset(declared, assets, asset, where, owners, fix)
    if key not in defaults:
        raise ConfigError(f"{where}: asset {asset!r} has no param {key!r} (declared: "
                          f"{', '.join(sorted(defaults))})")
    problem = json_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}: the value of {asset}.{key} is not JSON: {problem}")


def _check_asset(declared: Mapping[str, Mapping[str, Any]], assets: Container[str], asset: Any,
                 where: str, owners: Owners | None = None, fix: Callable[[str], str] | None = None
                 ) -> Mapping[str, Any]:
    """The defaults of the asset an override names; ConfigError if it is none or declares none.
    An out of a multi-asset (or a partition) is an asset `list` shows, but its params are its
    owner's: the error says so, and gives the override in the owner's name (``fix``)."""
    defaults = declared.get(asset) if isinstance(asset, str) else None
    if defaults is None and isinstance(asset, str) and owners and asset in owners:
        owner, what = owners[asset]
        raise ConfigError(f"{where}: {asset!r} is {what} {owner!r}, whose params are set by its name"
                          + (f": use {fix(owner)}" if fix is not None else ""))
    if defaults is None and not (isinstance(asset, str) and asset in assets):
        import difflib

        close = difflib.get_close_matches(asset, list(declared), n=1) if isinstance(asset, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: there is no asset {asset!r}{hint}")
    if not defaults:
        raise ConfigError(f"{where}: asset {asset!r} declares no params; declare them with "
                          "@asset(params={...}) to set them")
    return defaults


def params_changes(old: str, new: str) -> list[tuple[str, str]]:
    """(key, what changed) between two canonical params texts, by key: ``3 -> 5``, values as
    JSON; a key one side lacks is newly declared or no longer declared."""
    before: dict[str, Any] = json.loads(old) if old else {}
    after: dict[str, Any] = json.loads(new) if new else {}
    out = []
    for k in sorted(before.keys() | after.keys()):
        if k not in after:
            out.append((k, f"is no longer declared (was {canonical_json(before[k])})"))
        elif k not in before:
            out.append((k, f"is newly declared ({canonical_json(after[k])})"))
        elif canonical_json(before[k]) != canonical_json(after[k]):
            out.append((k, f"{canonical_json(before[k])} -> {canonical_json(after[k])}"))
    return out
