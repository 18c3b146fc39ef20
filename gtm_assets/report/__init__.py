"""HTML and markdown reports rendered from the marts (Jinja2 templates, values escaped)."""
