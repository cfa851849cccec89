"""What an asset writes to sys.stdout and sys.stderr: captured per running asset, cut into lines,
kept with its log lines in its result, under every executor; the real streams put back."""

from __future__ import annotations

import io
import logging
import sys
import threading

import pytest

from assetbuild.capture import MAX_LINES, STDERR, STDOUT, captured
from assetbuild.output import Reporter

# --- the capture itself ------------------------------------------------------------------------


def test_lines_are_cut_as_written_and_the_rest_comes_at_the_end():
    got: list[tuple[int, str]] = []
    real_out, real_err = sys.stdout, sys.stderr
    with captured(lambda level, text: got.append((level, text))):
        assert sys.stdout is not real_out and not sys.stdout.isatty()
        print("one")
        print("two", "parts", end="")
        assert got == [(STDOUT, "one")], "a line is passed on when it is complete"
        print(" end")
        sys.stderr.write("e1\ne2\npartial")
        sys.stdout.writelines(["a\n", "b\n"])
        sys.stdout.flush()
    assert sys.stdout is real_out and sys.stderr is real_err
    assert got == [(STDOUT, "one"), (STDOUT, "two parts end"), (STDERR, "e1"), (STDERR, "e2"),
                   (STDOUT, "a"), (STDOUT, "b"), (STDERR, "partial")]


def test_a_carriage_return_keeps_what_a_terminal_shows():
    got: list[str] = []
    with captured(lambda level, text: got.append(text)):
        print("a\r10%\r100%")
        for i in range(1000):  # a progress bar that never ends its line: bounded, its last state kept
            sys.stderr.write(f"\r{i}/1000")
        sys.stderr.write("\r")
        print("dos line\r")
    assert got == ["100%", "dos line", "999/1000"]


def test_a_limit_counts_the_lines_it_does_not_keep():
    got: list[str] = []
    with captured(lambda level, text: got.append(text), limit=3):
        for i in range(10):
            print(i)
    assert got == ["0", "1", "2", "(7 more lines of output not kept)"]
    assert MAX_LINES >= 1000


def test_each_thread_writes_to_its_own_capture_and_others_to_the_real_stream(capfd):
    got: dict[str, list[str]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with captured(lambda level, text: got[name].append(text)):
            barrier.wait()
            for i in range(300):
                print(f"{name}{i}")
            barrier.wait()

    threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {n: [f"{n}{i}" for i in range(300)] for n in "ab"}
    with captured(lambda level, text: None):
        outside = threading.Thread(target=print, args=("not an asset's",))
        outside.start()
        outside.join()
    assert "not an asset's" in capfd.readouterr().out


def test_the_sink_may_write_to_stderr_without_being_captured_again():
    got: list[tuple[int, str]] = []
    shown = io.StringIO()

    def sink(level: int, text: str) -> None:
        got.append((level, text))
        print(f"shown: {text}", file=sys.stderr)  # e.g. a logging handler of the caller's
        shown.write(text)

    with captured(sink):
        print("x")
    assert got == [(STDOUT, "x")]


def test_nested_captures_and_a_stream_replaced_meanwhile():
    outer: list[str] = []
    inner: list[str] = []
    real = sys.stdout
    with captured(lambda level, text: outer.append(text)):
        print("o1")
        with captured(lambda level, text: inner.append(text)):
            print("i1")
        print("o2")
    assert (outer, inner) == (["o1", "o2"], ["i1"])
    assert sys.stdout is real
    mine = io.StringIO()
    with captured(lambda level, text: None):
        sys.stdout = mine  # the asset replaced it for good: left as it is
    try:
        assert sys.stdout is mine
    finally:
        sys.stdout = real


# --- in builds ---------------------------------------------------------------------------------

PRINTING = '''\
import sys, time
from assetbuild import asset


@asset
def talk(context):
    print("to stdout")
    context.log.info("a log line")
    sys.stderr.write("to stderr\\n")
    print("no newline", end="")
    return 1


@asset
def fails(talk):
    print("why it fails")
    raise ValueError("boom")
'''


@pytest.mark.parametrize("executor,jobs", [("serial", 1), ("threads", 2), ("processes", 2)])
def test_output_is_kept_in_the_result_and_shown_prefixed(project, executor, jobs):
    project.write("AssetFile", PRINTING)
    out, err = io.StringIO(), io.StringIO()
    real = sys.stdout, sys.stderr
    r = project.build(reporter=Reporter(out=out, err=err, verbosity=-2), executor=executor, jobs=jobs,
                      keep_going=True)
    assert (sys.stdout, sys.stderr) == real
    logs = {x.asset: x.logs for x in r.results}
    assert logs["talk"] == ((STDOUT, "to stdout"), (logging.INFO, "a log line"), (STDERR, "to stderr"),
                            (STDOUT, "no newline"))
    assert logs["fails"] == ((STDOUT, "why it fails"),), "a failing asset's output is kept"
    assert out.getvalue().splitlines() == ["[talk] to stdout", "[talk] no newline", "[fails] why it fails"]
    assert err.getvalue().splitlines() == ["[talk] to stderr"]


def test_threads_keep_each_assets_lines_apart(project):
    project.write("AssetFile", "from assetbuild import asset\n" + "".join(
        f"\n\n@asset\ndef a{i}():\n    for n in range(200):\n        print('a{i}', n)\n    return {i}\n"
        for i in range(4)))
    r = project.build(executor="threads", jobs=4)
    for x in r.results:
        assert x.logs == tuple((STDOUT, f"{x.asset} {n}") for n in range(200))


def test_the_after_asset_hook_gets_the_lines(project):
    from assetbuild import get_plugin_manager, hookimpl

    seen = {}

    class Plugin:
        @hookimpl
        def after_asset(self, result):
            seen[result.asset] = result.logs

    pm = get_plugin_manager()
    pm.register(Plugin())
    project.write("AssetFile", PRINTING)
    project.build(plugin_manager=pm, keep_going=True)
    assert seen["fails"] == ((STDOUT, "why it fails"),)


HANDLED = '''\
import logging
from assetbuild import asset

seen = []


class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())


@asset
def plain():
    print("before any logger")
    return 1


@asset
def handled(context, plain):
    context.log.addHandler(Keep())
    print("printed")
    context.log.warning("logged %d", 2)
    return list(seen)
'''


def test_a_handler_an_asset_adds_gets_its_printed_lines_too(project):
    """The serial executor's logger is made only for an asset that asks for one (``LazyLogger``):
    an asset without a context still has its lines shown live, and one that adds a handler to
    ``context.log`` gets what it prints through it, as before the logger was lazy."""
    project.write("AssetFile", HANDLED)
    out = io.StringIO()
    r = project.build(reporter=Reporter(out=out, err=io.StringIO(), verbosity=-2))
    assert r.ok, r
    logs = {x.asset: x.logs for x in r.results}
    assert logs["plain"] == ((STDOUT, "before any logger"),)
    assert logs["handled"] == ((STDOUT, "printed"), (logging.WARNING, "logged 2"))
    assert project.value("handled") == ["printed", "logged 2"]
    assert out.getvalue().splitlines() == ["[plain] before any logger", "[handled] printed"]
