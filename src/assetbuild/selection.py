"""The selection syntax: what one item of a selection asks for, and the graph walks it needs.

Pure and graph-agnostic (works on an ``inputs`` mapping), so ``graph.select`` and its tests
share one reading of the syntax:

- ``NAME``, ``glob/*``, ``group:NAME``: the matching assets (a multi-asset's name: its outs);
- ``+SEL``: those and everything upstream; ``SEL+``: those and everything downstream;
  ``+SEL+``: both;
- ``-SEL`` (what ``--exclude SEL`` passes): taken out of the selection, after every other item.
  A leading ``-`` is Bazel's target-pattern subtraction; asset names never start with one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .errors import SelectionError

Inputs = Mapping[str, tuple[tuple[str | None, str], ...]]


class Item(NamedTuple):
    """One parsed selection item: the pattern matched against names, and what to add to it."""

    pattern: str
    upstream: bool = False
    downstream: bool = False
    exclude: bool = False


def parse(text: str) -> Item:
    """``"+raw/*+"`` -> ``Item("raw/*", True, True)``. An empty pattern is a SelectionError:
    ``"+"`` alone would otherwise select nothing, silently."""
    exclude = text.startswith("-")
    body = text[1:] if exclude else text
    up = body.startswith("+")
    if up:
        body = body[1:]
    down = body.endswith("+")
    if down:
        body = body[:-1]
    if not body or body.startswith(("+", "-")) or body.endswith("+"):
        raise SelectionError(f"selection {text!r} names nothing: write NAME, glob/*, group:NAME, "
                             "+NAME, NAME+ or +NAME+")
    return Item(body, up, down, exclude)


def normal_name(name: str) -> str:
    """``name`` in NFKC, the form Python gives identifiers and declarations hold names in
    (``declared.check_name``): ``name="café"`` typed or pasted in another form (macOS's NFD) is
    then the name a parameter ``café`` reads, and ``"ﬁle"`` is ``file``, as ``def ﬁle`` is.
    Otherwise two names that look alike are two names. (An ASCII name is its own form.) A str
    subclass (a ``StrEnum`` member) gives its text as a plain str: the store records only those."""
    if type(name) is not str:
        name = str.__str__(name)
    if name.isascii():
        return name
    import unicodedata

    return unicodedata.normalize("NFKC", name)


def normal_form(text: str) -> str:
    """A selection item as typed, its names in the form declarations hold them
    (``normal_name``: NFKC, as Python normalizes identifiers), so that a name typed or
    pasted in another form (macOS's NFD: ``größe``) selects the asset. A partition key (from
    ``[`` on) and a group's name are data, not identifiers: kept as typed. For the command line;
    the Python API takes names as given (an error says when one differs only in its form)."""
    if text.isascii() or text.lstrip("+-").startswith("group:"):
        return text
    head, bracket, rest = text.partition("[")
    return normal_name(head) + bracket + rest


def same_but_form(name: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` that is ``name`` in another Unicode normal form (NFD for NFC, a
    ligature for its letters), if any: what looks like ``name`` in an error, but is not it."""
    names = list(choices)
    if name.isascii() and all(c.isascii() for c in names):
        return None
    import unicodedata

    norm = unicodedata.normalize("NFKC", name)
    return next((c for c in names if c != name and unicodedata.normalize("NFKC", c) == norm), None)


def upstream(inputs: Inputs, names: Iterable[str]) -> set[str]:
    """``names`` and every asset they read, directly or not (sources are no assets: left out)."""
    seen = {n for n in names if n in inputs}
    stack = list(seen)
    while stack:
        for _, u in inputs.get(stack.pop(), ()):
            if u not in seen and u in inputs:
                seen.add(u)
                stack.append(u)
    return seen


def downstream(inputs: Inputs, names: Iterable[str]) -> set[str]:
    """Every asset that reads one of ``names``, directly or not, and those of ``names`` that are
    assets (a source's readers are its downstream; the source itself is never built)."""
    readers: dict[str, list[str]] = {}
    for name, ins in inputs.items():
        for _, u in ins:
            readers.setdefault(u, []).append(name)
    start = list(names)
    seen = {n for n in start if n in inputs}
    stack = start
    while stack:
        for r in readers.get(stack.pop(), ()):
            if r not in seen:
                seen.add(r)
                stack.append(r)
    return seen
