"""The site generator's helpers: front matter, a small Markdown converter, templates."""
