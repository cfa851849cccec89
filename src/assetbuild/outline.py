"""A module's source with the bodies of its top-level functions left out, for the declarative
check: a body never runs at load, and parsing 10,000 of them costs more than executing the file.

A body is left out only when that cannot change how the rest of the file is read: its ``def`` line
is one line ending in ``:`` and, like every line of the body, holds no quote, ``#`` or backslash
and balances its brackets (so no string, comment or bracket starts or ends there). Likewise the
string literals of a decorator line made of nothing else (``@asset(io="text")`` becomes
``@asset()``: constants are always static, the call stays), unless one is a ``name=`` (which
``declarative.Facts.asset_defs`` must see). The lines stay where they were (a
refusal's line is the file's), and a syntax error inside a left-out part is compile's to report
when the file is loaded. Anything else is kept as it is.
"""

from __future__ import annotations

import ast
import re

_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t][^\n]*\n", re.M)
_NEXT = re.compile(r"^[^\s#]", re.M)  # the next line that starts at column 0
_UNSAFE = re.compile(r"['\"#\\]")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.M)
# A decorator line whose arguments are plain string literals, optionally by keyword
# (``@asset(io="text", path="out/t1.txt")``): its arguments are left out, its call kept. No brace
# and no backslash: should the line sit inside a (format) string, only that string's text changes.
_ARG = r"""[ \t]*(?:\w+[ \t]*=[ \t]*)?(?:"[^"\\\n{}]*"|'[^'\\\n{}]*')[ \t]*"""
_NAME_ARG = re.compile(r"[(,][ \t]*name[ \t]*=")
_DECORATOR = re.compile(rf"^(@[ \t]*[A-Za-z_][\w.]*[ \t]*\(){_ARG}(?:,{_ARG})*,?[ \t]*\)[ \t]*(?=\r?$)", re.M)


def declares_encoding(source: bytes) -> bool:
    """Whether the first two lines of ``source`` declare an encoding (PEP 263): the compiler may
    then read it as other than UTF-8."""
    return bool(_COOKIE.search(b"\n".join(source.split(b"\n", 2)[:2])))


def outline(source: str | bytes) -> tuple[str | bytes, list[int]]:
    """``source`` with the bodies it may leave out replaced by ``...``, and the ``def`` lines of
    those functions (1-based), for the caller to verify the parse kept them as functions."""
    if isinstance(source, bytes):
        if declares_encoding(source):  # another encoding: leave the file as it is
            return source, []
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError:
            return source, []
        text = text.removeprefix("\ufeff")
    else:
        text = source
    pieces: list[str] = []
    lines: list[int] = []
    kept = 0  # the end of the text copied so far
    line, counted = 1, 0  # the line number at offset ``counted``
    for m in _DEF.finditer(text):
        header = m.group()
        if _UNSAFE.search(header) or not header.rstrip().endswith(":") or not _balanced(header):
            continue
        start = m.end()
        nxt = _NEXT.search(text, start)
        end = nxt.start() if nxt else len(text)
        body = text[start:end]
        if not body.strip() or _UNSAFE.search(body) or not _balanced(body):
            continue
        line += text.count("\n", counted, m.start())
        counted = m.start()
        lines.append(line)
        pieces += [text[kept:start], "    ...\n", "\n" * (body.count("\n") - 1)]
        kept = end
    pieces.append(text[kept:])
    return _DECORATOR.sub(_call_kept, "".join(pieces)), lines


def _call_kept(m: re.Match[str]) -> str:
    return m.group() if _NAME_ARG.search(m.group()) else m.group(1) + ")"


def _balanced(text: str) -> bool:
    return (text.count("(") == text.count(")") and text.count("[") == text.count("]")
            and text.count("{") == text.count("}"))


def parse_outlined(source: str | bytes, filename: str) -> ast.Module:
    """The module's tree, its top-level function bodies left out when ``outline`` may (it is
    used only if each of them parsed as a function where it was), else the whole file's.
    Raises what ``ast.parse`` raises."""
    short, lines = outline(source)
    if lines:
        try:
            tree = ast.parse(short, filename)
        except (SyntaxError, ValueError):
            pass
        else:
            defs = {n.lineno for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            if defs.issuperset(lines):
                return tree
    return ast.parse(source, filename)


def first_line(stmt: ast.stmt) -> int:
    """The line a statement starts on: its first decorator's, for a decorated one."""
    decorators: list[ast.expr] = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])
