"""``build --json``'s document (assetbuild.output.format_build_json): the text it writes for a
cached or built result without encoding a dict must be exactly ``json.dumps(result.to_json())``'s."""

from __future__ import annotations

import json

from assetbuild.output import format_build_json
from assetbuild.reports import AssetResult, BuildResult, ObservationResult, cached_result

ODD = 'q"u\\o/té✓\u2028\x00\n'  # quotes, escapes, non-ASCII, a control character


def results() -> tuple[AssetResult, ...]:
    return (cached_result("t1", "ab" * 32, "cd" * 32), cached_result(ODD, ODD, ODD),
            cached_result("no_key", None, "v"),
            AssetResult("built", "built", key="k", data_version="d", duration_s=1.23456789, metadata={"rows": 3}),
            *(AssetResult(ODD, "built", key=ODD, data_version=ODD, duration_s=d)  # written from its strings
              for d in (0.0, -0.0, 1e-7, 0.1234565, 12345.678901234, 1e20, 3)),
            AssetResult("nan", "built", key="k", data_version="d", duration_s=float("nan")),
            AssetResult("timed", "cached", key="k", data_version="d", duration_s=0.5),
            AssetResult("failed", "failed", error="boom"),
            AssetResult("skipped", "skipped", skip_reason="nothing new"))


def test_a_builds_document_is_json_dumps_of_its_to_json_byte_for_byte() -> None:
    observed = (ObservationResult("api", "v1", changed=True), ObservationResult("db", None, error="down"))
    for result in (BuildResult(results(), 0.5), BuildResult(results()[:3], 0.1), BuildResult((), 0.0),
                   BuildResult(results()[:1], 0.2, observations=observed)):
        text = format_build_json(result)
        assert text == json.dumps(result.to_json())
        assert json.loads(text)["ok"] is result.ok


def test_a_dry_runs_document_says_what_each_asset_would_do() -> None:
    would = AssetResult("x", "skipped", key="k", metadata={"would": "run"})
    doc = json.loads(format_build_json(BuildResult((would, cached_result("y", "k", "v")), 0.1, dry_run=True)))
    assert doc["dry_run"] is True and [e["would"] for e in doc["results"]] == ["run", None]


def test_a_dry_runs_to_json_is_its_dash_n_json_document(project) -> None:
    """The Python API's ``result.to_json()`` of a dry run is the document ``-n --json`` writes,
    ``would``, ``reasons`` and ``dry_run`` included: one source for both."""
    from projects import cli

    import assetbuild

    project.assetfile("@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a\n")
    assert project.built("a") == ["a"]
    doc = assetbuild.build(project_dir=project.root, dry_run=True).to_json()
    assert doc["dry_run"] is True
    assert [(e["asset"], e["status"], e["would"]) for e in doc["results"]] == [("a", "cached", None),
                                                                               ("b", "skipped", "run")]
    assert doc["results"][1]["reasons"] == [{"code": "never-built", "detail": "no earlier build of this asset"}]
    p = cli("-n", "--json", cwd=project.root)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == doc
