"""The resources of one build (``@resource``): the scope that makes them in the build's
process, and the caller's overrides (``build(resources={...})``)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .project import Project


class BuildResources:
    """The resources of one build: the scope that makes them in this process, and the
    caller's overrides (``build(resources={...})``)."""

    def __init__(self, project: Project, overrides: dict[str, Any] | None) -> None:
        from ..resources import ResourceOverride, ResourceScope

        graph = project.graph
        for name in overrides or {}:
            if name not in graph.resources:
                known = ", ".join(sorted(graph.resources)) or "none"
                raise ConfigError(f"resources= names {name!r}, which is not a resource of this project "
                                  f"(its resources: {known})")
        self.overrides = {n: ResourceOverride(n, v) for n, v in (overrides or {}).items()}
        self.scope = ResourceScope(str(project.project_dir), warn=project.reporter.warn)
        self.defs = graph.resources

    def for_asset(self, uses: tuple[tuple[str, str], ...]) -> tuple[tuple[str, Any], ...]:
        """Task.resources of an asset using ``uses`` ((parameter, resource name), ...)."""
        return tuple((param, self.overrides.get(r) or self.defs[r]) for param, r in uses)

    def all(self) -> dict[str, Any]:
        """Every resource, by name (what an IO manager's context offers: ``IOContext.resources``)."""
        return {n: self.overrides.get(n) or d for n, d in self.defs.items()}

    def mapping(self) -> Any:
        """The resources as a mapping that makes them in this process on first use."""
        from ..resources import ResourceMap

        return ResourceMap(self.all(), self.scope)

    def close(self) -> None:
        self.scope.close()
