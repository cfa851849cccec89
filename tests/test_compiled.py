"""The AssetFile compiled (``assetbuild.compiled``): a slice, with the definitions of the assets a
build does not need left out, gives the whole file's code for what stays, or nothing on any
doubt; and is kept compiled for the next load of the same slice."""

from __future__ import annotations

import pytest

SLICED = '''\
from assetbuild import asset, source

raw = source("raw", "raw.txt")
SCALE = 3


def helper(x):
    return x * SCALE


@asset(io="json")
def a(raw):
    return helper(len(raw.read_text()))


@asset(io="json")
def b(a):
    """Reads a."""
    return [a, {"k": (1, 2.5)}]


@asset(io="json")
def c(b):
    return b * 2
'''


def _defs(source: str) -> list:
    from assetbuild.declarative import facts

    return [list(d) for d in facts(source, "AssetFile").asset_defs]


def test_leaving_out_gives_the_whole_files_code_for_what_stays(tmp_path) -> None:
    """The kept functions compile to what the whole file gives (same digests, same lines), and
    the left-out names are not bound; CRLF line ends too."""
    from assetbuild.compiled import code_objects, leaving_out
    from assetbuild.fingerprint import code_digest

    for text in (SLICED, SLICED.replace("\n", "\r\n")):
        path = tmp_path / "AssetFile"
        whole = compile(text.encode(), str(path), "exec", dont_inherit=True)
        full = {o.co_name: (code_digest(o), o.co_firstlineno) for o in code_objects(whole)}
        left = [d for d in _defs(SLICED) if d[0] in ("a", "c")]
        assert [d[0] for d in left] == ["a", "c"]
        code, digests, objs = leaving_out(path, text.encode(), left)
        kept = {o.co_name: (digests[id(o)], o.co_firstlineno) for o in objs}
        assert kept == {n: full[n] for n in ("helper", "b")}
        namespace: dict = {}
        exec(code, namespace)
        assert "b" in namespace and "helper" in namespace and "a" not in namespace and "c" not in namespace


@pytest.mark.parametrize("why,text,left", [
    ("a kept asset calls a left-out one", SLICED.replace("return b * 2", "return a(b)"), ["a"]),
    ("a kept function reaches the module's names", SLICED.replace("return b * 2", 'return globals()["a"]'), ["a"]),
    ("a kept function may evaluate one", SLICED.replace("return b * 2", 'return eval("a")'), ["a"]),
    ("lone CR line ends", SLICED.replace("\n", "\r"), ["a"]),
    ("another encoding declared", "# -*- coding: latin-1 -*-\n" + SLICED, ["a"]),
    ("a byte order mark", "\ufeff" + SLICED, ["a"]),
    ("nothing to leave out", SLICED, []),
])
def test_leaving_out_loads_the_whole_file_on_any_doubt(tmp_path, why: str, text: str, left: list) -> None:
    from assetbuild.compiled import leaving_out

    defs = [d for d in _defs(text.removeprefix("\ufeff")) if d[0] in left] if "\r" not in text.replace("\r\n", "") \
        else [["a", 11, 14]]
    assert len(defs) == len(left), why
    assert leaving_out(tmp_path / "AssetFile", text.encode(), defs) is None, why


def test_leaving_out_refuses_spans_that_are_not_this_files(tmp_path) -> None:
    """Spans that do not match the file (out of range, overlapping, or cutting a statement in
    two) never load something else: None, or a compile error turned into None."""
    from assetbuild.compiled import leaving_out

    path, source = tmp_path / "AssetFile", SLICED.encode()
    n = SLICED.count("\n") + 1
    for bad in ([["a", 0, 3]], [["a", 5, n + 1]], [["a", 11, 16], ["b", 15, 20]], [["a", 12, 13]], [["b", 9, 7]]):
        assert leaving_out(path, source, bad) is None, bad


