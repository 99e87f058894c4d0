"""Server-rendered pages for people: Jinja2 templates, escaped output, no scripts needed."""
