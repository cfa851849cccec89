"""The public records of assetbuild.reports (and the build's options, ``session.options``) behave
as ``@dataclass(frozen=True)`` would make them: their ``__init__`` is written out and their other
methods are ``FrozenRecord``'s, so each is held here to a twin that dataclasses makes from the
same fields."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from assetbuild import reports
from assetbuild.reports import (
    AssetResult,
    AssetStatus,
    BuildResult,
    Decision,
    ObservationResult,
    Reason,
    WatchCycle,
    WatchSummary,
    cached_result,
)
from assetbuild.session import options
from assetbuild.session.options import BuildOptions, RemoteOptions

R = Reason("code-changed", "its code changed")
SAMPLES = {
    Reason: [dict(code="a", detail="b"), dict(code="a", detail="c")],
    Decision: [dict(action="run"), dict(action="run", reasons=(R,))],
    AssetResult: [dict(asset="a", status="built", key="k", data_version="v", duration_s=0.5,
                       metadata={"rows": 3}, logs=((20, "hi"),), reasons=(R,)),
                  dict(asset="a", status="skipped", skip_reason="nothing new", error="x", traceback="tb")],
    ObservationResult: [dict(source="api", version="v1", value=[1], metadata={"etag": "e"}, changed=True),
                        dict(source="api", version=None, error="down", duration_s=0.1, observed_ns=5)],
    BuildResult: [dict(results=(AssetResult("a", "cached"),), duration_s=0.1),
                  dict(results=(), duration_s=0.0, dry_run=True, run=3,
                       observations=(ObservationResult("api", "v1"),))],
    AssetStatus: [dict(asset="a", state="stale", reasons=(R,)),
                  dict(asset="a", state="overdue", policy={"freshness": 60}, lag_s=1.5, context=True)],
    WatchCycle: [dict(changed=None, result=None, error="no AssetFile", started=1.0, duration_s=0.1),
                 dict(changed=("x.csv",), result=BuildResult((), 0.0), error=None, started=2.0, duration_s=0.2)],
    WatchSummary: [dict(builds=2, failed=1, duration_s=3.0, stopped_by="SIGINT")],
    RemoteOptions: [dict(), dict(url="s3://b", read_only=True, trust_unsigned=True, timeout=2.0, options={"k": 1})],
    BuildOptions: [dict(), dict(force=True, jobs=2, remote=RemoteOptions(url="file:///x"), param_args=("a.b=1",),
                                forced=frozenset({"a"}), tick=True, partitions="2026-01-01")],
}


def twin(cls: type) -> type:
    """``cls``'s fields (with their defaults) in a class that ``@dataclass(frozen=True)`` makes."""
    spec = []
    for f in dataclasses.fields(cls):
        kw = {} if f.default is dataclasses.MISSING else {"default": f.default}
        if f.default_factory is not dataclasses.MISSING:
            kw["default_factory"] = f.default_factory
        spec.append((f.name, f.type, dataclasses.field(**kw)))
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True)


def test_every_dataclass_of_the_modules_is_sampled():
    records = {v for m in (reports, options) for v in vars(m).values()
               if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == m.__name__}
    assert records == set(SAMPLES)


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_a_record_behaves_as_its_frozen_dataclass_twin(cls):
    other = twin(cls)
    mine_sig, twin_sig = inspect.signature(cls), inspect.signature(other)
    assert list(mine_sig.parameters) == list(twin_sig.parameters)
    for name, p in mine_sig.parameters.items():  # defaults; a default factory's field takes None
        t = twin_sig.parameters[name].default
        assert p.default == t or (p.default is None and t is dataclasses._HAS_DEFAULT_FACTORY)
    made = []
    for kw in SAMPLES[cls]:
        a, b = cls(**kw), other(**kw)
        assert repr(a) == repr(b)
        assert dataclasses.asdict(a) == dataclasses.asdict(b)
        sub = type("Sub", (cls,), {})(**kw)  # (another class, even a subclass: never equal)
        assert a == cls(**kw) and not (a != cls(**kw)) and a != b and a != sub and b != type("Sub", (other,), {})(**kw)
        try:
            h = hash(b)
        except TypeError as e:  # a dict field: unhashable, the same way
            with pytest.raises(TypeError, match=str(e).split(":")[0]):
                hash(a)
        else:
            assert hash(a) == h
        first = dataclasses.fields(cls)[0].name
        for change in (lambda o, n=first: setattr(o, n, "x"), lambda o, n=first: delattr(o, n)):
            with pytest.raises(dataclasses.FrozenInstanceError):
                change(a)
            with pytest.raises(dataclasses.FrozenInstanceError):
                change(b)
        assert pickle.loads(pickle.dumps(a)) == a and copy.copy(a) == a
        assert dataclasses.replace(a) == a
        made.append(a)
    if len(made) == 2:
        assert made[0] != made[1]
    defaults = {f.name: f.default_factory() for f in dataclasses.fields(cls)
                if f.default_factory is not dataclasses.MISSING}
    for name, value in defaults.items():  # a fresh one per instance, as a default factory gives
        required = {p.name: SAMPLES[cls][0][p.name] for p in mine_sig.parameters.values()
                    if p.default is inspect.Parameter.empty}
        x, y = cls(**required), cls(**required)
        assert getattr(x, name) == value and getattr(x, name) is not getattr(y, name)


def test_cached_result_is_the_constructor_s_result():
    made = cached_result("a", "k", "v")
    assert made == AssetResult("a", "cached", key="k", data_version="v")
    assert repr(made) == repr(AssetResult("a", "cached", key="k", data_version="v"))


def test_build_result_still_caches_its_counts():
    b = BuildResult((AssetResult("a", "built"), AssetResult("b", "failed", error="x")), 0.1)
    assert not b.ok and b.count("built") == 1 and b.count("failed") == 1
    assert dataclasses.replace(b, results=b.results[:1]).ok


def test_names_and_count_refuse_a_word_that_is_no_status() -> None:
    """``result.names("bulit")`` gave [], which ``assert not r.names("bulit")`` in a test takes
    as true; a word that is no status is a ValueError naming the statuses."""
    import typing

    from assetbuild.reports import AssetResult, BuildResult, Status

    r = BuildResult((AssetResult("a", "built"), AssetResult("b", "cached")), 0.0)
    assert r.names("built") == ["a"] and r.count("cached") == 1 and r.count("failed") == 0
    for call in (r.names, r.count):
        with pytest.raises(ValueError, match="'bulit' is no result status; a result is one of: built, cached"):
            call("bulit")  # type: ignore[arg-type]
    assert reports._STATUSES == typing.get_args(Status)
