"""Fan-in: an ``ins`` target that binds a parameter to several inputs, a glob over names
(``"page/*"``, fnmatch: ``*`` also crosses ``/``) or ``"group:NAME"``. Checked when declared
(its characters) and expanded when the graph is resolved (what it matches: something, and not
the asset itself), into the asset's inputs in name order; the parameter receives a dict
``{name: value}`` (``execute.Task.fan_in``). Pure: no disk, no clock.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from .errors import DefinitionError

_GLOB_CHARS = "*?["
_GLOB_RE = re.compile(r"[\w/*?\[\]!-]+\Z")  # \w: the word characters of names (größe too)


def is_fan_in(target: object) -> bool:
    """Whether an ``ins`` target binds several inputs: a glob over names or ``group:NAME``."""
    return isinstance(target, str) and (target.startswith("group:") or any(c in target for c in _GLOB_CHARS))


def check_fan_in(target: str, aname: str, *, file: str, line: int) -> str:
    """A glob's characters are those of names and fnmatch's; a group needs a name.
    What they match is checked when the graph is resolved (every declaration is known then)."""
    if target.startswith("group:"):
        group = target[6:]
        if not group:
            raise DefinitionError(f"asset {aname!r}: ins {target!r} names no group: write 'group:NAME' with "
                                  "the group= of the assets to bind", file=file, line=line)
    elif not _GLOB_RE.match(target):
        raise DefinitionError(f"asset {aname!r}: ins {target!r} is not a glob over asset names (letters, "
                              "digits, '_', '/', and '*', '?', '[...]')", file=file, line=line)
    return target


class FanIn:
    """Expands the glob and group targets of ``ins`` over the names of the nodes (sorted once,
    on the first fan-in: a graph without one pays nothing)."""

    def __init__(self, nodes: Mapping[str, Any]) -> None:
        self.nodes = nodes
        self._names: list[str] | None = None
        self._groups: dict[str, list[str]] | None = None

    def expand(self, name: str, d: Any, param: str, target: str) -> list[str]:
        """The names ``target`` matches, sorted; DefinitionError when none, or ``name`` itself."""
        if self._names is None:
            self._names = sorted(self.nodes)
        if target.startswith("group:"):
            if self._groups is None:
                self._groups = {}
                for n in self._names:
                    g = getattr(self.nodes[n], "group", None)
                    if g is not None:
                        self._groups.setdefault(g, []).append(n)
            hits = self._groups.get(target[6:], [])
        else:
            hits = [n for n in self._names if fnmatch.fnmatchcase(n, target)]
        if name in hits:
            raise DefinitionError(f"asset {name!r}: ins maps {param!r} to {target!r}, which matches {name!r} "
                                  "itself; an asset cannot read its own output (narrow the pattern, or move "
                                  "it out of the group)", file=d.file, line=d.line)
        if not hits:
            what = "no asset is in the group" if target.startswith("group:") else "no asset or source matches it"
            raise DefinitionError(f"asset {name!r}: ins maps {param!r} to {target!r}, but {what}; a fan-in "
                                  "must bind at least one input", file=d.file, line=d.line)
        return hits
