"""Format extraction: titles, heading paths, and block offsets that index `Document.text` exactly."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import docx
import pypdf
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.styles.styles import Styles
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from search.documents import Document
from search.errors import ExtractionError, UndecodableError
from search.ingest.extract import SUPPORTED_FORMATS, extract_bytes, extract_document, join_cjk_lines


def blocks(document: Document) -> list[tuple[str, str]]:
    """(heading, text) per block, read back through the offsets: this is what citations rely on."""
    return [(block.heading, document.text[block.start : block.end]) for block in document.blocks]


def assert_blocks_are_stripped(document: Document) -> None:
    for block in document.blocks:
        text = document.text[block.start : block.end]
        assert text and text == text.strip()


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def make_pdf(path: Path, pages: list[list[str]], font: str = "Helvetica", **options: object) -> Path:
    """One string per drawn line; an empty string leaves a larger gap (a paragraph break)."""
    pdf = canvas.Canvas(str(path), **options)
    for lines in pages:
        pdf.setFont(font, 12)
        y = 780.0
        for line in lines:
            if line:
                pdf.drawString(72, y, line)
            y -= 16 if line else 32
        pdf.showPage()
    pdf.save()
    return path


# --- dispatch -----------------------------------------------------------------------------------


def test_supported_formats() -> None:
    assert SUPPORTED_FORMATS == {
        ".txt": "txt",
        ".md": "md",
        ".markdown": "md",
        ".html": "html",
        ".htm": "html",
        ".pdf": "pdf",
        ".docx": "docx",
    }


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match=r"unsupported format \.xls"):
        extract_document(write(tmp_path, "a.xls", "x"), "a.xls")


def test_upper_case_suffix(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "NOTE.TXT", "本文"), "NOTE.TXT")
    assert document.format == "txt"


def test_missing_file_is_an_extraction_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="cannot read file"):
        extract_document(tmp_path / "gone.txt", "gone.txt")


# --- txt ----------------------------------------------------------------------------------------


def test_txt_paragraphs(tmp_path: Path) -> None:
    text = "  第一段落の一行目。\n一行目の続き。\n\n\n第二段落。  \n \n\u3000第三段落。\n"
    document = extract_document(write(tmp_path, "memo.txt", text.replace("\n", "\r\n"), "cp932"), "dir/memo.txt")
    assert document.path == "dir/memo.txt"
    assert document.title == "memo"
    assert document.format == "txt"
    assert document.encoding == "cp932"
    assert document.text == text
    assert blocks(document) == [
        ("", "第一段落の一行目。\n一行目の続き。"),
        ("", "第二段落。"),
        ("", "第三段落。"),
    ]


def test_txt_regulation_articles_become_headings(tmp_path: Path) -> None:
    text = (
        "就業規則\n\n第1章　総則（第1条―第2条）\n\n"
        "（目的）\n第１条　この規則は労働条件を定める。\n２　定めのない事項は法令による。\n"
        "第2条（定義）この規則で従業員とは正社員をいう\n第2条において定める者は除く。\n\n"  # the 2nd line cites
        "━━━━━━━━━━\n第3章　休暇、休職\n━━━━━━━━━━\n"
        "第20条（年次有給休暇）\n① 6か月勤務した者には10日を付与する。\n② 半日単位でも取得できる。\n\n"
        "第20条の2 (特別休暇)\n入社時に3日を付与する。\n\n"
        "（注記）\n見出しではない括弧書き。\n\n"
        "附　則\nこの規則は令和5年4月1日から施行する\n"
    )
    document = extract_document(write(tmp_path, "就業規則.txt", text, "cp932"), "人事/就業規則.txt")
    assert document.text == text
    general, leave = "第1章　総則（第1条―第2条）", "第3章　休暇、休職"
    assert blocks(document) == [
        ("", "就業規則"),
        (f"{general} > 第１条（目的）", "第１条　この規則は労働条件を定める。\n２　定めのない事項は法令による。"),
        (f"{general} > 第2条（定義）", "第2条（定義）この規則で従業員とは正社員をいう\n第2条において定める者は除く。"),
        (f"{leave} > 第20条（年次有給休暇）", "① 6か月勤務した者には10日を付与する。\n② 半日単位でも取得できる。"),
        (f"{leave} > 第20条の2(特別休暇)", "入社時に3日を付与する。"),
        (f"{leave} > 第20条の2(特別休暇)", "（注記）\n見出しではない括弧書き。"),
        ("附　則", "この規則は令和5年4月1日から施行する"),
    ]


def test_txt_sample_paragraphs() -> None:
    sample = Path(__file__).parent / "fixtures" / "encodings" / "sample_sjis.txt"
    document = extract_document(sample, "sample_sjis.txt")
    assert document.encoding == "cp932"
    assert len(document.blocks) == 2
    assert_blocks_are_stripped(document)


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_empty_txt_has_no_blocks(tmp_path: Path, content: str) -> None:
    document = extract_document(write(tmp_path, "empty.txt", content), "empty.txt")
    assert document.blocks == []


def test_undecodable_txt(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UndecodableError, match="binary"):
        extract_document(path, "image.txt")


# --- Markdown -----------------------------------------------------------------------------------

MARKDOWN = """---
title: "経費精算ガイド"
tags: [経費, '総務']
author: 総務部
---
# 経費精算の手順

