"""How a build runs, once the project is loaded: ``build``'s keyword arguments packed once
(``BuildOptions``, with the shared cache's ``RemoteOptions``) and passed down as one value.

Frozen dataclasses whose ``__init__`` is written out, as ``reports``' records are (a frozen
dataclass costs every build 0.7-1 ms to make); ``tests/test_reports.py`` holds them to what
``@dataclass(frozen=True)`` would make.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..reports import FrozenRecord


@dataclass(init=False, repr=False, eq=False)
class RemoteOptions(FrozenRecord):
    """The shared cache of a build or status (README, "Caching in CI"): ``url`` (default
    $ASSETBUILD_REMOTE), whether to upload, whether unsigned entries are trusted, the timeout of
    one request and fsspec's storage options. Unset values take the remote's defaults."""

    url: str | None = None
    read_only: bool = False
    trust_unsigned: bool = False
    timeout: float | None = None
    options: dict[str, Any] | None = None

    def __init__(self, url: str | os.PathLike[str] | None = None, read_only: bool = False, trust_unsigned: bool = False,
                 timeout: float | None = None, options: dict[str, Any] | None = None) -> None:
        if isinstance(url, os.PathLike):  # a folder given as a pathlib.Path, as project_dir= may be
            url = os.fspath(url)
        elif url is not None and not isinstance(url, str):
            raise TypeError(f"remote= takes a URL or a folder's path, not {type(url).__name__}")
        self.__dict__.update(url=url, read_only=read_only, trust_unsigned=trust_unsigned, timeout=timeout,
                             options=options)


# BuildOptions fields a run's history names (``call_text``) when not at their defaults, in build()'s order
_SAID = ("force", "keep_going", "jobs", "executor", "executor_options", "timeout", "params", "param_args",
         "resources", "force_upstream", "only", "partitions")
# build()'s keyword arguments for the remote cache -> RemoteOptions fields
_REMOTE_KEYWORDS = {"remote": "url", "remote_read_only": "read_only", "trust_remote_unsigned": "trust_unsigned",
                    "remote_timeout": "timeout", "remote_options": "options"}

# The keywords of ``build`` that are options (not the project's, the reporter or the plugins'):
# what watch mode takes as ``**build_options``.
_BUILD_KEYWORDS = frozenset({"force", "keep_going", "dry_run", "jobs", "executor", "executor_options", "timeout",
                             "params", "param_args", "resources", "force_upstream", "only", "partitions"})


@dataclass(init=False, repr=False, eq=False)
class BuildOptions(FrozenRecord):
    """How to build, once the project is loaded: what ``build``'s keyword arguments ask for
    (see its docstring), packed once and passed down as one value."""

    force: bool = False
    keep_going: bool = False
    dry_run: bool = False
    jobs: int | str | None = None
    executor: str | None = None
    executor_options: dict[str, str] | None = None
    timeout: float | None = None
    remote: RemoteOptions = field(default_factory=RemoteOptions)
    params: dict[str, Any] | None = None  # build(params=...): asset -> {key: value}
    param_args: tuple[str, ...] = ()  # --param ASSET.KEY=VALUE items, below params=
    resources: dict[str, Any] | None = None  # resource name -> the object that replaces it
    force_upstream: bool = False  # force what the selection needs too (force: the selected only)
    only: bool = False  # run the selected only, against the stored values of their inputs
    partitions: str | tuple[str, ...] | None = None  # --partitions A..B / a,b; a tuple (--partition KEY, partitions=[...]): exact keys
    tick: bool = False  # a tick of ``assetbuild run``: what its policies requested (with ``only``)
    forced: frozenset[str] = frozenset()  # run these even when cached (a tick's due schedules)

    def __init__(self, force: bool = False, keep_going: bool = False, dry_run: bool = False,
                 jobs: int | str | None = None, executor: str | None = None,
                 executor_options: dict[str, str] | None = None, timeout: float | None = None,
                 remote: RemoteOptions | None = None, params: dict[str, Any] | None = None,
                 param_args: tuple[str, ...] = (), resources: dict[str, Any] | None = None,
                 force_upstream: bool = False, only: bool = False, partitions: str | tuple[str, ...] | None = None,
                 tick: bool = False, forced: frozenset[str] = frozenset()) -> None:
        self.__dict__.update(force=force, keep_going=keep_going, dry_run=dry_run, jobs=jobs, executor=executor,
                             executor_options=executor_options, timeout=timeout,
                             remote=RemoteOptions() if remote is None else remote, params=params,
                             param_args=param_args, resources=resources, force_upstream=force_upstream, only=only,
                             partitions=partitions if partitions is None or isinstance(partitions, str)
                             else tuple(partitions), tick=tick, forced=forced)

    def call_text(self, selection: Sequence[str]) -> str:
        """The ``build(...)`` call that asks for this build, as a run's history records it
        (``history.command_line``): the selection (``-x``: ``exclude=``), then each keyword
        not at its default; a replaced resource by its name, a remote's secrets hidden."""
        from ..redaction import redact_text, remote_secrets

        chosen = [s for s in selection if not s.startswith("-")]
        words = [repr(chosen[0]) if len(chosen) == 1 else repr(chosen)] if chosen else []
        excluded = [s[1:] for s in selection if s.startswith("-")]
        if excluded:
            words.append(f"exclude={excluded!r}")
        plain = BuildOptions()
        for name in _SAID:
            value = getattr(self, name)
            if value == getattr(plain, name):
                continue
            if name == "resources":  # the objects' reprs say nothing (and may be long): their names
                words.append("resources={" + ", ".join(f"{r!r}: ..." for r in value) + "}")
            else:
                words.append(f"{name}={list(value) if name == 'param_args' else value!r}")
        remote = self.remote
        for keyword, name in _REMOTE_KEYWORDS.items():
            value = getattr(remote, name)
            if value != getattr(plain.remote, name):
                words.append(f"{keyword}={value!r}")
        return redact_text(f"build({', '.join(words)})", remote_secrets(remote.url or "", remote.options))

    @classmethod
    def from_keywords(cls, keywords: dict[str, Any], caller: str = "build") -> BuildOptions:
        """The options ``build(**keywords)`` would use (watch mode takes them as ``**build_options``).
        An unknown keyword, or one of the fields only assetbuild sets (``tick``, ``forced``), is
        a TypeError naming ``caller``, as in a call."""
        for k in keywords:
            if k not in _BUILD_KEYWORDS and k not in _REMOTE_KEYWORDS:
                raise TypeError(f"{caller}() got an unexpected keyword argument {k!r}")
        remote = {_REMOTE_KEYWORDS[k]: v for k, v in keywords.items() if k in _REMOTE_KEYWORDS}
        return cls(**{k: v for k, v in keywords.items() if k not in _REMOTE_KEYWORDS},
                   remote=RemoteOptions(**remote))
