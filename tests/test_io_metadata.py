"""An IO manager's optional ``metadata(value)``: what it says about the value it stored is
recorded with the materialization, under the asset's own metadata (which wins on a clash)."""

from __future__ import annotations

import pytest

from assetbuild import hookimpl
from assetbuild.plugins import get_plugin_manager


class Lines:
    """Text lines, described by their count; ``bad`` values make ``metadata`` misbehave."""

    name = "lines"
    version = "1"

    def dump(self, value):
        return "\n".join(value).encode()

    def load(self, data):
        return data.decode().split("\n")

    def metadata(self, value):
        if value == ["raise"]:
            raise ValueError("cannot count these")
        if value == ["list"]:
            return ["not", "a", "dict"]
        return {"lines": len(value), "first": value[0], "owner": "io"}


class LinesPlugin:
    @hookimpl
    def register_io_managers(self):
        return [Lines()]


@pytest.fixture
def pm():
    pm = get_plugin_manager(autoload=False)
    pm.register(LinesPlugin(), name="lines-plugin")
    return pm


def test_io_manager_metadata_is_recorded_with_the_asset_s_own_on_top(project, pm):
    project.assetfile("""
@asset(io="lines")
def plain():
    return ["a", "b", "c"]

@asset(io="lines", metadata={"owner": "definition, not materialization"})
def declared():
    return ["x"]

@asset(io="lines")
def returned():
    return Output(["x", "y"], metadata={"owner": "data-team"})

@asset(io="lines")
def added(context):
    context.add_metadata({"first": "from the context"})
    return ["x", "y"]

@asset(io="json")
def no_metadata_method():
    return Output([1, 2], metadata={"n": 2})
""")
    r = project.build(plugin_manager=pm)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    meta = {x.asset: x.metadata for x in r.results}
    assert meta["plain"] == {"lines": 3, "first": "a", "owner": "io"}
    # @asset(metadata=...) describes the definition; materialization metadata is what a run says.
    assert meta["declared"] == {"lines": 1, "first": "x", "owner": "io"}
    assert meta["returned"] == {"lines": 2, "first": "x", "owner": "data-team"}
    assert meta["added"] == {"lines": 2, "first": "from the context", "owner": "io"}
    assert meta["no_metadata_method"] == {"n": 2}  # a manager without metadata() adds nothing


def test_a_failing_or_wrong_metadata_method_fails_the_asset_in_one_line(project, pm):
    project.assetfile("""
@asset(io="lines")
def raises():
    return ["raise"]

@asset(io="lines")
def returns_a_list():
    return ["list"]

@asset(io="lines")
def fine():
    return ["ok"]
""")
    r = project.build(plugin_manager=pm, keep_going=True)
    st = {x.asset: x for x in r.results}
    assert not r.ok and st["fine"].status == "built"
    assert st["raises"].status == "failed"
    assert st["raises"].error == ("IO manager 'lines' cannot describe its value: "
                                  "ValueError: cannot count these")
    assert st["returns_a_list"].status == "failed"
    assert st["returns_a_list"].error == "IO manager 'lines' returned list from metadata(value), not a dict"


def test_metadata_is_described_in_worker_processes_too(project, pm):
    project.assetfile("""
@asset(io="lines")
def one():
    return ["a"]

@asset(io="lines")
def two():
    return ["b", "c"]
""")
    r = project.build(plugin_manager=pm, jobs=2, executor="processes")
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert {x.asset: x.metadata["lines"] for x in r.results} == {"one": 1, "two": 2}
