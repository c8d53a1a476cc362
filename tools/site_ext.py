"""A small Sphinx extension for the website (loaded from `_config.yml`, `sphinx: local_extensions`).

Jupyter Book 1.0.4 registers the inline script of sphinx-thebe (``const THEBE_JS_URL = ...``) and of
sphinx-togglebutton twice on every page; the second ``const`` declaration is a JavaScript error in the
reader's console. This drops every script that is an exact repeat of one before it on the page.
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
