"""The ``assetbuild`` command's entry point: a null build answered from the snapshot, else the CLI.

``assetbuild [COMMAND...] --help`` and ``assetbuild --version`` print what click would
(``assetbuild.helptext``) without importing it, when they can know it.

``assetbuild``, ``assetbuild build``, with ``--json``, ``-q`` and ``-C DIR`` and nothing else,
in a directory holding an AssetFile, first asks ``assetbuild.snapshot`` whether the last build
proved this one would find every asset cached. If so it prints what that build would print and
exits, having imported neither click nor the engine. If not, that build runs without click
(``plain_build``: it has no option to parse), which an incremental build feels; every other
command line goes to the CLI. A build after only data changed, or the code inside one
function's body (``codeedits``), loads a slice of the project: the assets it decides and those they
read (``_slice``). ``-n`` asks the same question: if the snapshot answers, nothing
would run, and it says so; if not, the dry run runs without click as a build would, a slice of
the project when only data changed (it records nothing). So does
``status`` (or ``status --check``) of the whole project: every asset is fresh, one line each;
after only data changed, the slice's assets decided and the rest fresh (``plain_status``);
unless partitions or policies make its lines say more (``session.intent.status_is_plain``).
A build of assets named (``assetbuild report``, ``assetbuild build a b --json``, ``-n``) is
answered too when nothing changed: they and what they need, in build order
(``slicegraph.upstream_of``); and their ``status`` (``status a b``: their lines). So are they
when only data changed that none of them reads, even through what it needs
(``_unread_by_named``); otherwise the CLI builds them, or says their status.

- ``_ASSETBUILD_COMPLETE`` (a shell asking click to complete a word): straight to the CLI, whose
  empty command line is no build.
- ``ASSETBUILD_SNAPSHOT=0``: never answer from the snapshot (the full path always runs).
- ``ASSETBUILD_SNAPSHOT=explain``: say on stderr whether the snapshot answered, and if not why.
- ``ASSETBUILD_CHECK_SNAPSHOT=1``: run the full path even when the snapshot would answer, and
  decide every asset even when it would leave some cached (an incremental build of a whole
  project); fail if the build's decisions differ from what the snapshot would have said. A
  command that only data changed for still runs on its slice, and then asks the whole project
  whether it agrees (``session.slicecheck``). The tests set it.
"""

from __future__ import annotations

import gc
import os
import sys
import time

TYPE_CHECKING = False  # (typing is not imported: the fast path stays lean)
if TYPE_CHECKING:
    from collections.abc import Callable

_STARTED = time.perf_counter()
# sys.path as the command started (a build records it; loading a project changes it meanwhile)
START_PATH = list(sys.path)

_FLAGS = {"--json": "json", "-q": "quiet", "--quiet": "quiet", "-n": "dry_run", "--dry-run": "dry_run"}
# why a command naming assets is not answered, when a name is no asset of the snapshot's results
_NOT_RECORDED = "a name is not one of the assets it recorded (the CLI says what it is)"
# the CLI's commands (``tests/test_entry.py`` holds them to its): ``assetbuild NAME`` builds the
# asset NAME unless NAME is one of them
COMMANDS = frozenset({"accept", "build", "cache", "clean", "diff", "graph", "help", "init", "list", "log",
                      "observe", "partitions", "run", "runs", "show", "status", "ticks", "ui", "watch", "why"})


def fast_form(argv: list[str]) -> dict[str, object] | None:
    """The options of a command line the snapshot may answer (a plain build of everything or of
    assets named, its dry run, or the status of everything), or None: ``[-C DIR] [build]
    [NAME...] [--json] [-q] [-n] [-j N]``, the options in any order after the command (or the
    first name, which is no command's); or ``[-C DIR] status [--check]``. A NAME is an identifier
    (globs, ``group:``, ``+`` and the like go to the CLI)."""
    form: dict[str, object] = {"json": False, "quiet": False, "directory": None, "dry_run": False, "status": False,
                               "select": ()}
    args = list(argv)
    if args[:1] == ["-C"] and len(args) >= 2:  # (-C has no long form: ``--directory`` is click's to refuse)
        form["directory"] = args[1]
        args = args[2:]
    if args[:1] == ["status"]:  # (--check: exit 1 if one is not fresh)
        form["status"], form["check"] = True, "--check" in args[1:]
        shown = [a for a in args[1:] if a != "--check"]
        form["select"] = tuple(dict.fromkeys(shown))
        return form if all(a.isidentifier() for a in shown) else None
    command = args[:1] == ["build"]  # (else an option before the first name may be the group's)
    if command:
        args = args[1:]
    elif args and args[0] in COMMANDS:
        return None
    names: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        flag = _FLAGS.get(a)
        if flag is not None:
            form[flag] = True
        elif a in ("-j", "--jobs") and i + 1 < len(args) and _jobs_valid(args[i + 1]):
            form["jobs"] = args[i + 1]
            i += 1
        elif a.startswith(("-j", "--jobs=")) and _jobs_valid(a[7 if a.startswith("--") else 2:]):
            form["jobs"] = a[7 if a.startswith("--") else 2:]
        elif a.isidentifier() and (command or names or i == 0):
            names.append(a)
        else:
            return None
        i += 1
    form["select"] = tuple(dict.fromkeys(names))
    return form


