"""Sphinx extension: read nbdev cell directives (`#| ...`) as Jupyter Book cell tags.

nbdev marks cells with comment directives (`#| export`, `#| hide`, ...); Jupyter Book hides cells by tags.
On reading each notebook we strip the directive lines and map the ones that concern the reader to tags,
so one set of markers in `nbs/` drives both the package and the book.
"""
import json
import re
from pathlib import Path

DIRECTIVE = re.compile(r"^\s*#\s*\|\s*(?P<name>[\w-]+):?\s*(?P<value>.*)$")
# nbdev directive -> tag for the book ("hide" cells still run: they may define what later cells use)
TAGS = {"hide": "remove-cell", "default_exp": "remove-cell", "exporti": "remove-cell",
        "echo": "remove-input", "output": "remove-output", "eval": "skip-execution"}
FALSE_VALUES = {"false", "False", "0"}


def _cell_tags(lines):
    """Tags implied by the directive lines of one cell, and the lines left to show."""
    tags, kept = [], []
    for line in lines:
        m = DIRECTIVE.match(line)
        if not m:
            kept.append(line)
            continue
        name, value = m["name"], m["value"].strip()
        if name in ("echo", "output", "eval"):
            if value in FALSE_VALUES: tags.append(TAGS[name])
        elif name in TAGS:
            tags.append(TAGS[name])
    while kept and not kept[0].strip(): kept.pop(0)
    return tags, kept


def translate_notebook(text):
    """Return notebook JSON `text` with nbdev directives turned into cell tags."""
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code": continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        tags, kept = _cell_tags(src.splitlines())
        if not tags and len(kept) == len(src.splitlines()): continue
        cell["source"] = "\n".join(kept)
        meta_tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        meta_tags.extend(t for t in tags if t not in meta_tags)
    return json.dumps(nb)


def _on_source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = translate_notebook(source[0])


def _use_local_mathjax(app, config):
    "Ship MathJax with the site when `make mathjax` fetched it into `.mathjax/`, so math renders offline."
    local = Path(app.srcdir) / ".mathjax"
    if (local / "mathjax" / "tex-chtml.js").exists():
        config.mathjax_path = "../mathjax/tex-chtml.js"  # relative to _static/
        config.html_extra_path = [*config.html_extra_path, str(local)]


def _tidy_page_context(app, pagename, templatename, context, doctree):
    """Two fixes that keep the browser console clean: the thebe settings script is registered twice by the stack
    (a second copy redeclares a const), and an empty light/dark default makes the theme log an error."""
    context.setdefault("default_mode", "light")
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", str(script)) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"][:] = scripts  # in place: later listeners append to the same list


RST_SPECIAL = re.compile(r"(?<!\\)([*|])|_(?=[\s,.;:)]|$)")


def _docstring_as_plain_text(app, what, name, obj, options, lines):
    """Docstrings here are written for readers of the code (Markdown habits: `*`, `|x|`, `w_i`); keep reStructuredText
    from reading them as markup, outside of backtick spans."""
    for i, line in enumerate(lines):
        parts = line.split("`")
        parts[::2] = [RST_SPECIAL.sub(lambda m: "\\" + m.group(0), p) for p in parts[::2]]
        lines[i] = "`".join(parts)


def setup(app):
    app.connect("autodoc-process-docstring", _docstring_as_plain_text)
    app.connect("source-read", _on_source_read)
    app.connect("config-inited", _use_local_mathjax)
    app.connect("html-page-context", _tidy_page_context, priority=100)  # early: the event stops at a first result
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
