"""The report's tables as Markdown (for the terminal) and as HTML (shown inline by ``snakemake --report``).

A stage builds its tables once, as Markdown; ``write_markdown_and_html`` writes that text and
its HTML rendering (Python-Markdown with its ``tables`` extension). The Snakemake report shows
an ``.html`` result in a frame, while a Markdown result is only a download.
"""

from __future__ import annotations

import html
from pathlib import Path

from .io import atomic_path

STYLE = ("body{font-family:sans-serif;font-size:14px;margin:1em}"
         "table{border-collapse:collapse;margin:0.5em 0}"
         "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}"
         "th{background:#eee}td:first-child,th:first-child{text-align:left}")


def to_html(text: str) -> str:
    """A whole HTML page of the Markdown ``text`` (headings, paragraphs, bold, pipe tables).

    The text is escaped first, so a ``<`` in a cell or a name is shown, never read as markup;
    the page's title is its first heading.
    """
    import markdown

    title = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")), "")
    body = markdown.markdown(html.escape(text, quote=False), extensions=["tables"])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_markdown_and_html(markdown_path: str | Path, html_path: str | Path | None, text: str) -> None:
    """Write the Markdown ``text`` to ``markdown_path`` and, given ``html_path``, its HTML page."""
    with atomic_path(markdown_path) as tmp:
        Path(tmp).write_text(text)
    if html_path is not None:
        with atomic_path(html_path) as tmp:
            Path(tmp).write_text(to_html(text))
