"""The checks of what an asset declares: names, paths, time limits, the function's parameters,
``ins``/``deps``/``io``/``path``/``outputs``, ``volatile``/``max_age``, ``env`` and ``params``.

``@asset`` and ``@multi_asset`` (assetbuild.definitions, assetbuild.outs) share them, so both
refuse the same mistakes with the same words: each a DefinitionError at the declaration's line.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from types import BuiltinFunctionType, CodeType, MethodType
from typing import Any

from .clock import parse_duration, span_error
from .errors import DefinitionError
from .fanin import check_fan_in, is_fan_in
from .selection import normal_name

# A path that needs no normalising: plain segments, none of them "." or "..".
_PLAIN_PATH_RE = re.compile(r"(?!\.\.?(?:/|\Z))[\w.-]+(?:/(?!\.\.?(?:/|\Z))[\w.-]+)*\Z")


def plain_str(text: str) -> str:
    """``text`` as a plain ``str``: a subclass (a ``StrEnum`` member, ``numpy.str_``) has the same
    text but no place in the store's records (marshal refuses it, or writes numpy's as bytes)."""
    return text if type(text) is str else str.__str__(text)


def check_name(name: object, what: str, *, file: str | None = None, line: int | None = None) -> str:
    """Return ``name`` as declarations hold it if it is a valid asset/source name, else raise a
    DefinitionError saying why. A name is a Python identifier (any a ``def`` takes, ``größe``
    too: it names a parameter of its readers), or several joined by '/' for a namespace. A
    keyword (``class``) passes, as it always has: no parameter takes it, but ``ins=`` and the
    command line do. It is normalized as Python normalizes identifiers (``selection.normal_name``)."""
    norm = normal_name(name) if isinstance(name, str) else name
    words = norm.split("/") if isinstance(norm, str) else ()
    if not isinstance(norm, str) or not all(w.isidentifier() for w in words):
        raise DefinitionError(
            f"invalid {what} name {name!r}: use a Python identifier, or '/'-joined identifiers "
            "for a namespace (e.g. 'raw/orders')", file=file, line=line)
    return norm


def check_relpath(path: object, what: str, *, file: str | None = None, line: int | None = None) -> str:
    """Normalise a workspace path to posix form; refuse absolute paths and paths that leave the project."""
    if type(path) is str and _PLAIN_PATH_RE.match(path):
        return path
    if not isinstance(path, str) or not path.strip():
        raise DefinitionError(f"{what} must be a non-empty relative path, got {path!r}", file=file, line=line)
    p = path.replace("\\", "/")
    parts = [s for s in p.split("/") if s not in ("", ".")]
    if p.startswith("/") or re.match(r"[A-Za-z]:", p) or ".." in parts or not parts:
        raise DefinitionError(f"{what} {path!r} must be relative to the project directory and stay inside it",
                              file=file, line=line)
    return "/".join(parts)


def check_labels(what: str, *, group: object, description: object, metadata: object = None,
                 file: str | None = None, line: int | None = None) -> None:
    """``group`` and ``description`` are text, ``metadata`` a dict: ``group=3`` would be selected by
    no ``group:NAME``, and ``metadata="x"`` would fail later in ``dict()``, naming no asset."""
    for label, value in (("group", group), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise DefinitionError(f"{what}: {label} must be a str, got {value!r}", file=file, line=line)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise DefinitionError(f"{what}: metadata must be a dict of names to values, e.g. "
                              f"metadata={{'owner': 'data-team'}}, got {metadata!r}", file=file, line=line)


# Built-in executors that run assets in threads of the build, which nothing can stop from outside.
UNKILLABLE_EXECUTORS = frozenset({"threads"})


def doc_summary(doc: str | None) -> str | None:
    """A docstring's first paragraph on one line, as ``list`` and the UI describe an asset by it:
    its first line alone cut a summary wrapped over two lines mid-sentence."""
    lines = (doc or "").strip().splitlines()
    return " ".join(ln.strip() for ln in lines[:next((i for i, ln in enumerate(lines) if not ln.strip()),
                                                          len(lines))]) or None


def check_duration(value: object, label: str, *, file: str, line: int) -> float:
    """Seconds from a duration a declaration gives (``"90m"``, ``"1h"``, 3600: clock.parse_duration);
    a DefinitionError "LABEL must be ..." at the declaration's line."""
    try:
        return parse_duration(value)
    except ValueError as e:
        raise DefinitionError(f"{label} {e}", file=file, line=line) from None


