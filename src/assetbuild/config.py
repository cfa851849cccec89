"""Reads a project's settings: the ``[tool.assetbuild]`` table of its ``pyproject.toml``.

Only the table is read. A sub-table of it may belong to a plugin (``[tool.assetbuild.duckdb]``);
any other key that assetbuild does not read is a typo until proven otherwise (``unknown_settings``).
Command-line options and arguments of the Python API override what is set here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError


def project_settings(project_dir: Path) -> dict[str, Any]:
    """The ``[tool.assetbuild]`` table of ``project_dir/pyproject.toml`` ({} without one). One
    that is there but cannot be read (permissions, a directory) is a ConfigError: building
    without its settings and params would record results the user did not ask for."""
    path = project_dir / "pyproject.toml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:  # (a dangling symlink too: no settings)
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    tool = doc.get("tool", {})
    if not isinstance(tool, dict):  # (``tool = "x"``: no table to hold [tool.assetbuild])
        raise ConfigError(f"{path}: tool must be a table ([tool.assetbuild] is assetbuild's), not {type(tool).__name__}")
    table = tool.get("assetbuild", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.assetbuild] must be a table")
    return table


# The keys of [tool.assetbuild] that assetbuild itself reads (tables apart: plugins have theirs).
SETTINGS = ("executor", "executor-options", "history", "jobs", "params", "retry_backoff", "timeout")


def unknown_settings(project_dir: Path) -> str | None:
    """A warning naming the keys of ``[tool.assetbuild]`` that nothing reads (``jobz = 2``, which
    would otherwise change nothing, silently), with the nearest known one; None when there are none."""
    table = project_settings(project_dir)
    unknown = [k for k, v in table.items() if k not in SETTINGS and not isinstance(v, dict)]
    if not unknown:
        if table.get("executor-options") and "executor" not in table:  # (options of no executor)
            return (f"{project_dir / 'pyproject.toml'} [tool.assetbuild]: executor-options without executor, "
                    "ignored (they are the options of the executor that executor names)")
        return None
    import difflib  # (only when there is one to name: a build does not import it)

    names = []
    for k in unknown:
        near = difflib.get_close_matches(k.replace("_", "-"), [s.replace("_", "-") for s in SETTINGS], n=1)
        names.append(repr(k) + (f" (did you mean {SETTINGS[[s.replace('_', '-') for s in SETTINGS].index(near[0])]!r}?)"
                                if near else ""))
    return (f"{project_dir / 'pyproject.toml'} [tool.assetbuild]: unknown setting{'s' if len(names) > 1 else ''} "
            f"{', '.join(names)}, ignored; assetbuild reads {', '.join(SETTINGS)}")


def execution_settings(project_dir: Path, *, jobs: str | int | None, executor: str | None,
                       options: dict[str, str] | None, executors: dict[str, Any] | None = None,
                       ) -> tuple[str | int | None, str | None, dict[str, str]]:
    """-j, executor and executor options: the given ones, else ``[tool.assetbuild]``'s ``jobs``,
    ``executor`` and ``executor-options`` (the latter only while its executor is the one used;
    one that executor of ``executors`` does not take is an error naming the file)."""
    from .executors import parse_jobs

    table = project_settings(project_dir)
    where = f"{project_dir / 'pyproject.toml'} [tool.assetbuild]"
    if jobs is None and "jobs" in table:
        jobs = table["jobs"]
        parse_jobs(jobs, f"{where}: jobs")
    else:
        parse_jobs(jobs)  # (-j was checked by the command line: this is build(jobs=...))
    configured = table.get("executor")
    if configured is not None and not isinstance(configured, str):
        raise ConfigError(f"{where}: executor must be a string, got {configured!r}")
    if executor is None:
        executor = configured
    merged: dict[str, str] = {}
    extra = table.get("executor-options", {})
    if not isinstance(extra, dict):
        raise ConfigError(f"{where}: executor-options must be a table")
    if executor is not None and executor == configured:
        merged.update({str(k): str(v) for k, v in extra.items()})
        accepted = getattr((executors or {}).get(executor), "options", None) or {}
        bad = sorted(k for k in merged if k not in accepted and k not in (options or {}))
        if bad and executors is not None and executor in executors:
            raise ConfigError(f"{where}: executor-options: executor {executor!r} has no option {bad[0]!r} "
                              f"(its options: {', '.join(sorted(accepted)) or 'none'})")
    merged.update(options or {})
    return jobs, executor, merged


def timeout_setting(project_dir: Path, timeout: float | None) -> float | None:
    """The build's time limit per asset in seconds: the given one, else ``[tool.assetbuild]``'s
    ``timeout`` (None: no limit; an asset's own ``timeout=`` wins over both)."""
    if timeout is None:
        timeout = project_settings(project_dir).get("timeout")
        if timeout is None:
            return None
        where = f"{project_dir / 'pyproject.toml'} [tool.assetbuild]: timeout"
    else:
        where = "timeout"  # (the CLI's --timeout checks its value as it reads it)
    from .clock import span_error

    problem = span_error(timeout, positive=True)  # (past MAX_SPAN_S, a wait on it overflowed)
    if problem is not None:
        raise ConfigError(f"{where} {problem}, got {timeout!r}")
    return float(timeout)


def params_table(project_dir: Path) -> tuple[Any, str]:
    """``[tool.assetbuild.params]`` (None without one: each sub-table sets an asset's params,
    ``[tool.assetbuild.params."sales/monthly"]`` for a namespaced name), and how errors name it."""
    return (project_settings(project_dir).get("params"),
            f"{project_dir / 'pyproject.toml'} [tool.assetbuild.params]")


def check_settings(project_dir: Path) -> None:
    """Check the settings a build does not use itself (``history``: gc's; ``retry_backoff``:
    ``run``'s) as it checks its own, so that a mistake is refused where it is made, not by the
    nightly ``cache gc`` or a daemon's first failure long after."""
    history_setting(project_dir)
    retry_backoff_setting(project_dir)


def history_setting(project_dir: Path) -> int:
    """How many events of each asset ``gc`` keeps: ``history`` in ``[tool.assetbuild]`` (100)."""
    from .history import DEFAULT_HISTORY

    value = project_settings(project_dir).get("history", DEFAULT_HISTORY)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{project_dir / 'pyproject.toml'} [tool.assetbuild]: history must be a whole number "
                          f"of events to keep per asset (0 or more), got {value!r}")
    return value


def retry_backoff_setting(project_dir: Path) -> float:
    """``assetbuild run``'s wait after an asset's first failure before it is retried, in seconds
    (doubled after each further failure): ``[tool.assetbuild]``'s ``retry_backoff`` ("5m", 300),
    else 60."""
    value = project_settings(project_dir).get("retry_backoff")
    if value is None:
        return 60.0
    from .clock import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise ConfigError(f"{project_dir / 'pyproject.toml'} [tool.assetbuild]: retry_backoff {e}") from None
