"""the web UI; see ui/app.py, ui/layout.py, ui/svg.py"""