def check_timeout(value: object, what: str, *, file: str | None = None, line: int | None = None) -> float | None:
    """A time limit in seconds: a positive finite number (None: no limit)."""
    if value is None:
        return None
    problem = span_error(value, positive=True)  # (past MAX_SPAN_S, a wait on it overflowed)
    if problem is not None:
        raise DefinitionError(f"{what} {problem}, got {value!r}", file=file, line=line)
    return float(value)  # type: ignore[arg-type]  # (span_error checked it is a number)


# The modules whose frames stand between a decorator and the AssetFile line that applied it.
_DECLARING = frozenset(f"{__package__}.{m}" for m in ("declared", "definitions", "outs"))


def declared_code(f: object, decorator: str) -> CodeType:
    """The code of the function ``@decorator`` (``"@asset"``...) declares, checked first (before
    its name: a partial has none, and "invalid asset name None" sent users looking at names).

    Anything but a plain function is refused at the line that applied the decorator, taken from
    the caller's frame: a partial, a callable object or a staticmethod has no code to name a line
    by ("<unknown>" was all the error said). A bound method is refused too (its code would name
    the def's line, and blame the parameter 'self'): its object is an input no key could see (the
    fingerprint reads code, closure cells and globals, not an object's attributes), so accepting
    it would let ``Loader(4).load`` reuse ``Loader(3)``'s value.
    """
    code: CodeType | None = getattr(f, "__code__", None)
    if code is not None and not isinstance(f, MethodType):
        return code
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__") in _DECLARING:
        frame = frame.f_back
    wrap = "wrap the call in a def whose parameters name its inputs"
    if isinstance(f, MethodType):
        got, fix = f"the bound method {f.__qualname__}", (
            "its object (self) is state no key can see; declare a def that makes the object and calls the method")
    elif isinstance(f, staticmethod):
        got, fix = f"a staticmethod ({f.__func__.__qualname__})", f"write {decorator} under @staticmethod, next to the def"
    elif isinstance(f, classmethod):
        got, fix = f"a classmethod ({f.__func__.__qualname__})", "declare it as a function outside the class"
    elif isinstance(f, functools.partial):
        got, fix = f"functools.partial({getattr(f.func, '__qualname__', f.func)!s}, ...)", wrap
    elif isinstance(f, (BuiltinFunctionType, type)):
        got, fix = f"the {'builtin' if isinstance(f, BuiltinFunctionType) else 'class'} {f.__qualname__}", wrap
    elif callable(f):
        got, fix = f"a {type(f).__qualname__} object", wrap
    else:
        got, fix = repr(f), "decorate a def"
    raise DefinitionError(f"{decorator} needs a plain function (a def), got {got}: {fix}",
                          file=frame.f_code.co_filename, line=frame.f_lineno)


def _params_of(fn: Callable[..., Any], file: str, line: int, what: str = "asset") -> tuple[tuple[str, bool], ...]:
    code = fn.__code__  # (declared_code checked it has one)
    if what == "asset" and code.co_flags & 0x2A0:  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
        kind = "an async function" if code.co_flags & 0x280 else "a generator function"
        raise DefinitionError(f"asset {fn.__name__!r} is {kind}; an asset returns its value "
                              "(collect it into a list first)", file=file, line=line)
    if code.co_flags & 0x0C:  # CO_VARARGS | CO_VARKEYWORDS
        raise DefinitionError(f"{what} {fn.__name__!r}: *args/**kwargs cannot be bound to assets; "
                              "name each input", file=file, line=line)
    n = code.co_argcount + code.co_kwonlyargcount
    names = code.co_varnames[:n]
    ndef = len(fn.__defaults__ or ())
    kwdefaults = fn.__kwdefaults__ or {}
    out = []
    for i, p in enumerate(names):
        if i < code.co_argcount:
            has_default = i >= code.co_argcount - ndef
        else:
            has_default = p in kwdefaults
        out.append((p, has_default))
    return tuple(out)