def _jobs_valid(value: str) -> bool:
    """A ``-j`` value the CLI takes (``executors.parse_jobs``): ``auto``, or a whole number from
    1 to ``executors.MAX_JOBS`` (restated: this module must not import that one); any other
    goes to the CLI, which says what it takes. Jobs change no decision: a null build with
    ``-j`` is answered as one without."""
    v = value.strip()
    return v.lower() == "auto" or (v.isdecimal() and 1 <= int(v) <= 4_194_304)


def move_to_project(quiet: bool) -> None:
    """As the CLI does without -C (``cli.finding.place_project``): when the working directory
    holds no AssetFile, move to the nearest one above that does, saying so on stderr (unless
    ``quiet``), so the snapshot can answer there; the CLI, if it runs after, finds the AssetFile
    where it then is. Left to the CLI when ASSETBUILD_CACHE_DIR is set (a relative one means
    the directory the command started in)."""
    try:
        here = os.getcwd()
    except OSError:  # deleted (the CLI says so)
        return
    if os.path.isfile(os.path.join(here, "AssetFile")) or os.environ.get("ASSETBUILD_CACHE_DIR"):
        return
    from .projectdir import search_project, using_line

    found = search_project(here)
    if found is None:
        return
    try:
        os.chdir(found)
    except OSError:
        return
    if not quiet:
        sys.stderr.write(using_line(found, here) + "\n")