はじめに説明します。
二行目です。

## 申請期限

- 月末までに申請する
- 領収書を添付する
  （原本）

```text
コード 1

コード 2
```

| 項目 | 期限 |
|------|------|
| 交通費 | 月末 |

提出先
------

総務部へ。#タグ ではない

### 細則 ###
細則の本文。

---

# 付録
付録の本文。
"""


def test_markdown_structure(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "guide.md", MARKDOWN), "guide.md")
    assert document.title == "経費精算ガイド"
    assert document.tags == ["経費", "総務"]
    assert document.format == "md"
    assert document.encoding == "utf-8"
    assert document.text == MARKDOWN
    top, deadline = "経費精算の手順", "経費精算の手順 > 申請期限"
    assert blocks(document) == [
        (top, "はじめに説明します。\n二行目です。"),
        (deadline, "- 月末までに申請する"),
        (deadline, "- 領収書を添付する\n  （原本）"),
        (deadline, "```text\nコード 1\n\nコード 2\n```"),
        (deadline, "| 項目 | 期限 |"),
        (deadline, "| 交通費 | 月末 |"),
        ("経費精算の手順 > 提出先", "総務部へ。#タグ ではない"),
        ("経費精算の手順 > 提出先 > 細則", "細則の本文。"),
        ("付録", "付録の本文。"),
    ]


def test_markdown_front_matter_is_not_a_block(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "guide.md", MARKDOWN), "guide.md")
    assert all("author" not in text for _, text in blocks(document))


def test_markdown_tags_as_list_lines(tmp_path: Path) -> None:
    content = '---\ntitle: 休暇\ntags:\n  - 人事\n  - "休暇"\n  - 人事\n---\n本文。\n'
    document = extract_document(write(tmp_path, "leave.md", content), "leave.md")
    assert document.title == "休暇"
    assert document.tags == ["人事", "休暇"]
    assert blocks(document) == [("", "本文。")]


def test_markdown_title_falls_back_to_h1_then_stem(tmp_path: Path) -> None:
    with_h1 = extract_document(write(tmp_path, "a.md", "## 小見出し\n\n# 大見出し\n\n本文\n"), "a.md")
    assert with_h1.title == "大見出し"
    without = extract_document(write(tmp_path, "b.markdown", "本文だけ\n"), "b.markdown")
    assert without.title == "b"
    assert without.format == "md"


def test_markdown_unclosed_front_matter_is_body(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "c.md", "---\ntitle: x\n\n本文\n"), "c.md")
    assert document.title == "c"
    assert document.tags == []
    assert [text for _, text in blocks(document)] == ["title: x", "本文"]


def test_markdown_front_matter_only_has_no_blocks(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "d.md", "---\ntitle: 空\n---\n\n"), "d.md")
    assert document.title == "空"
    assert document.blocks == []


def test_markdown_unclosed_fence_runs_to_the_end(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "e.md", "前\n\n~~~\na\n\n# not a heading\n"), "e.md")
    assert [text for _, text in blocks(document)] == ["前", "~~~\na\n\n# not a heading"]


def test_markdown_in_euc_jp(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "f.md", "# 見出し\r\n\r\n本文。\r\n", "euc_jp"), "f.md")
    assert document.encoding == "euc_jp"
    assert blocks(document) == [("見出し", "本文。")]


# --- HTML ---------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><meta charset="Shift_JIS"><title>就業規則 集</title>
<style>p { color: red }</style><script>var hidden = "スクリプト";</script></head>
<body>
<header><h1>サイト名</h1></header><nav><a href="/">メニュー</a></nav>
<h1>就業規則</h1>
<div>前文の
テキスト<p>第一条の本文は
ここまで。<b>太字</b> and <i>English</i>
words</p>後文</div>
<h2>休暇</h2>
<ul><li>年次有給休暇<ul><li>入社半年後</li></ul></li><li>特別休暇<br>慶弔</li></ul>
<table><tr><th>種類</th><th>日数</th></tr><tr><td>年休</td><td>10日</td></tr></table>
<pre>preformatted  text
  indented</pre>
<h3>定義</h3>
<dl><dt>用語</dt><dd>説明①</dd></dl>
<blockquote><p>引用文</p></blockquote>
<!-- コメント -->
<noscript>無効</noscript>
<footer>フッタ</footer>
</body></html>
"""


