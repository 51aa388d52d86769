"""What every output format shares: atomic writes, CSV files, and how numbers and text are shown.

Every file is written atomically (to a temporary name, then renamed), so an interrupted
run never leaves a half-written gradebook.
"""
from __future__ import annotations

import contextlib
import csv
import html
import io
import os
import re
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.
    Text is written as UTF-8; what UTF-8 cannot hold (a lone surrogate) becomes U+FFFD."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# A cell that a spreadsheet would read as a formula (OWASP's CSV injection advice), unless
# it is a plain number: "-1.5" stays a number, "=HYPERLINK(…)" or "-1+cmd" becomes text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """``value`` safe for a spreadsheet: text starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return gets a leading ``'`` (so it is shown, not evaluated); numbers and
    other text are kept as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Write a CSV file (every cell through :func:`csv_cell`), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[csv_cell(c) for c in columns], lineterminator="\n")
    writer.writeheader()
    writer.writerows({csv_cell(k): csv_cell(v) for k, v in row.items()} for row in rows)
    atomic_write(path, buf.getvalue())


def rich_text(text: str) -> str:
    """Escape a message for HTML, showing its `backquoted` parts as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def num(x: float) -> str:
    """A score as shown everywhere: ``2``, ``1.5``, ``0.25``."""
    return f"{x:g}"


def one_line(text: str) -> str:
    """A message on one line, at most 500 characters (for CSV cells)."""
    return " ".join(str(text).split())[:500]


def escape(text: object) -> str:
    return html.escape(str(text))


# What every HTML page of the grader shares (issue 20, WCAG 2.1 AA): a language, a viewport
# that lays the page out at the phone's width, text and tables that wrap within 390 px, and
# long printed lines that wrap instead of running out of their box.
PAGE_STYLE = ("body{font-family:sans-serif;margin:2em auto;padding:0 1em;line-height:1.45;"
              "overflow-wrap:anywhere}"
              "pre{white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}"
              "table{max-width:100%}td,th{overflow-wrap:anywhere}svg{max-width:100%;height:auto}")


def html_page(title: str, style: str, body: str) -> str:
    """A complete HTML page: ``<html lang="en">``, a viewport, ``title``, the shared
    :data:`PAGE_STYLE` followed by the page's own ``style``, and ``body``."""
    return ("<!doctype html>\n<html lang='en'>\n<head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}{style}</style></head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