def try_snapshot(form: dict[str, object], mode: str) -> str | None:
    """What the command would print, if the snapshot proves a null build ("" with -q); else None
    (with ``mode == "explain"``, saying why on stderr)."""
    from . import snapshot

    directory = form["directory"]
    lock = None
    document = None
    form["plain"] = False
    try:
        project_dir = os.path.abspath(str(directory)) if directory else os.getcwd()
    except OSError:  # the working directory was deleted (the CLI says so)
        project_dir = ""
    if not project_dir:
        reason: str | None = "the working directory cannot be read"
        rec = None
    elif os.environ.get("ASSETBUILD_CACHE_DIR"):
        reason, rec = "ASSETBUILD_CACHE_DIR is set (the snapshot serves the default cache only)", None
    elif not os.path.isfile(os.path.join(project_dir, "AssetFile")):
        reason = "no AssetFile in the project directory given (the CLI searches above it)" if directory \
            else "no AssetFile in the working directory or above it"
        rec = None
    else:  # (plain: a build, or dry run, of everything with the defaults, which plain_build may run)
        form["plain"] = not form["status"] and not form["select"]
        cache_dir = os.path.join(project_dir, ".assetbuild")
        rec = snapshot.read(cache_dir)
        usable = rec is not None and not rec.get("refused")
        # the answer holds while no build may write: taken under the build lock, shared
        lock = _shared_lock(os.path.join(cache_dir, "lock")) if usable else None
        if usable and lock is None:
            reason = "another build or cache command is running"
        else:
            sliceable = rec is not None and lock is not None and (form["plain"] or (
                form["status"] and not form["select"] and bool(rec.get("plain_status"))))
            edit: dict[str, object] | None = {} if sliceable else None  # (an edit of the AssetFile it may take)
            found = snapshot.changes(rec, project_dir, START_PATH, first=True, edited=edit)
            if isinstance(found, str):
                reason = found
            elif not found and not edit:
                reason = None
            else:  # only data changed, or an asset's code: the build may load just the assets it decides
                if sliceable:
                    _slice(rec, cache_dir, project_dir, found[0] if found else None, edit)  # type: ignore[arg-type]
                sliced = snapshot.SLICE
                taken = None if sliced is None else sliced["edit"]
                if edit and taken is None:  # (an edit of the AssetFile no slice can take)
                    reason = f"a file changed: {edit['file']}"
                else:
                    what = "the AssetFile" if taken is None or "module" not in taken else f"module {taken['module']}"
                    reason = "; ".join(
                        ([f"{what} changed inside the definition of {taken['function']}" if taken["function"]
                          else f"{what} changed, but none of its statements"] if taken else [])
                        + ([f"a source or path output changed, or is too recent to trust: {found[0]}"] if found else []))
                if sliced is not None:
                    reason += (f"; the build loads {len(sliced['affected'])} of the "
                               f"{len(sliced['graph']['order'])} assets, and {len(sliced['frontier'])} they read")
                elif rec is not None and lock is not None and form["select"] \
                        and _unread_by_named(form, rec, cache_dir, project_dir, found[0]):
                    reason = None  # (what changed is none of theirs: they are as recorded)
        if reason is None and rec is not None and form["select"] and not form["status"]:
            reason, document = _selected(form, cache_dir, rec)
        elif reason is None and rec is not None and form["json"]:
            if form["dry_run"]:  # (not kept: made from the results)
                results = snapshot.read_results(cache_dir, rec)
                document = None if results is None else snapshot.null_json(results["results"], dry_run=True)
            else:
                document = snapshot.null_document(cache_dir, rec)
            if document is None:
                reason = "its results file is missing or is not its own"
        if reason is None and rec is not None and form["status"]:
            if not rec.get("plain_status"):
                reason = "status says more than fresh in this project (partitioned assets, policies)"
            elif (results := snapshot.read_results(cache_dir, rec)) is None:
                reason = "its results file is missing or is not its own"
            else:
                shown = results["results"]
                if form["select"]:  # (the assets named, in build order; their upstream only with +: the CLI's)
                    named = set(form["select"])  # type: ignore[call-overload]
                    form["selected"] = shown = [r for r in shown if r[0] in named]
                    if len(shown) != len(named):
                        reason = _NOT_RECORDED
                document = _fresh_lines([r[0] for r in shown])

    check = os.environ.get("ASSETBUILD_CHECK_SNAPSHOT", "") not in ("", "0")
    if mode == "explain":
        sys.stderr.write(f"snapshot: {'answers' if reason is None else 'not used: ' + reason}"
                         f"{' (checked against the full path)' if check and reason is None else ''}\n")
    if reason is not None or rec is None or check:
        if lock is not None:  # the full path takes the build lock itself: ours must not block it
            os.close(lock)
        if check and reason is None:
            snapshot.EXPECTED = snapshot.read_results(cache_dir, rec) if rec is not None else None
            if form["select"] and snapshot.EXPECTED is not None:  # (what the answer named)
                snapshot.EXPECTED = {**snapshot.EXPECTED, "results": form["selected"]}
        if rec is not None and not rec.get("refused"):  # the build's recorder starts from it
            snapshot.PREVIOUS = rec
        return None
    if document is not None:  # (read for --json, or status)
        return document + "\n" if document else ""
    if form["quiet"]:
        return ""
    count = len(form["selected"]) if form["select"] else rec["count"]  # type: ignore[arg-type]
    if form["dry_run"]:  # what ``output.dryrun.dry_run_summary`` says of a build with nothing to do
        return f"dry run: 0 of {count} assets would run or be restored; nothing was run or written\n"
    return (f"0 built, {count} cached, 0 restored, 0 failed, 0 skipped in "
            f"{time.perf_counter() - _STARTED:.2f}s\n")


def _unread_by_named(form: dict[str, object], rec: dict[str, object], cache_dir: str, project_dir: str,
                     settled: str) -> bool:
    """Only data changed: whether none of the assets ``form`` names reads a changed file, even
    through what it needs (``slicegraph.slice_of``'s ``affected`` holds everything downstream of
    one). Then they, and what they need, are as recorded: the slice a build of everything would
    take leaves them cached. Not for a project that cannot be loaded in part (fan-in inputs,
    partitions, multi-assets...: its graph's edges are not all of an asset's reads)."""
    from . import slicegraph, snapshot

    graph = _graph(form, cache_dir, rec)
    if graph is None or graph["slices"] is not None:
        return False
    found = snapshot.changes(rec, project_dir, START_PATH, settled=settled)  # (every changed file)
    if not isinstance(found, list) or not found:
        return False
    try:
        affected = slicegraph.slice_of(graph, found)["affected"]
    except IndexError:  # (arrays that name no node: not this build's)
        return False
    return not affected.intersection(form["select"])


