"""Keys: what enters them, what must not, and how two keys are explained."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.keys import KeyParts, explain_change, make_key

P = KeyParts("c1", {"code": "c1"}, (("raw", "d1"), ("a", "d2")), "json@1", "build/x")

text = st.text(max_size=20)


def test_key_is_stable_and_hex():
    k = make_key("x", P)
    assert k == make_key("x", P) and len(k) == 64 and int(k, 16) >= 0


@settings(max_examples=100, deadline=None)
@given(text, text, st.lists(st.tuples(text, text), max_size=4), text, st.one_of(st.none(), text))
def test_every_part_changes_the_key(name, code, inputs, io, path):
    base = KeyParts(code, {}, tuple(inputs), io, path)
    k = make_key(name, base)
    assert make_key(name + "x", base) != k
    assert make_key(name, KeyParts(code + "x", {}, tuple(inputs), io, path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs) + (("u", "v"),), io, path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs), io + "x", path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs), io, (path or "") + "x")) != k


def test_field_boundaries_are_unambiguous():
    a = KeyParts("ab", {}, (), "c", None)
    b = KeyParts("a", {}, (), "bc", None)
    assert make_key("n", a) != make_key("n", b)
    assert make_key("n", KeyParts("c", {}, (("a", "bc"),), "x", None)) != \
        make_key("n", KeyParts("c", {}, (("ab", "c"),), "x", None))


def test_code_parts_do_not_enter_the_key():
    assert make_key("x", P) == make_key("x", KeyParts("c1", {"other": "z"}, P.inputs, P.io, P.path))


def test_key_is_the_same_in_another_process_and_hash_seed():
    prog = ("from assetbuild.keys import KeyParts, make_key;"
            "print(make_key('x', KeyParts('c1', {'code': 'c1'}, (('raw','d1'),('a','d2')), 'json@1', 'build/x')))")
    outs = {subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip() for seed in ("0", "1", "77")}
    assert outs == {make_key("x", P)}


def test_explain_change_names_what_changed():
    new = KeyParts("c2", {"code": "c1", "helper:lib.norm": "h2"}, (("raw", "d9"), ("a", "d2"), ("b", "x")),
                   "json@2", "build/y")
    old = KeyParts("c1", {"code": "c1", "helper:lib.norm": "h1"}, P.inputs, P.io, P.path)
    codes = {r.code: r.detail for r in explain_change(old, new, sources={"raw"})}
    assert "helper:lib.norm changed" in codes["code-changed"]
    assert codes["source-changed"].startswith("raw:")
    assert "b is a new input" in codes["input-added"]
    assert "io-changed" in codes and "path-changed" in codes


def test_upstream_change_is_named():
    new = KeyParts("c1", {}, (("raw", "d1"), ("a", "d3")), "json@1", "build/x")
    (r,) = explain_change(P, new, sources={"raw"})
    assert r.code == "upstream-changed" and r.detail.startswith("a:")