def check_outputs(outputs: object, aname: str, *, file: str, line: int) -> tuple[str, ...]:
    """Normalise ``outputs=``: project-relative paths, a trailing '/' for a directory, none
    inside another (the project-wide overlaps are checked when the graph is resolved)."""
    if isinstance(outputs, str) or not isinstance(outputs, (list, tuple)) or not outputs:
        raise DefinitionError(f"asset {aname!r}: outputs must be a non-empty list of paths, e.g. "
                              f"outputs=['model.pkl', 'eval/'], got {outputs!r}", file=file, line=line)
    out: list[str] = []
    for entry in outputs:
        if not isinstance(entry, str):
            raise DefinitionError(f"asset {aname!r}: outputs entries must be paths (str), got {entry!r}",
                                  file=file, line=line)
        is_dir = entry.replace("\\", "/").endswith("/")
        rel = check_relpath(entry.replace("\\", "/").rstrip("/") if entry.strip("/\\") else entry,
                            f"asset {aname!r} output", file=file, line=line)
        out.append(rel + "/" if is_dir else rel)
    for i, a in enumerate(out):
        for b in out[:i]:
            pa, pb = a.rstrip("/"), b.rstrip("/")
            if pa == pb or pa.startswith(pb + "/") or pb.startswith(pa + "/"):
                raise DefinitionError(f"asset {aname!r}: outputs {b!r} and {a!r} overlap; declare each "
                                      "file or directory once", file=file, line=line)
    return tuple(out)


def _normal_target(target: Any) -> Any:
    """An ``ins`` target with the names it holds in their declared form (``normal_name``): a name
    or a glob over names, ``In(name, ...)``; a group's name is a label, kept as given."""
    if isinstance(target, str):
        return plain_str(target) if target.startswith("group:") else normal_name(target)
    if type(target).__name__ == "In" and isinstance(target.asset, str) and not target.asset.isascii():
        return type(target)(normal_name(target.asset), target.mapping)
    return target