def test_a_compiled_slice_is_kept_for_the_same_slice(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slice compiled once is kept in the code cache and loaded from there by the next load
    of the same AssetFile, wanting the same assets, with definitions found by the same check;
    any other of these compiles again. The newest ``SLICE_CACHE_KEEP`` are kept, and
    ``cache gc`` counts only whole AssetFiles against its own limit."""
    from assetbuild import compiled, loader
    from assetbuild.cache.gc import _old_code_cache
    from assetbuild.fingerprint import code_digest

    (tmp_path / "raw.txt").write_text("xy")
    cache = tmp_path / ".assetbuild"
    digest = loader.assetfile_digest(SLICED.encode())
    done: list[int] = []
    real = compiled.leaving_out
    monkeypatch.setattr(compiled, "leaving_out", lambda *a: done.append(1) or real(*a))

    def load(wanted: set[str], checker: str = "check-1", text: str = SLICED) -> tuple[list[str], bool]:
        (tmp_path / "AssetFile").write_text(text)
        defs = (loader.assetfile_digest(text.encode()), _defs(text), checker)
        with loader.ProjectImports(tmp_path):
            loaded = loader.load_assetfile(tmp_path, cache_dir=cache, wanted=frozenset(wanted), asset_defs=defs)
            loaded.save_code_cache()
        assert loaded.partial
        whole = {o.co_name: (o.co_firstlineno, code_digest(o))
                 for o in compiled.code_objects(compile(text, str(tmp_path / "AssetFile"), "exec", dont_inherit=True))}
        b = loaded.module.__dict__["b"].__code__  # as the whole file gives it, its digest kept by its id
        same = (b.co_firstlineno, loaded.code_digests.get(id(b))) == whole["b"]
        return sorted(d.name for d in loaded.decls if d.name != "raw"), same

    assert load({"b", "a"}) == (["a", "b"], True) and len(done) == 1
    slices = sorted(p.name for p in (cache / "code").iterdir() if p.name.startswith(compiled.SLICE_CACHE_PREFIX))
    assert len(slices) == 1
    assert load({"a", "b"}) == (["a", "b"], True) and len(done) == 1  # kept: not compiled again
    assert load({"b", "c"}) == (["b", "c"], True) and len(done) == 2  # other assets wanted
    assert load({"a", "b"}, checker="check-2") == (["a", "b"], True) and len(done) == 3  # another check
    edited = SLICED.replace("SCALE = 3", "SCALE = 4")
    assert load({"a", "b"}, text=edited)[0] == ["a", "b"] and len(done) == 4  # another AssetFile
    assert digest != loader.assetfile_digest(edited.encode())
    for n in range(compiled.SLICE_CACHE_KEEP + 5):  # many slices: the newest are kept
        load({"a", "b"}, checker=f"many-{n}")
    kept = [p for p in (cache / "code").iterdir() if p.name.startswith(compiled.SLICE_CACHE_PREFIX)]
    assert len(kept) == compiled.SLICE_CACHE_KEEP
    assert not any(p.name.startswith(compiled.SLICE_CACHE_PREFIX) for p, _ in _old_code_cache(cache))


def test_the_compiled_assetfile_is_kept_beside_it_for_a_new_cache_directory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled code is not build state: kept in ``__pycache__`` beside the AssetFile (as Python
    keeps a module's bytecode), it serves a load with another cache directory, which then keeps
    it too. An edited AssetFile, or garbage there, is compiled again; nothing is written beside
    it when Python writes no bytecode."""
    import sys

    from assetbuild import compiled, loader

    (tmp_path / "raw.txt").write_text("xy")
    assetfile = tmp_path / "AssetFile"
    assetfile.write_text(SLICED)
    beside = compiled.beside_file(assetfile)
    compiles: list[int] = []
    monkeypatch.setattr(compiled, "compile", lambda *a, **k: compiles.append(1) or compile(*a, **k), raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)

    def load(cache: str) -> tuple[list[str], list[bytes]]:
        with loader.ProjectImports(tmp_path):
            loaded = loader.load_assetfile(tmp_path, cache_dir=tmp_path / cache)
            loaded.save_code_cache()
        return sorted(d.name for d in loaded.decls), sorted(loaded.code_digests.values())

    first = load("c1")
    assert len(compiles) == 1 and beside.parent.name == "__pycache__" and beside.is_file()
    assert load("c2") == first and len(compiles) == 1  # not compiled again
    assert len(list((tmp_path / "c2" / "code").iterdir())) == 1  # and the new cache keeps it
    assert load("c2") == first and len(compiles) == 1
    assetfile.write_text(SLICED.replace("return b * 2", "return b * 3"))
    edited = load("c3")
    assert len(compiles) == 2 and edited != first  # another source: compiled again, kept beside it
    assert load("c4") == edited and len(compiles) == 2
    beside.write_bytes(b"garbage")
    assert load("c5") == edited and len(compiles) == 3
    beside.unlink()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert load("c6") == edited and len(compiles) == 4 and not beside.exists()
    assert load("c6") == edited and len(compiles) == 4  # (its cache directory keeps it, as before)


def test_after_a_build_of_a_slice_read_commands_compile_the_whole_file_once(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that took the slice path for an edited function compiles only that slice, and
    keeps no whole file: every later read command (list, why, each UI page) compiled the whole
    AssetFile again. The first one keeps it beside the AssetFile, as a build would; the next
    ones load it."""
    import sys

    from projects import clean_env, cli

    import assetbuild
    from assetbuild import compiled

    chain = "from assetbuild import asset\n\n\n@asset\ndef a0():\n    return 0\n" + "".join(
        f"\n\n@asset\ndef a{i}(a{i - 1}):\n    return a{i - 1} + 1\n" for i in range(1, 40))
    (tmp_path / "AssetFile").write_text(chain)
    assert cli("-q", cwd=tmp_path).returncode == 0
    (tmp_path / "AssetFile").write_text(chain.replace("return a19 + 1", "return a19 + 2 - 1"))
    said = cli(cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain")).stderr
    assert "the build loads 20 of the 40 assets" in said, said
    compiles: list[int] = []
    monkeypatch.setattr(compiled, "compile", lambda *a, **k: compiles.append(1) or compile(*a, **k), raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    for _ in range(3):
        assert len(assetbuild.list_assets(project_dir=tmp_path)) == 40
    assert len(compiles) == 1