def test_html_structure(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "rules.html", HTML, "cp932"), "rules.html")
    assert document.title == "就業規則 集"
    assert document.format == "html"
    assert document.encoding == "cp932"
    rules, leave = "就業規則", "就業規則 > 休暇"
    assert blocks(document) == [
        (rules, "前文のテキスト"),
        (rules, "第一条の本文はここまで。太字 and English words"),
        (rules, "後文"),
        (leave, "年次有給休暇"),
        (leave, "入社半年後"),
        (leave, "特別休暇\n慶弔"),
        (leave, "種類 | 日数"),
        (leave, "年休 | 10日"),
        (leave, "preformatted  text\n  indented"),
        ("就業規則 > 休暇 > 定義", "用語"),
        ("就業規則 > 休暇 > 定義", "説明①"),
        ("就業規則 > 休暇 > 定義", "引用文"),
    ]


def test_html_text_holds_headings_but_not_dropped_parts(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "rules.html", HTML, "cp932"), "rules.html")
    assert document.text.startswith("就業規則\n\n前文のテキスト\n\n")
    for hidden in ("スクリプト", "color", "サイト名", "メニュー", "フッタ", "無効", "コメント"):
        assert hidden not in document.text


def test_html_without_meta_charset_is_detected(tmp_path: Path) -> None:
    content = "<html><body><h1>見出し</h1><p>本文。</p></body></html>"
    document = extract_document(write(tmp_path, "a.htm", content, "euc_jp"), "a.htm")
    assert document.encoding == "euc_jp"
    assert document.title == "見出し"
    assert blocks(document) == [("見出し", "本文。")]


def test_html_http_equiv_charset(tmp_path: Path) -> None:
    content = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=EUC-JP">'
        "</head><body><p>本文</p></body></html>"
    )
    document = extract_document(write(tmp_path, "b.html", content, "euc_jp"), "b.html")
    assert document.encoding == "euc_jp"
    assert document.title == "b"


def test_html_wrong_meta_charset_is_reported(tmp_path: Path) -> None:
    content = '<html><head><meta charset="utf-8"></head><body><p>本文です</p></body></html>'
    with pytest.raises(UndecodableError, match="declares charset utf-8"):
        extract_document(write(tmp_path, "c.html", content, "cp932"), "c.html")


def test_empty_html_has_no_blocks(tmp_path: Path) -> None:
    document = extract_document(write(tmp_path, "e.html", "<html><head><title>空</title></head></html>"), "e.html")
    assert document.title == "空"
    assert document.blocks == []


# --- DOCX ---------------------------------------------------------------------------------------