def _check_options(f: Callable[..., Any], aname: str, *, file: str, line: int, ins: Mapping[str, str] | None,
                   deps: Iterable[str], io: str | None, path: str | None, code_version: str | None,
                   executor: str | None, timeout: float | None, outputs: Iterable[str] | None, volatile: bool,
                   max_age: float | str | None, env: Iterable[str] | None, params: Mapping[str, Any] | None,
                   what: str = "asset") -> tuple[Any, ...]:
    """The checks ``@asset`` and ``@multi_asset`` share, so both refuse the same mistakes with
    the same words: the function's parameters, ``ins``, ``deps``, ``io``/``path``/``outputs``,
    ``code_version``, ``timeout``, ``volatile``/``max_age``, ``env`` and ``params``, each a
    DefinitionError at the declaration's line. Returns (parameters, ins, deps, io name, path,
    timeout, max_age, env, params defaults, outputs)."""
    declared_params = params
    fparams = _params_of(f, file, line)
    if ins is not None and not isinstance(ins, Mapping):
        raise DefinitionError(f"{what} {aname!r}: ins must be a dict of parameter names to inputs, e.g. "
                              f"ins={{'rows': 'cleaned'}}, got {ins!r}", file=file, line=line)
    # (parameters are identifiers, and inputs names: both in the form a declaration holds, check_name)
    ins_map = {normal_name(k) if isinstance(k, str) else k: _normal_target(v) for k, v in ins.items()} if ins else {}
    pnames = {p for p, _ in fparams} if ins_map else ()
    for param, target in ins_map.items():
        if param not in pnames:
            raise DefinitionError(f"{what} {aname!r}: ins names parameter {param!r}, which the "
                                  "function does not have", file=file, line=line)
        if type(target) is not str and type(target).__name__ == "In":  # In(asset, mapping=...): partitions
            check_name(target.asset, f"input of {what} {aname!r}", file=file, line=line)
        elif not is_fan_in(target):
            check_name(target, f"input of {what} {aname!r}", file=file, line=line)
        else:
            check_fan_in(target, aname, file=file, line=line)
    if deps is not None and (isinstance(deps, (str, bytes)) or not isinstance(deps, Iterable)):  # None: none
        raise DefinitionError(f"{what} {aname!r}: deps must be a list of asset or source names, e.g. "
                              f"deps=[{deps!r}], got {deps!r}" if isinstance(deps, str) else
                              f"{what} {aname!r}: deps must be a list of asset or source names, got {deps!r}",
                              file=file, line=line)
    dep_list = tuple(normal_name(d) if isinstance(d, str) else d for d in deps) if deps else ()
    for d in dep_list:
        check_name(d, f"dependency of {what} {aname!r}", file=file, line=line)
    io_name = io
    outs: tuple[str, ...] = ()
    if outputs is not None:
        outs = check_outputs(outputs, aname, file=file, line=line)
        if path is not None:
            raise DefinitionError(f"{what} {aname!r}: path= writes the returned value to a file and "
                                  "outputs= declares files the function writes itself; use one of them",
                                  file=file, line=line)
        if io is not None:
            raise DefinitionError(f"{what} {aname!r}: io= stores a returned value, but an asset with "
                                  "outputs= returns None (its files are its output); remove io=",
                                  file=file, line=line)
        if "context" not in {p for p, _ in fparams}:
            raise DefinitionError(f"{what} {aname!r} declares outputs= but has no 'context' parameter: "
                                  "it writes its files where context.out(...) says", file=file, line=line)
        io_name = "files"
    elif io == "files":
        raise DefinitionError(f"{what} {aname!r}: io='files' belongs to assets that declare outputs=",
                              file=file, line=line)
    if io_name is None:
        io_name = "pickle"
    if not isinstance(io_name, str) or not io_name:
        raise DefinitionError(f"{what} {aname!r}: io must be an IO manager name (a str such as 'json'), "
                              f"got {io_name!r}", file=file, line=line)
    # (a plain path, or no timeout, is the common case: no message is formatted for it)
    rel = path if path is None or (type(path) is str and _PLAIN_PATH_RE.match(path)) else \
        check_relpath(path, f"{what} {aname!r} path", file=file, line=line)
    if rel is not path and isinstance(path, str) and path.rstrip().endswith(("/", "\\")):
        raise DefinitionError(f"{what} {aname!r}: path={path!r} names a directory; path= writes one file (the "
                              "returned value). Name the file, or declare a directory the function fills itself "
                              f"with outputs=[{path!r}]", file=file, line=line)
    if code_version is not None and not isinstance(code_version, str):
        raise DefinitionError(f"{what} {aname!r}: code_version must be a str", file=file, line=line)
    limit = None if timeout is None else check_timeout(timeout, f"{what} {aname!r}: timeout", file=file, line=line)
    if limit is not None and executor in UNKILLABLE_EXECUTORS:
        raise DefinitionError(f"{what} {aname!r}: the {executor!r} executor cannot stop a running "
                              "asset, so it cannot enforce timeout=; use executor='processes'",
                              file=file, line=line)
    if not isinstance(volatile, bool):
        raise DefinitionError(f"{what} {aname!r}: volatile must be True or False, got {volatile!r}",
                              file=file, line=line)
    age = None
    if max_age is not None:
        if volatile:
            raise DefinitionError(f"{what} {aname!r}: max_age and volatile=True contradict each other "
                                  "(a volatile asset runs on every build); use one of them",
                                  file=file, line=line)
        age = check_duration(max_age, f"{what} {aname!r}: max_age", file=file, line=line)
    env_names = check_env(env, aname, file=file, line=line) if env is not None else ()
    defaults = check_params(declared_params, aname, file=file, line=line) if declared_params is not None else None
    return fparams, ins_map, dep_list, io_name, rel, limit, age, env_names, defaults, outs


def check_env(env: object, aname: str, *, file: str, line: int) -> tuple[str, ...]:
    """The variable names of ``env=``, sorted without repeats (their order is no part of the key)."""
    if isinstance(env, (str, bytes)) or not isinstance(env, (list, tuple)):
        raise DefinitionError(f"asset {aname!r}: env must be a list of environment variable names, "
                              f"got {env!r}", file=file, line=line)
    for n in env:
        if not isinstance(n, str):
            raise DefinitionError(f"asset {aname!r}: env must be a list of strings, got {n!r} in it",
                                  file=file, line=line)
        if not (n.isascii() and n.isidentifier()):  # [A-Za-z_][A-Za-z0-9_]*
            raise DefinitionError(f"asset {aname!r}: env names {n!r}, which is not an environment variable "
                                  "name (letters, digits and '_', not starting with a digit)", file=file, line=line)
    return tuple(sorted({plain_str(n) for n in env}))


