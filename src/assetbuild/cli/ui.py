"""``assetbuild ui``: the asset catalog, lineage, history and metadata plots in a browser."""

from __future__ import annotations

from typing import Any

import click

from .options import _common, _handle_errors, _setup


@click.command(epilog="""\b
Examples:
  assetbuild ui                        serve on http://127.0.0.1:8765/ (the URL printed carries a token)
  assetbuild ui --open                 ... and open it in a browser
  assetbuild ui --read-only --port 9000
""")
@_common
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but localhost lets others reach it: it warns.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the printed URL in a browser.")
@click.option("--read-only", is_flag=True, help="No Materialize buttons; the server refuses builds.")
@click.pass_context
@_handle_errors
def ui(ctx: click.Context, host: str, port: int, open_browser: bool, read_only: bool, **local: Any) -> None:
    """Serve the web UI: every asset with its state (catalog), the lineage graph, each asset's
    definition, state and reasons, latest metadata, history and plots of its numeric metadata,
    partitions as a grid, and the runs with their logs.

    It reads the same project and cache directory as the other commands, and reloads the
    AssetFile when it changes. Everything is served from this process: no internet needed.
    The Materialize buttons start a build in the server (one at a time) and pages follow it
    live. Builds and other actions need the token in the printed URL: opening it keeps the
    token in a cookie. Ctrl-C stops the server (exit 0; 130 when it interrupts a build started
    from a page, whose run is recorded as interrupted, as the CLI's).

    Needs the ui extra: pip install -e '.[ui]' in the assetbuild clone.
    """
    import os

    from ..errors import ConfigError

    opts, _ = _setup(ctx, local)
    try:
        from ..ui.server import Settings, new_token, serve
    except ImportError as e:
        raise ConfigError(f"assetbuild ui needs the ui extra ({e.name} is missing): "
                          "pip install -e '.[ui]' in the assetbuild clone") from None
    from ..ui.data import Where

    where = Where(os.getcwd(), opts.get("assetfile"), opts.get("cache_dir"))
    serve(Settings(where, new_token(), host=host, port=port, read_only=read_only), open_browser=open_browser)