def make_docx(path: Path, title: str = "") -> Path:
    document = docx.Document()
    document.core_properties.title = title
    document.add_heading("経費精算の手順", level=1)
    document.add_paragraph("はじめに。")
    document.add_heading("申請期限", level=2)
    document.add_paragraph("月末まで。")
    document.add_paragraph("   ")
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).text, table.cell(0, 1).text, table.cell(0, 2).text = "項目", "期限", "備考"
    table.cell(1, 0).merge(table.cell(1, 1)).text = "交通費"
    table.cell(1, 2).text = "月末"
    document.add_heading("別章", level=1)
    document.add_paragraph("本文")
    document.save(str(path))
    return path


def test_docx_structure(tmp_path: Path) -> None:
    document = extract_document(make_docx(tmp_path / "expenses.docx"), "expenses.docx")
    assert document.title == "経費精算の手順"
    assert document.format == "docx"
    assert document.encoding is None
    deadline = "経費精算の手順 > 申請期限"
    assert blocks(document) == [
        ("経費精算の手順", "はじめに。"),
        (deadline, "月末まで。"),
        (deadline, "項目 | 期限 | 備考"),
        (deadline, "交通費 | 月末"),
        ("別章", "本文"),
    ]
    assert "申請期限" in document.text  # headings are readable context, just not blocks


def test_docx_core_title_wins(tmp_path: Path) -> None:
    document = extract_document(make_docx(tmp_path / "x.docx", title="経費規程"), "x.docx")
    assert document.title == "経費規程"


def test_docx_title_style_heads_the_path(tmp_path: Path) -> None:
    source = docx.Document()
    source.add_heading("規程集", level=0)  # level 0 is the "Title" style
    source.add_heading("第1章", level=1)
    source.add_paragraph("本文")
    source.save(str(tmp_path / "t.docx"))
    document = extract_document(tmp_path / "t.docx", "t.docx")
    assert document.title == "規程集"
    assert blocks(document) == [("規程集 > 第1章", "本文")]


def test_docx_localized_missing_and_character_style_ids(tmp_path: Path) -> None:
    # Styles resolve as python-docx resolves them: a localized heading name counts, and a pStyle naming no
    # style, or naming a character style, falls back to the default paragraph style (body text).
    source = docx.Document()
    localized = source.styles.add_style("見出し 1", WD_STYLE_TYPE.PARAGRAPH)
    source.add_paragraph("総則", style=localized)
    source.add_paragraph("本文一").style = None
    missing = source.add_paragraph("本文二")
    missing._p.get_or_add_pPr().style = "NoSuchStyle"
    character = source.add_paragraph("本文三")
    character._p.get_or_add_pPr().style = source.styles["Strong"].style_id
    source.add_heading("細則", level=2)
    source.add_paragraph("本文四")
    typeless = OxmlElement("w:style")  # no w:type: python-docx cannot wrap it, but it names no heading either
    typeless.set(qn("w:styleId"), "Typeless")
    source.styles.element.append(typeless)
    source.add_paragraph("本文五")._p.get_or_add_pPr().style = "Typeless"
    source.save(str(tmp_path / "s.docx"))
    document = extract_document(tmp_path / "s.docx", "s.docx")
    assert blocks(document) == [
        ("総則", "本文一"),
        ("総則", "本文二"),
        ("総則", "本文三"),
        ("総則 > 細則", "本文四"),
        ("総則 > 細則", "本文五"),
    ]


def many_paragraph_docx(paragraphs: int) -> bytes:
    """A DOCX of `paragraphs` paragraphs with a heading every 50, built by copying XML elements (adding
    them one by one through python-docx is itself quadratic)."""
    source = docx.Document()
    heading = source.add_heading("節", level=2)._p
    body = source.add_paragraph("段落の本文です。")._p
    for element in (heading, body):
        element.getparent().remove(element)
    end = source.element.body.sectPr
    for number in range(paragraphs):
        end.addprevious(copy.deepcopy(heading if number % 50 == 0 else body))
    buffer = io.BytesIO()
    source.save(buffer)
    return buffer.getvalue()


