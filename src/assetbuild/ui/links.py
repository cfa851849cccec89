"""The URLs the UI's pages link to, built in one place. Every name, partition key and run id in
a URL is percent-encoded (``urllib.parse.quote``): HTML escaping alone leaves a key such as
``a%2Fb``, ``x?y`` or ``c#d`` to be read as another partition, a query or a fragment. Pure
(the lineage picture, layer 0, links with it too)."""

from __future__ import annotations

from urllib.parse import quote

from ..partitions import split_node


def path_part(name: str) -> str:
    """An asset's name in a URL's path: quoted, but a '/' in it stays a separator, which the
    asset route's path parameter takes whole."""
    return quote(name, safe="/")


def asset_url(name: str, partition: str | None = None) -> str:
    """An asset's page (``/assets/NAME``), or one partition's (``?partition=KEY``, quoted whole)."""
    url = "/assets/" + path_part(name)
    return url if partition is None else f"{url}?partition={quote(partition, safe='')}"


def node_url(node: str) -> str:
    """The page of a graph node: an asset's, or a partition's (``daily[2024-01-01]``)."""
    return asset_url(*split_node(node))


def run_url(run: str) -> str:
    return "/runs/" + quote(str(run), safe="")