def _graph(form: dict[str, object], cache_dir: str, rec: dict[str, object]) -> dict[str, object] | None:
    """The graph that goes with ``rec`` (``slicegraph.read_graph``), read once for the command
    (kept in ``form``: 2 MB at 10,000 assets)."""
    if "graph" not in form:
        from .slicegraph import read_graph

        form["graph"] = read_graph(cache_dir, rec)
    return form["graph"]  # type: ignore[return-value]


def _selected(form: dict[str, object], cache_dir: str, rec: dict[str, object]) -> tuple[str | None, str | None]:
    """For a null build of the assets ``form`` names: (why the snapshot cannot answer, or None;
    its ``--json`` document, or None); their results and those of what they need, in build
    order, go in ``form["selected"]``."""
    from . import slicegraph, snapshot

    graph = _graph(form, cache_dir, rec)
    results = snapshot.read_results(cache_dir, rec)
    if graph is None or results is None:
        return "its graph or results file is missing or is not its own", None
    try:
        needed = slicegraph.upstream_of(graph, form["select"])  # type: ignore[arg-type]
    except IndexError:  # (arrays that name no node: not this build's)
        needed = None
    if needed is None:
        return _NOT_RECORDED, None
    form["selected"] = picked = [r for r in results["results"] if r[0] in needed]
    return None, snapshot.null_json(picked, dry_run=bool(form["dry_run"])) if form["json"] else None


def _fresh_lines(names: list[str]) -> str:
    """What ``status`` prints when every asset is fresh (``output.listing.format_status``)."""
    from .statuslines import status_line
    from .streams import use_color

    color, width = use_color(sys.stdout), max(map(len, names), default=0)
    return "\n".join([status_line("fresh", n, width, color=color) for n in names])


def _slice(rec: dict[str, object], cache_dir: str, project_dir: str, settled: str | None = None,
           edit: dict[str, object] | None = None) -> None:
    """Only data changed, or one code file (``edit["file"]``) inside one function's body, which
    ``_code_edit`` must prove: under the shared lock, take every data file's
    signature after touching the probe (the build records them) and say which slice of the
    project the build loads. ``settled``: the first changed file the look found (those before
    it were as recorded: ``snapshot.changes``)."""
    from . import slicegraph, snapshot

    graph = slicegraph.read_graph(cache_dir, rec)
    if graph is None or graph["slices"] is not None:
        return
    if edit:
        edit = _code_edit(rec, cache_dir, graph, str(edit["file"]))
        if edit is None:
            return
    probe = snapshot.probe(os.path.join(cache_dir, "lock"))
    taken: dict[str, snapshot.Sig | None] = {}
    found = snapshot.changes(rec, project_dir, START_PATH, taken=taken, settled=settled, edited=edit or None)
    if probe is None or not isinstance(found, list) or not (found or edit):
        return
    try:
        sliced = slicegraph.slice_of(graph, found, codes=True, edited=edit["assets"] if edit else ())  # type: ignore[arg-type]
    except (IndexError, KeyError):  # a graph whose arrays name no node: not this build's (the full path decides)
        return
    snapshot.PROBE, snapshot.DATA = probe, taken
    defs_of = rec.get("asset_defs_of")  # [the AssetFile's digest, the check's] they were found with
    digest, checker = defs_of if isinstance(defs_of, list) and len(defs_of) == 2 else (None, None)
    defs = graph.get("asset_defs") or ()
    if edit and "defs" in edit:  # (the slice is compiled from the AssetFile as edited, its definitions where they now lie)
        digest, defs = edit["digest"], edit["defs"]
    snapshot.SLICE = {**sliced, "graph": graph, "asset_defs": (digest, defs, checker), "edit": edit or None}


