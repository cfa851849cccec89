"""``assetbuild partitions``: list a partitioned asset's keys, and add or remove the keys of
dynamic partitions (``DynamicPartitions("customers")``), which the cache keeps."""

from __future__ import annotations

from typing import Any

import click

from .finding import CommandGroup, located
from .options import _common, _handle_errors, _json_option, _options, _prints_to_stderr, _setup


@click.group(cls=CommandGroup, epilog="""\b
Examples:
  assetbuild partitions list daily              # every key of 'daily', in order
  assetbuild partitions add customers acme zeta # two new dynamic partitions
  assetbuild partitions remove customers zeta   # its outputs go at the next build
""")
def partitions() -> None:
    """List partition keys; add and remove dynamic ones."""


@partitions.command(name="list")
@click.argument("asset")
@_common
@_json_option('Print one JSON document, {"asset", "partitions": [keys in order]}.')
@click.pass_context
@_handle_errors
def list_keys(ctx: click.Context, asset: str, **local: Any) -> None:
    """Print ASSET's partition keys now, one per line, in key order (a time partition's up to the
    last complete window at ASSETBUILD_NOW or the clock; a file partition's as the glob matches)."""
    import json

    from ..session.partitioning import partition_keys

    opts, _ = _setup(ctx, local, reads_only=True)
    with _prints_to_stderr():
        keys = partition_keys(asset, **located(opts), cache_dir=opts.get("cache_dir"))
    click.echo(json.dumps({"asset": asset, "partitions": keys}) if opts.get("as_json") else "\n".join(keys))


def _change(ctx: click.Context, name: str, keys: tuple[str, ...], local: dict[str, Any], *, add: bool) -> None:
    import json

    from ..session.partitioning import change_dynamic

    opts, rep = _setup(ctx, local)
    with _prints_to_stderr():
        now = change_dynamic(name, keys, add=add, **located(opts), cache_dir=opts.get("cache_dir"),
                             warn=rep.warn)
    if opts.get("as_json"):
        return click.echo(json.dumps({"name": name, "partitions": now}))
    click.echo(f"{name}: {len(now)} partition(s)")


# NAME KEYS... and the common options of `partitions add` and `partitions remove`
_dynamic_keys = _options(click.argument("name"), click.argument("keys", nargs=-1, required=True), _common,
                         _json_option('Print one JSON document, {"name", "partitions": [its keys now]}.'),
                         click.pass_context, _handle_errors)


@partitions.command()
@_dynamic_keys
def add(ctx: click.Context, name: str, keys: tuple[str, ...], **local: Any) -> None:
    """Add KEYS to the dynamic partitions NAME (a key it has already is kept once). The next
    build builds the new partitions."""
    _change(ctx, name, keys, local, add=True)


@partitions.command()
@_dynamic_keys
def remove(ctx: click.Context, name: str, keys: tuple[str, ...], **local: Any) -> None:
    """Remove KEYS from the dynamic partitions NAME. The next build of an asset using it drops
    those partitions: their records, and the files they wrote while unchanged. A key it does not
    have is named in a warning."""
    _change(ctx, name, keys, local, add=False)