def check_params(params: object, aname: str, *, file: str, line: int) -> dict[str, Any]:
    """The defaults of ``params=``: a dict of names to JSON values, copied (and checked now,
    so a value with no JSON form fails at its declaration, not in the middle of a build)."""
    from .params import PARAM_NAME_RE, json_problem

    if not isinstance(params, Mapping):
        raise DefinitionError(f"asset {aname!r}: params must be a dict of names to JSON defaults, e.g. "
                              f"params={{'threshold': 3}}, got {params!r}", file=file, line=line)
    for k, v in params.items():
        if not isinstance(k, str) or not PARAM_NAME_RE.match(k):
            raise DefinitionError(f"asset {aname!r}: param name {k!r} must be a str of letters, digits, "
                                  "'_' and '-', not starting with a digit or '-'", file=file, line=line)
        problem = json_problem(v)
        if problem is not None:
            raise DefinitionError(f"asset {aname!r}: the default of param {k!r} is not JSON: {problem}",
                                  file=file, line=line)
    import json

    return dict(json.loads(json.dumps(dict(params))))  # a copy: the caller's dict may change later


def check_partitions(partitions: Any, aname: str, path: str | None, outputs: tuple[str, ...],
                     ins: Mapping[str, Any], *, file: str, line: int) -> Any:
    """``@asset(partitions=...)``: a definition, and a path (or outputs) naming ``{partition}``
    (each partition writes its own file); ``{partition}`` without partitions is a mistake too."""
    from .partitions import PartitionsDefinition

    if partitions is None:
        where = path if path is not None and "{partition}" in path else next(o for o in outputs if "{partition}" in o)
        raise DefinitionError(f"asset {aname!r}: {where!r} names {{partition}}, but the asset has no partitions= "
                              "(e.g. partitions=DailyPartitions(start='2024-01-01'))", file=file, line=line)
    if not isinstance(partitions, PartitionsDefinition):
        raise DefinitionError(f"asset {aname!r}: partitions= takes StaticPartitions, DailyPartitions (or Hourly, "
                              f"Weekly, Monthly), FilePartitions or DynamicPartitions, got {partitions!r}",
                              file=file, line=line)
    if path is not None and "{partition}" not in path:
        raise DefinitionError(f"asset {aname!r} is partitioned, but its path {path!r} lacks {{partition}}: every "
                              f"partition would write the same file (e.g. path={_templated(path)!r})",
                              file=file, line=line)
    for o in outputs:
        if "{partition}" not in o:
            raise DefinitionError(f"asset {aname!r} is partitioned, but its output {o!r} lacks {{partition}}: "
                                  "every partition would write the same file", file=file, line=line)
    for param, target in ins.items():
        if isinstance(target, str) and is_fan_in(target):
            raise DefinitionError(f"asset {aname!r}: a partitioned asset cannot take a glob or group in ins "
                                  f"({param}={target!r}); name each input", file=file, line=line)
    return partitions


def _templated(path: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}/{{partition}}.{ext}" if dot and "/" not in ext else f"{path}/{{partition}}"


AUTO_MODES = ("eager", "lazy")
_CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_policy(aname: str, *, freshness: object, auto: object, schedule: object, timezone: object,
                 file: str, line: int, what: str = "asset") -> tuple[float | None, str | None, str | None, str]:
    """``freshness=``, ``auto=``, ``schedule=`` and ``timezone=`` (assetbuild.policies): when an
    asset should be built, never what it is, so none of them enters a key. Called only when one
    is given, so declaring an asset without a policy imports no cron library. Returns
    (freshness in seconds, auto mode, cron expression, the schedule's IANA time zone)."""
    fresh = check_duration(freshness, f"{what} {aname!r}: freshness", file=file, line=line) \
        if freshness is not None else None
    if auto is not None and auto not in AUTO_MODES:
        raise DefinitionError(f"{what} {aname!r}: auto must be 'eager' (build as soon as an input changes), "
                              f"'lazy' (only when a freshness needs it) or None (never automatically), got {auto!r}",
                              file=file, line=line)
    if schedule is not None:
        schedule = check_cron(schedule, f"{what} {aname!r}", file=file, line=line)
    tz = "UTC"
    if timezone is not None:
        if schedule is None:
            raise DefinitionError(f"{what} {aname!r}: timezone= is the time zone of schedule=, and it has no "
                                  "schedule; add schedule='0 9 * * *' or remove timezone=", file=file, line=line)
        tz = check_timezone(timezone, f"{what} {aname!r}", file=file, line=line)
    return fresh, auto, schedule, tz