def _code_edit(rec: dict[str, object], cache_dir: str, graph: dict[str, object], path: str) -> dict[str, object] | None:
    """``codeedits.edit_of`` the AssetFile at ``path`` as it is now (or ``module_edit_of`` the
    project module), against what the snapshot keeps, as ``edit["file"]``; None also when a
    stored value refers to project code by name (``fingerprint.refs``: its readers' keys hold
    that code's fingerprint, which the graph does not say)."""
    from . import codeedits, snapshot

    kept = rec["contents"].get(path)  # type: ignore[attr-defined]
    try:
        with open(path, "rb") as f:
            new = f.read()
    except OSError:
        return None
    results = snapshot.read_results(cache_dir, rec)
    if results is None or any(not isinstance(r[2], str) or " code:" in r[2] for r in results["results"]):
        return None
    try:
        if isinstance(kept, list) and len(kept) == 2 and kept[1]:  # (the AssetFile's suffix: a module's is "")
            edit = codeedits.edit_of(graph, kept, rec.get("asset_defs_of"), new)
        else:
            edit = codeedits.module_edit_of(graph, path, kept, new)
    except Exception:  # noqa: BLE001 - a doubt: the full path decides (the tests, under the check, see it)
        if snapshot.CHECK:
            raise
        return None
    return None if edit is None else {**edit, "file": path}


def plain_build(form: dict[str, object]) -> None:
    """Build (or dry-run) as the CLI's ``build`` would for the fast form, without importing
    click: every option but these at its default, which is ``session.build``'s own
    (``tests/test_entry.py`` holds the CLI to that); the same output, errors and exit status.
    Ends the process."""
    from . import output, session

    as_json = bool(form["json"])

    def run() -> int:
        from . import snapshot

        sliced = snapshot.CHECK and snapshot.SLICE is not None
        reporter = output.Reporter(verbosity=-1 if form["quiet"] else 0, json_mode=as_json, asset_logs=True)
        jobs = form.get("jobs")  # (-j: passed on as the CLI passes it)
        result = session.build((), reporter=reporter, dry_run=bool(form["dry_run"]),
                               jobs=None if jobs is None else str(jobs))
        if as_json:
            sys.stdout.write(output.format_build_json(result) + "\n")
        if sliced:  # (under the check: the whole project must agree with the slice)
            from .session.slicecheck import check_build

            check_build(result, dry_run=bool(form["dry_run"]))
        return 0 if result.ok else 1  # -n too, when it predicts a failure

    _end_as_the_cli(form, "build", run)


def plain_status(form: dict[str, object]) -> None:
    """``status [--check]`` of the whole project as the CLI's would be, without importing click,
    when only data changed (``session.status`` takes the slice): the same lines, errors and exit
    status. Ends the process."""
    from . import output, session
    from .streams import use_color

    def run() -> int:
        from . import snapshot

        sliced = snapshot.CHECK and snapshot.SLICE is not None
        rows = session.status((), reporter=output.Reporter(verbosity=0, asset_logs=True))
        text = output.format_status(rows, color=use_color(sys.stdout))
        if text:
            sys.stdout.write(text + "\n")
        if sliced:  # (under the check: the whole project must agree with the slice)
            from .session.slicecheck import check_status

            check_status(output.format_status(rows, color=False))
        return 1 if form["check"] and any(r.state != "fresh" for r in rows) else 0

    _end_as_the_cli(form, "status", run)


def _end_as_the_cli(form: dict[str, object], command: str, run: Callable[[], int]) -> None:
    """In the form's directory, ``run`` the command (its exit status) and end the process as the
    CLI's ``command`` would: an AssetbuildError or Ctrl-C said as its handler says them, a reader
    that went away quietly with status 1, Ctrl-C before it started as click's "Aborted!"."""
    from . import output
    from .errors import AssetbuildError
    from .exiting import exit_now
    from .wording import as_the_command

    as_the_command()
    try:
        if form["directory"]:
            os.chdir(str(form["directory"]))
        try:
            status = run()
        except (AssetbuildError, KeyboardInterrupt) as e:
            status = output.report_error(e, as_json=bool(form["json"]), command=command)
        except OSError as e:  # the disk failing (EIO...), as the CLI says it
            from .errors import disk_fault

            fault = disk_fault(e)
            if fault is None:
                raise
            status = output.report_error(fault, as_json=bool(form["json"]), command=command)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: as click does, quietly, status 1
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - nothing may write to the pipe again
        status = 1
    except KeyboardInterrupt:  # before it started (click says "Aborted!")
        sys.stderr.write("\nAborted!\n")
        status = 1
    from .interrupts import exit_status

    status = exit_status(_end_status(status))
    exit_now(status)
    sys.exit(status)


