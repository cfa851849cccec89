"""Two standard-library forms that the declarative check (``assetbuild.declarative``) accepts
beyond plain declarations, because what they do at load is known from the source alone:

- ``re.compile`` of a literal pattern, with flags made of ``re``'s flag names joined by ``|``.
  Compiling is a pure function of the pattern, the flags and the interpreter (which the snapshot
  records): it reads no environment, file or clock, so the same literals give the same pattern, or
  the same error, on every load. ``re.DEBUG`` prints at every compile and ``re.TEMPLATE`` warns:
  refused. ``re`` must be bound by ``import re`` (or ``import re as name``) where it is read.
- ``if TYPE_CHECKING:`` (from ``typing``) whose body is only imports, without ``else``: the
  constant is False when the program runs, so the body never does, and it binds nothing.

Each check returns None when the form is accepted, else the node to blame and a reason.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

Lookup = Callable[[str], object]  # a name's binding in the checked scope (its ``get``)
Blame = tuple[ast.AST, str]

# re's flags whose only effect is on the compiled pattern (LOCALE is read when matching, in a
# function body, not at compile time since Python 3.7).
REGEX_FLAGS = frozenset({"A", "ASCII", "I", "IGNORECASE", "L", "LOCALE", "M", "MULTILINE", "S", "DOTALL",
                         "X", "VERBOSE", "U", "UNICODE", "NOFLAG"})


def _is_re(node: ast.expr, lookup: Lookup) -> bool:
    """Whether ``node`` is a name bound by ``import re`` (or ``import re as x``) here."""
    return isinstance(node, ast.Name) and lookup(node.id) == ("foreignmod", "re")


def is_regex_compile(call: ast.Call, lookup: Lookup) -> bool:
    """Whether ``call`` calls ``re.compile`` (whatever its arguments)."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "compile" and _is_re(func.value, lookup)


def regex_refusal(call: ast.Call, lookup: Lookup, at: str) -> Blame | None:
    """None when ``call`` (a call of ``re.compile``) has a literal pattern and literal flags."""
    pattern: ast.expr | None = None
    flags: ast.expr | None = None
    if len(call.args) > 2 or any(isinstance(a, ast.Starred) for a in call.args):
        return call, f"re.compile{at} with unpacked or extra arguments is not checked; refused to be safe"
    if call.args:
        pattern = call.args[0]
    if len(call.args) == 2:
        flags = call.args[1]
    for kw in call.keywords:
        if kw.arg == "pattern" and pattern is None:
            pattern = kw.value
        elif kw.arg == "flags" and flags is None:
            flags = kw.value
        else:
            return kw.value, f"re.compile{at} with an argument other than one pattern and one flags"
    if pattern is None:
        return call, f"re.compile{at} without a pattern"
    if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, (str, bytes))):
        return pattern, (f"re.compile{at} of a pattern that is not a literal string: only a literal "
                         "is known without loading")
    return None if flags is None else _flags_refusal(flags, lookup, at)


def _flags_refusal(node: ast.expr, lookup: Lookup, at: str) -> Blame | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags_refusal(node.left, lookup, at) or _flags_refusal(node.right, lookup, at)
    if isinstance(node, ast.Attribute) and _is_re(node.value, lookup) and node.attr in REGEX_FLAGS:
        return None
    if isinstance(node, ast.Attribute) and _is_re(node.value, lookup):
        return node, (f"re.compile{at} with the flag re.{node.attr}: only flags that change nothing but "
                      "the pattern (re.DEBUG prints at every compile)")
    return node, f"re.compile{at} with flags that are not re's flag names joined by |"


def is_type_checking(test: ast.expr, lookup: Lookup, imported: Callable[[str], bool]) -> bool:
    """Whether ``test`` is ``TYPE_CHECKING`` as imported from typing (``imported(name)``: bound
    by ``from typing import TYPE_CHECKING``), or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return lookup(test.id) == ("foreign", "typing") and imported(test.id)
    return (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING" and isinstance(test.value, ast.Name)
            and lookup(test.value.id) == ("foreignmod", "typing"))


def type_checking_refusal(stmt: ast.If) -> Blame | None:
    """None when an ``if TYPE_CHECKING:`` block holds only imports and has no ``else``."""
    if stmt.orelse:
        return stmt.orelse[0], "the else of an `if TYPE_CHECKING:` runs at load"
    for inner in stmt.body:
        if isinstance(inner, ast.ImportFrom) and inner.module == "__future__":
            return inner, "a __future__ import under `if TYPE_CHECKING:` (it must come first)"
        if not isinstance(inner, (ast.Import, ast.ImportFrom, ast.Pass)):
            return inner, ("an `if TYPE_CHECKING:` block that does more than import is not checked; "
                           "refused to be safe")
    return None
