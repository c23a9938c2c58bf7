"""The report's tables as HTML pages (colliderflow.document)."""

import re

from colliderflow.document import to_html, write_markdown_and_html

TEXT = """# Model <b>summary</b>

**Simulated dataset**: |pull| <= 3 for mu_hat & m_H.

| model | mu_hat (68% CL) | S/B |
|---|---|---|
| bdt (best) | 1.02 -0.21 +0.23 | <script>alert(1)</script> |
"""


def test_markdown_tables_become_an_escaped_html_page():
    page = to_html(TEXT)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>Model &lt;b&gt;summary&lt;/b&gt;</title>" in page
    assert "<strong>Simulated dataset</strong>: |pull| &lt;= 3 for mu_hat &amp; m_H." in page
    assert re.search(r"<th>model</th>\s*<th>mu_hat \(68% CL\)</th>\s*<th>S/B</th>", page)
    assert re.search(r"<td>bdt \(best\)</td>\s*<td>1.02 -0.21 \+0.23</td>", page)
    # nothing in a cell or a name is read as markup
    assert "<script>" not in page and "<b>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_both_files_are_written(tmp_path):
    write_markdown_and_html(tmp_path / "t.md", tmp_path / "t.html", TEXT)
    assert (tmp_path / "t.md").read_text() == TEXT
    assert (tmp_path / "t.html").read_text() == to_html(TEXT)
    write_markdown_and_html(tmp_path / "only.md", None, TEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only.md", "t.html", "t.md"]
