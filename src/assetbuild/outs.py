"""Multi-assets as a user declares them: ``@multi_asset(outs={...})`` and its ``Out``s.

One function makes several assets. Each out becomes an ``AssetDef`` of its own (its
``producer`` names the multi-asset), so the graph, keys, rebuilder, status and history treat
it as any asset; what is particular to running them once together is ``assetbuild.multi``.
Declaring checks the function's options with ``@asset``'s own checks (``_check_options``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import definitions
from .declared import _check_options, check_labels, check_name, check_relpath, declared_code
from .definitions import AssetDef
from .errors import DefinitionError


class Out:
    """One output of a ``@multi_asset``: an asset of its own, named by its key in ``outs``.

    ``io`` and ``path`` as for ``@asset``; ``required=False`` lets a run return no value for it
    (its previous value stays current); ``group``, ``description`` and ``metadata`` default to
    the multi-asset's. Checked when the multi-asset is declared (a DefinitionError there)."""

    __slots__ = ("io", "path", "required", "group", "description", "metadata")

    def __init__(self, io: str | None = None, path: str | None = None, required: bool = True,
                 group: str | None = None, description: str | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.io = io
        self.path = path
        self.required = required
        self.group = group
        self.description = description
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"Out(io={self.io!r}, path={self.path!r}, required={self.required!r})"


def multi_asset(fn: Callable[..., Any] | None = None, *, outs: Mapping[str, Out], name: str | None = None,
                ins: Mapping[str, str] | None = None, deps: Iterable[str] = (), code_version: str | None = None,
                group: str | None = None, description: str | None = None,
                metadata: Mapping[str, Any] | None = None, executor: str | None = None,
                timeout: float | None = None, volatile: bool = False, max_age: float | str | None = None,
                env: Iterable[str] | None = None, params: Mapping[str, Any] | None = None,
                freshness: float | str | None = None, auto: str | None = None, schedule: str | None = None,
                timezone: str | None = None) -> Any:
    """Declare ``fn`` as a multi-asset: one function that makes several assets, its ``outs``.

    Each out (``outs={"train": Out(io="pickle"), "sales/eu": Out(path="eu.json")}``) is an asset
    of its own: its own key, data version, path output, status and history, and readers that
    depend on it alone (they rerun only when its bytes change). The function's parameters bind
    as an ``@asset``'s do (``ins``, ``deps``, ``context``, ``params``, ``env``, resources...), and
    it runs once for all its outs; it returns a dict by out name, a tuple in ``outs`` order, or
    an ``Output(...)`` per out. The multi-asset's own name (the function's, or ``name``) is no
    asset: selecting it means all its outs. ``freshness``, ``auto``, ``schedule`` and ``timezone``
    (as for ``@asset``) apply to every out: they run together.
    """
    declared_params = params

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        code = declared_code(f, "@multi_asset")
        file, line = code.co_filename, code.co_firstlineno
        mname = check_name(name if name is not None else getattr(f, "__name__", None), "multi-asset",
                           file=file, line=line)
        fparams, ins_map, dep_list, _, _, limit, age, env_names, defaults, _ = _check_options(
            f, mname, file=file, line=line, ins=ins, deps=deps, io=None, path=None, code_version=code_version,
            executor=executor, timeout=timeout, outputs=None, volatile=volatile, max_age=max_age, env=env,
            params=declared_params, what="multi-asset")
        if group is not None or description is not None or metadata is not None:
            check_labels(f"multi-asset {mname!r}", group=group, description=description, metadata=metadata,
                         file=file, line=line)
        policy = None
        if freshness is not None or auto is not None or schedule is not None or timezone is not None:
            from .declared import check_policy

            policy = check_policy(mname, freshness=freshness, auto=auto, schedule=schedule, timezone=timezone,
                                  file=file, line=line, what="multi-asset")
        out_defs = []
        for oname, o in _check_outs(outs, mname, file=file, line=line):
            meta = {**(metadata or {}), **(o.metadata or {})}
            io_name = o.io if o.io is not None else "pickle"
            rel = check_relpath(o.path, f"out {oname!r} path", file=file, line=line) if o.path is not None else None
            d = AssetDef(oname, f, fparams, ins_map, dep_list, io_name, rel, code_version,
                         o.group if o.group is not None else group,
                         o.description if o.description is not None else description, meta, executor, file,
                         line, limit, (), volatile, age, env_names, defaults)
            d.producer = mname
            d.output_required = o.required
            if policy is not None:
                d.freshness, d.auto, d.schedule, d.schedule_tz = policy
            out_defs.append(d)
        try:
            f.__assetbuild_multi_asset__ = tuple(out_defs)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        if definitions._collector is not None:
            definitions._collector.extend(out_defs)
        return f

    if fn is not None:
        if not callable(fn):
            raise DefinitionError(f"@multi_asset used with a positional argument {fn!r}; use keywords, "
                                  "e.g. @multi_asset(outs={'a': Out(), 'b': Out()})",
                                  file=sys._getframe(1).f_code.co_filename, line=sys._getframe(1).f_lineno)
        return decorate(fn)
    return decorate


def _check_outs(outs: object, mname: str, *, file: str, line: int) -> list[tuple[str, Out]]:
    """The outs of a multi-asset, in order, each field checked: a DefinitionError names the out."""
    if not isinstance(outs, Mapping) or not outs:
        raise DefinitionError(f"multi-asset {mname!r}: outs must be a non-empty dict of names to Out(...), e.g. "
                              "outs={'train': Out(), 'test': Out(io='json')}"
                              f", got {outs!r}", file=file, line=line)
    checked = []
    for oname, o in outs.items():
        oname = check_name(oname, f"out of multi-asset {mname!r}: out", file=file, line=line)  # (as Python holds identifiers)
        if not isinstance(o, Out):
            raise DefinitionError(f"multi-asset {mname!r}: out {oname!r} must be an Out(...), got {o!r}",
                                  file=file, line=line)
        if o.io is not None and (not isinstance(o.io, str) or not o.io or o.io == "files"):
            raise DefinitionError(f"multi-asset {mname!r}: out {oname!r}: io must be an IO manager name, got "
                                  f"{o.io!r}", file=file, line=line)
        if not isinstance(o.required, bool):
            raise DefinitionError(f"multi-asset {mname!r}: out {oname!r}: required must be True or False, got "
                                  f"{o.required!r}", file=file, line=line)
        for field_name in ("group", "description"):
            v = getattr(o, field_name)
            if v is not None and not isinstance(v, str):
                raise DefinitionError(f"multi-asset {mname!r}: out {oname!r}: {field_name} must be a str, got "
                                      f"{v!r}", file=file, line=line)
        if o.metadata is not None and not isinstance(o.metadata, Mapping):
            raise DefinitionError(f"multi-asset {mname!r}: out {oname!r}: metadata must be a dict, got "
                                  f"{o.metadata!r}", file=file, line=line)
        checked.append((oname, o))
    return checked

