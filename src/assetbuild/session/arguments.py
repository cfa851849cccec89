"""The shapes of an API verb's arguments, checked once for every verb (``verb``), so that a
mistake is refused in one line naming the argument rather than misread:

- a str where names go (``assets``, ``exclude``, ``names``, ``keys``, ``param_args``) is one
  name, not its letters: ``build("report")`` is ``build(["report"])``, as ``observe("raw")``;
- a list where one name goes (``asset``, ``name``, ``metric``) is a TypeError;
- ``partitions`` is a str (``"A..B"``) or a list of keys, each looked up as it is;
- a count (``limit``) and a version (``version``, ``from_version``, ``to_version``) is a whole
  number (a bool or a float is a TypeError), and one the command line refuses (``--limit 0``,
  ``--version -1``) is a ValueError.

``verb`` also finds the call's project as the command does (``located.project_of``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .located import project_of

F = TypeVar("F", bound=Callable[..., Any])


def names(value: Any, argument: str, optional: bool) -> tuple[str, ...]:
    """A sequence of names; one str is one name."""
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(f"{argument}= takes a list of names, got {type(value).__name__} {value!r}") from None
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"{argument}= takes names (each a str), got {type(item).__name__} {item!r}")
    return out


def one_name(value: Any, argument: str, optional: bool) -> str | None:
    """One name (a str; None where the verb takes none)."""
    if isinstance(value, str) or (value is None and optional):
        return value
    also = "; call it once per name" if isinstance(value, (list, tuple, set, frozenset)) else ""
    raise TypeError(f"{argument}= takes one name (a str), got {type(value).__name__} {value!r}{also}")


def partition_keys(value: Any, argument: str, optional: bool) -> str | tuple[str, ...] | None:
    """``--partitions`` as a str (``"A..B"``, ``"a,b"``, one key), or a list of keys, each taken
    as it is (a file key may hold ``,`` or ``..``)."""
    if isinstance(value, str) or (value is None and optional):
        return value
    if isinstance(value, (bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{argument}= takes keys (a str such as \"A..B\", or a list of keys), "
                        f"got {type(value).__name__} {value!r}")
    return names(value, argument, optional)


def _whole(least: int) -> Callable[[Any, str, bool], int | None]:
    def check(value: Any, argument: str, optional: bool) -> int | None:
        if value is None and optional:
            return None
        said = f"{argument} must be a whole number, {least} or more, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(said)
        if value < least:
            raise ValueError(said)
        return value

    return check


_SHAPES: dict[str, Callable[[Any, str, bool], Any]] = {
    "assets": names, "exclude": names, "names": names, "keys": names, "param_args": names,
    "asset": one_name, "name": one_name, "metric": one_name, "partitions": partition_keys,
    "limit": _whole(1), "version": _whole(0), "from_version": _whole(0), "to_version": _whole(0),
}


# A verb the package exports under another name (``assetbuild.run_daemon`` is ``daemon.run``).
_PUBLIC = {"run": "run_daemon", "watch": "watch_project"}


def verb(fn: F) -> F:
    """``fn``, an API verb, with its arguments' shapes checked (``_SHAPES``, by parameter name)
    and, when it takes ``project_dir`` and ``assetfile``, its project found as ``-f FILE`` finds
    it (``located.project_of``)."""
    sig = inspect.signature(fn)
    checks = [(n, _SHAPES[n], "None" in str(p.annotation)) for n, p in sig.parameters.items() if n in _SHAPES]
    places = "project_dir" in sig.parameters and "assetfile" in sig.parameters

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:  # a wrong keyword or count: Python's words, with the verb's name as Python gives it
            raise TypeError(f"{_PUBLIC.get(fn.__name__, fn.__name__)}() {e}") from None
        given = bound.arguments
        for name, check, optional in checks:
            if name in given:
                given[name] = check(given[name], name, optional)
        if places:
            given["project_dir"], given["assetfile"] = project_of(given.get("project_dir", "."), given.get("assetfile"))
        return fn(*bound.args, **bound.kwargs)

    return call  # type: ignore[return-value]
