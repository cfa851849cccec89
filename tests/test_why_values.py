"""``why`` in words: a changed constant's old and new values when short (``global:TOP_N: 3 ->
5``), a dataclass change named once as its class. Real builds; the values a head records."""

from __future__ import annotations

from pathlib import Path

from projects import Project, clean_env, cli

import assetbuild
from assetbuild.fingerprint.shown import short_value

ASSETFILE = '''
from dataclasses import dataclass

TOP_N = {top}
LABELS = {labels}
API_KEY = "{key}"
BIG = list(range({big}))


@dataclass
class Config:
    a: int = 1
{extra}

@asset(io="json")
def top():
    return [TOP_N, LABELS, len(API_KEY), len(BIG)]


@asset(io="json")
def configured():
    return Config().a
'''


def write(p: Project, top: str = "3", labels: str = "('a', 'b')", key: str = "sk-1", big: str = "100",
          extra: str = "") -> None:
    p.assetfile(ASSETFILE.format(top=top, labels=labels, key=key, big=big, extra=extra))


def reason(p: Project, asset: str) -> str:
    (r,) = [x for x in p.status()[asset].reasons if x.code == "code-changed"]
    return r.detail


def test_a_changed_constant_shows_old_and_new(tmp_path: Path) -> None:
    p = Project(tmp_path)
    write(p)
    p.built()
    write(p, top="5", labels="('a', 'c')")
    detail = reason(p, "top")
    assert "global:TOP_N: 3 -> 5" in detail and "global:LABELS: ('a', 'b') -> ('a', 'c')" in detail
    info = assetbuild.why("top", project_dir=tmp_path)
    change = {c["part"]: c for c in info["code_changes"]}["global:TOP_N"]
    assert (change["old_value"], change["new_value"]) == ("3", "5")
    out = cli("why", "top", cwd=tmp_path, env=clean_env()).stdout
    assert "global:TOP_N: 3 -> 5" in out


def test_long_and_secret_values_are_not_recorded_or_shown(tmp_path: Path) -> None:
    p = Project(tmp_path)
    write(p)
    p.built()
    write(p, key="sk-2", big="101")
    detail = reason(p, "top")
    assert "global:API_KEY changed" in detail and "sk-" not in detail
    assert "global:BIG changed" in detail
    recorded = dict(stored_head(tmp_path, "top").code_values)
    assert recorded == {"global:LABELS": "('a', 'b')", "global:TOP_N": "3"}  # no key, nothing long


def stored_head(root: Path, asset: str):
    from assetbuild.session.project import open_store

    with assetbuild.open_project(root) as project:
        store = open_store(project, readonly=True)
        try:
            return store.get_head(asset)
        finally:
            store.close()


def test_a_dataclass_change_is_named_once_as_the_class(tmp_path: Path) -> None:
    p = Project(tmp_path)
    write(p)
    p.built()
    write(p, extra="    b: str = 'x'\n")
    detail = reason(p, "configured")
    assert "Config" in detail and "<generated>" not in detail and detail.count("changed") == 1
    parts = [c["part"] for c in assetbuild.why("configured", project_dir=tmp_path)["code_changes"]]
    assert parts and not any("<generated>" in x for x in parts)


def test_short_value() -> None:
    assert short_value(3) == "3" and short_value({"a": [1, 2]}) == "{'a': [1, 2]}"
    assert short_value("x" * 100) is None and short_value(object()) is None
    assert short_value(True) == "True" and short_value(list(range(50))) is None


def test_values_travel_with_an_exported_cache(tmp_path: Path) -> None:
    p = Project(tmp_path / "a")
    write(p)
    p.built()
    archive = tmp_path / "cache.tar"
    assetbuild.export_cache(archive, project_dir=p.root)
    q = Project(tmp_path / "b")
    write(q)
    assetbuild.import_cache(archive, project_dir=q.root)
    assert q.built() == []  # the imported heads are used
    assert dict(stored_head(q.root, "top").code_values)["global:TOP_N"] == "3"
    write(q, top="4")
    assert "global:TOP_N: 3 -> 4" in reason(q, "top")


TOP = 3


def test_a_head_shows_the_values_of_global_and_closure_parts_only():
    """``Materializer.code_values`` on real fingerprint parts: a global's and a closure's short
    values, nothing for the parts that hold no value (code, names, objects)."""
    from types import SimpleNamespace

    from assetbuild.fingerprint import Fingerprinter
    from assetbuild.materialize import Materializer

    step = 2

    def with_both(x):
        return int(x) * TOP + step

    def with_none(x):
        return str(int(x) + 1)

    m = Materializer(None, None, {}, nodes={"both": SimpleNamespace(fn=with_both),  # type: ignore[arg-type]
                                            "none": SimpleNamespace(fn=with_none)})
    for name, fn, shown in (("both", with_both, (("closure:step", "2"), ("global:TOP", "3"))), ("none", with_none, ())):
        fp = Fingerprinter(is_project_module=lambda mod: mod == __name__, distribution_version=lambda top: "1.0")
        parts = fp.fingerprint_function(fn, name).parts
        assert any(not p.startswith(("global:", "closure:")) for p in parts)
        assert m.code_values(name, SimpleNamespace(code_parts=parts)) == shown  # type: ignore[arg-type]


def test_an_input_that_runs_first_may_change_and_is_never_called_the_same(tmp_path: Path) -> None:
    """Its data version is known only once it runs: ``changed`` is None (JSON null), ``[may
    change]``, whether the reader was built before or never."""
    p = Project(tmp_path)
    p.assetfile('@asset(io="json")\ndef a():\n    return 1\n\n@asset(io="json")\ndef b(a):\n    return a + 1\n')
    info = assetbuild.why("b", project_dir=tmp_path)
    assert [(i["name"], i["old"], i["new"], i["changed"]) for i in info["inputs"]] == [("a", None, None, None)]
    r = cli("why", "b", cwd=tmp_path, env=clean_env())
    assert "    a (asset): - -> (once it runs)  [may change]" in r.stdout, r.stdout
    p.built()
    p.assetfile('@asset(io="json")\ndef a():\n    return 2\n\n@asset(io="json")\ndef b(a):\n    return a + 1\n')
    info = assetbuild.why("b", project_dir=tmp_path)
    assert info["inputs"][0]["changed"] is None and info["inputs"][0]["old"] is not None
    p.built()
    info = assetbuild.why("b", project_dir=tmp_path)
    assert info["inputs"][0]["changed"] is False and info["inputs"][0]["new"] == info["inputs"][0]["old"]