def count_style_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every per-style lookup python-docx does; each one scans the document's styles."""
    calls: list[str] = []
    for name in ("default", "get_by_id"):
        original = getattr(Styles, name)

        def counted(self: Styles, *args: object, _original: Any = original, _name: str = name) -> object:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(Styles, name, counted)
    return calls


def test_docx_styles_are_resolved_once_per_document_not_per_paragraph(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue #14: resolving each paragraph's style scanned every style, so a 41 KB DOCX of 14,000
    # paragraphs took 96 s. The work must not grow with the number of paragraphs.
    lookups = count_style_lookups(monkeypatch)
    small = extract_bytes(many_paragraph_docx(100), "small.docx", "small.docx")
    small_lookups = len(lookups)
    lookups.clear()
    large = extract_bytes(many_paragraph_docx(15_000), "large.docx", "large.docx")
    assert len(large.blocks) == 15_000 - 300 and len(small.blocks) == 100 - 2
    assert large.blocks[-1].heading == "節"
    assert len(lookups) == small_lookups <= 2


def test_empty_docx_has_no_blocks(tmp_path: Path) -> None:
    docx.Document().save(str(tmp_path / "empty.docx"))
    document = extract_document(tmp_path / "empty.docx", "empty.docx")
    assert document.title == "empty"
    assert document.blocks == []


@pytest.mark.parametrize("content", [b"not a zip file", b"PK\x03\x04 truncated"])
def test_corrupt_docx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(content)
    with pytest.raises(ExtractionError, match="corrupt DOCX"):
        extract_document(path, "broken.docx")


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_paragraphs_and_pages(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "report.pdf",
        [
            ["First paragraph line one", "continues here.", "", "Second paragraph."],
            ["- item one", "- item two"],
        ],
    )
    document = extract_document(path, "report.pdf")
    assert document.format == "pdf"
    assert document.title == "report"  # reportlab's placeholder title "untitled" is not a title
    assert blocks(document) == [
        ("", "First paragraph line one\ncontinues here."),
        ("", "Second paragraph."),
        ("", "- item one"),
        ("", "- item two"),
    ]


def test_pdf_metadata_title(tmp_path: Path) -> None:
    pdf = canvas.Canvas(str(tmp_path / "t.pdf"))
    pdf.setTitle("Annual Report")
    pdf.drawString(72, 700, "Hello.")
    pdf.save()
    document = extract_document(tmp_path / "t.pdf", "t.pdf")
    assert document.title == "Annual Report"
    assert blocks(document) == [("", "Hello.")]


def test_pdf_japanese_lines_are_joined(tmp_path: Path) -> None:
    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    lines = ["経費の申請は月末までに行い、領収", "書を添付してください。", "・交通費", "・宿泊費"]
    document = extract_document(make_pdf(tmp_path / "ja.pdf", [lines], font="HeiseiKakuGo-W5"), "ja.pdf")
    assert [text for _, text in blocks(document)] == [
        "経費の申請は月末までに行い、領収書を添付してください。",
        "・交通費",
        "・宿泊費",
    ]


def test_join_cjk_lines() -> None:
    assert join_cjk_lines("日本語の\n  文章") == "日本語の文章"
    assert join_cjk_lines("English\nwords") == "English\nwords"
    assert join_cjk_lines("日本\nEnglish") == "日本\nEnglish"


def test_encrypted_pdf_with_password(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "secret.pdf", [["Top secret."]], encrypt="pw")
    with pytest.raises(ExtractionError, match="password"):
        extract_document(path, "secret.pdf")


def test_encrypted_pdf_with_empty_user_password_opens(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Readable text."]])
    writer = pypdf.PdfWriter(clone_from=plain)
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    writer.write(tmp_path / "restricted.pdf")
    document = extract_document(tmp_path / "restricted.pdf", "restricted.pdf")
    assert blocks(document) == [("", "Readable text.")]


@pytest.mark.parametrize("content", [b"", b"%PDF-1.4\nnot really a pdf", b"hello"])
def test_corrupt_pdf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(ExtractionError, match="corrupt PDF"):
        extract_document(path, "broken.pdf")


def test_pdf_without_text(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [[]])
    with pytest.raises(ExtractionError, match="no text could be extracted"):
        extract_document(path, "scan.pdf")
