# Jinja templates and assets for the HTML and PDF reports (loaded with importlib.resources).
