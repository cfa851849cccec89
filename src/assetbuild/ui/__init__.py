"""The web UI (``assetbuild ui``): see ui/app.py (routes), ui/pages.py (HTML), ui/layout.py and
ui/svg.py (the lineage picture), ui/server.py (serving)."""
