"""The tab's static files (the built JavaScript bundle in tb_attention_plugin/static/).

Names from the URL are checked strictly (a few path segments of letters, digits, `_`, `-` and `.`,
no `..`, a known extension) and the resolved path must stay inside the static directory, so no
query or path can reach another file. A missing bundle is answered by a tiny module that says how
to build it, instead of an error page inside the tab.
"""

import os
import re

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tb_attention_plugin/
STATIC_DIR = os.path.join(PACKAGE_DIR, "static")

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".map": "application/json",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
}
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_MAX_SEGMENTS = 4

MISSING_BUNDLE_JS = """\
// Served by the tb-attention plugin because its JavaScript bundle was not built.
export function render() {
  const box = document.createElement("div");
  box.style.cssText = "font: 14px sans-serif; margin: 24px; max-width: 720px; line-height: 1.5";
  const title = document.createElement("h3");
  title.textContent = "The Attention tab's JavaScript bundle is missing";
  const text = document.createElement("p");
  text.textContent = "tb_attention_plugin/static/index.js was not found. Build it from a source " +
    "checkout with: cd frontend && npm ci && npm run build (or reinstall the package with " +
    "pip install . from a checkout, which builds it), then reload this page.";
  box.append(title, text);
  document.body.append(box);
}
"""


def resolve(relative, static_dir=STATIC_DIR):
    """URL path below the plugin's prefix -> (absolute file path, content type), or None."""
    if not isinstance(relative, str) or "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if not 0 < len(parts) <= _MAX_SEGMENTS:
        return None
    if any(not _SEGMENT.match(p) or ".." in p for p in parts):
        return None
    content_type = CONTENT_TYPES.get(os.path.splitext(parts[-1])[1].lower())
    if content_type is None:
        return None
    root = os.path.realpath(static_dir)
    path = os.path.realpath(os.path.join(root, *parts))
    if not path.startswith(root + os.sep) or not os.path.isfile(path):
        return None
    return path, content_type


def read(relative, static_dir=STATIC_DIR):
    """-> (bytes, content type) of a static file, the fallback module for a missing index.js, or None."""
    found = resolve(relative, static_dir)
    if found is None:
        if relative == "index.js":
            return MISSING_BUNDLE_JS.encode("utf-8"), "text/javascript"
        return None
    path, content_type = found
    try:
        with open(path, "rb") as f:
            return f.read(), content_type
    except OSError:
        return None
