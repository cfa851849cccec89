"""``build --only``: the selected assets run against the stored values of their inputs.

An input outside the plan is not decided: its latest stored value (its head, or its previous
value after a skip) is what its readers get, even when that value is stale. Its readers' keys
are made from those versions as usual, so what they make is recorded like any other result
and a later full build reconciles (it reruns them once their inputs are rebuilt).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .contracts import TraceStore
from .graph import Graph
from .known import Blocked, Known
from .skips import previous_value


def stored_inputs(graph: Graph, store: TraceStore, plan: Sequence[str], known: dict[str, Known],
                  blocked: dict[str, Blocked], usable_version: Callable[[str], str]) -> list[str]:
    """Make the stored value of each asset the plan reads but does not build known to this build
    (``blocked`` when none is stored: its readers are not run). The inputs it used, in order."""
    planned = set(plan)
    used: list[str] = []
    for name in plan:
        for _, up in graph.inputs.get(name, ()):
            if up in planned or up not in graph.inputs or up in known or up in blocked:
                continue
            used.append(up)
            head = previous_value(up, store)
            if head is None:
                blocked[up] = Blocked.NEVER_BUILT
            else:
                known[up] = Known(head.key, usable_version(head.data_version), head.output_digest)
    return used