def _shared_lock(path: str) -> int | None:
    """The build lock taken shared until exit (builds take it exclusive), or None if a build or
    cache command holds it (or the cache has no lock file: nothing was built there)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _end_status(status: int) -> int:
    """``status``, or 1 if the command wrote to a stdout its caller had closed (``exiting``,
    imported only then: the fast path imports no more)."""
    from . import streams  # (main imported it)

    if not streams.stdout_closed:
        return status
    from .exiting import lost_output_status

    ended = lost_output_status(status)
    return ended if isinstance(ended, int) else 1


def main() -> None:
    """Console-script entry point: the command, and a SIGTERM or Ctrl-C that came before it could
    handle one (while modules import) ends as one would (``interrupts.said_early``), not with the
    interrupted import's traceback."""
    from . import streams
    from .interrupts import said_early, terminate_as_interrupt

    streams.stand_in_for_closed_streams()
    streams.escaping_streams()
    terminate_as_interrupt()
    try:
        _main()
    except (Exception, KeyboardInterrupt):  # a Terminated inside a class's creation is a RuntimeError
        status = said_early()
        if status is None:
            raise
        raise SystemExit(status) from None


def _main() -> None:
    if "_ASSETBUILD_COMPLETE" in os.environ:  # a shell asks click to complete a word (or for its script):
        from .cli import main as cli_main  # never the fast path's build of everything

        cli_main()
        return
    if sys.argv[-1:] in (["--help"], ["-h"], ["--version"]):
        from .helptext import kept

        text = kept(sys.argv[1:])
        if text is not None:  # what click would print (``helptext``), without importing it
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
            except BrokenPipeError:  # the reader went away: as click does, quietly, status 1
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the exit flushes it
                sys.exit(1)
            sys.exit(_end_status(0))
    # A command imports some 200 modules, each leaving objects that live to its end: with the
    # default threshold the collector ran 35 times while they loaded, over nothing it could
    # free. The youngest generation may hold 50,000 objects (as ``few_collections`` lets a build).
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    mode = os.environ.get("ASSETBUILD_SNAPSHOT", "1")
    form = fast_form(sys.argv[1:]) if mode != "0" else None
    if form is not None:
        from . import snapshot

        if form["directory"]:  # (resolved now, as the build resolves the project directory; the
            try:  # CLI changes into it first)
                form["directory"] = os.path.realpath(str(form["directory"]))
            except OSError:  # relative to a working directory that was deleted: the look finds no AssetFile
                pass
        else:
            move_to_project(bool(form["quiet"]))
        snapshot.INTENT = form  # a full build of this form may write the next snapshot
        snapshot.START_PATH = START_PATH
        snapshot.CHECK = os.environ.get("ASSETBUILD_CHECK_SNAPSHOT", "") not in ("", "0")
        # No collection while looking: all it allocates (the record, the graph, the signatures)
        # lives on, and at 10,000 assets the collector would rescan it dozens of times; frozen
        # after, so the build's collections do not scan it either.
        gc.disable()
        try:
            answered = try_snapshot(form, mode)
        finally:
            gc.freeze()
            gc.enable()
        if answered is not None:
            try:
                sys.stdout.write(answered)
                sys.stdout.flush()
            except (OSError, ValueError):  # the reader went away: status 1, quietly, as the full path
                os._exit(1)  # (and nothing flushed again at exit, which would say so and end with 120)
            os._exit(_end_status(0))
        say_faults()  # (the answer maps no index: it reads its header)
        if form["plain"]:
            plain_build(form)
        if form["status"] and snapshot.SLICE is not None:
            plain_status(form)
    elif mode == "explain" and _builds(sys.argv[1:]):
        sys.stderr.write("snapshot: not used: the command line is not one it answers (a build or its status, of "
                         "everything or of assets named; -C, --json, -q, -n, -j, --check)\n")
    say_faults()
    from .cli import main as cli_main
    from .wording import as_the_command

    as_the_command()
    cli_main()


def say_faults() -> None:
    """``exiting.say_faults``, on every path but the snapshot's answer (imported only then)."""
    from .exiting import say_faults as on

    on()


def _builds(argv: list[str]) -> bool:
    """Whether a command line is a build or a status, which a snapshot may answer in another form."""
    args = argv[2:] if argv[:1] == ["-C"] else argv
    return not args or args[0] in ("build", "status") or args[0] not in COMMANDS