def check_cron(schedule: object, what: str, *, file: str | None = None, line: int | None = None) -> str:
    """A standard five-field cron expression (minute hour day month weekday) or an alias such
    as ``@daily``, checked by croniter (a maintained cron library, imported only here)."""
    from croniter import croniter  # type: ignore[import-untyped]  # no stubs

    text = schedule.strip() if isinstance(schedule, str) else None
    if not text or (len(text.split()) != 5 and text not in _CRON_ALIASES) or not croniter.is_valid(text):
        wrong = _cron_out_of_range(text) if text else None
        raise DefinitionError(f"{what}: schedule must be a cron expression of five fields (minute hour day "
                              f"month weekday, e.g. '0 9 * * *') or @daily, @hourly..., got {schedule!r}"
                              + (f": {wrong}" if wrong else ""), file=file, line=line)
    if not cron_fires(text):
        raise DefinitionError(f"{what}: schedule {text!r} never fires: no date matches it within "
                              f"{CRON_HORIZON_YEARS} years (a day its months do not have, such as February 30 or "
                              "April 31?)", file=file, line=line)
    return text


CRON_HORIZON_YEARS = 10  # the longest real gap is 8 years: Feb 29 skips 2100 (2096 -> 2104)


def cron_fires(text: str) -> bool:
    """Whether the valid cron ``text`` matches some minute within ``CRON_HORIZON_YEARS`` of
    2000-01-01 UTC. croniter accepts "0 0 31 2 *" and only fails when asked for a time; checked
    here, such a schedule is a definition error at its line instead of a crash on the first tick.
    A pattern that fires at all fires at least every 8 years (Feb 29), so within any such window; the fixed start keeps the check pure (no clock)."""
    from datetime import datetime, timezone

    from croniter import CroniterError, croniter

    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc),
                 max_years_between_matches=CRON_HORIZON_YEARS).get_next(float)
    except (CroniterError, ValueError, OverflowError):
        return False
    return True


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


def _cron_out_of_range(text: str) -> str | None:
    """Which field of a five-field expression holds a number outside its range ('hour 25 is not
    in 0-23'): croniter says only "out of range", and five fields look right to the eye."""
    fields = text.split()
    if len(fields) != 5:
        return None
    for (field, low, high), part in zip(_CRON_FIELDS, fields):
        for item in part.split(","):
            for n in re.split(r"[-/]", item.split("/")[0]):
                if n.isdigit() and not low <= int(n) <= high:
                    return f"{field} {n} is not in {low}-{high}"
    return None


def check_timezone(tz: object, what: str, *, file: str | None = None, line: int | None = None) -> str:
    """An IANA time zone name (``"Europe/Paris"``, ``"UTC"``) that this machine knows."""
    if isinstance(tz, str) and tz in ("UTC", "utc", "Z"):
        return "UTC"
    from zoneinfo import ZoneInfo

    try:
        if not isinstance(tz, str) or not tz:
            raise ValueError
        ZoneInfo(tz)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise DefinitionError(f"{what}: timezone must be an IANA time zone name such as 'Europe/Paris' or "
                              f"'UTC', got {tz!r}", file=file, line=line) from None
    return tz


def refuse_source_freshness(name: str, what: str, *, file: str, line: int) -> None:
    """``freshness=`` on a source: a source changes when the outside world does, so a lag is a
    property of what reads it."""
    raise DefinitionError(f"{what} {name!r}: freshness belongs to the assets that read it, not to a source; "
                          "declare it on them: @asset(freshness='1h')", file=file, line=line)
