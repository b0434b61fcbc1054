"""Turn one file (txt, md, html, pdf, docx) into a Document: plain text plus body blocks with offsets.

Every format ends in the same shape so the chunker never needs to know where text came from: headings
become the heading path of the blocks below them, and each block's offsets index `Document.text` exactly,
which is what makes citations point at the right characters. Bad files raise ExtractionError with a reason
a user can act on; the build reports it and carries on with the other files.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pypdf
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.exceptions import PackageNotFoundError
from docx.styles.style import BaseStyle, ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree
from pypdf.errors import DependencyError, PyPdfError

from search.documents import Block, Document
from search.errors import ExtractionError
from search.ingest.deadline import Deadline, deadline_or_never
from search.ingest.decode import codec_for_charset, decode_as, decode_text
from search.text.language import FULLWIDTH_FORMS, JAPANESE_LETTERS, JAPANESE_PUNCTUATION

SUPPORTED_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

HEADING_SEPARATOR = " > "
BLOCK_SEPARATOR = "\n\n"

# Characters between which a line break is layout, not content: Japanese is written without spaces,
# so a break there (PDF line wrap, HTML source formatting) would cut a word or sentence in two.
_CJK = f"[{JAPANESE_LETTERS}{JAPANESE_PUNCTUATION}{FULLWIDTH_FORMS}]"
_CJK_LINE_BREAK = re.compile(rf"(?<={_CJK})[ \t]*\n[ \t]*(?={_CJK})")


def extract_document(path: Path, rel_path: str, deadline: Deadline | None = None) -> Document:
    """Extract `path`; `rel_path` (POSIX, relative to the indexed folder) becomes `Document.path`."""
    _format_of(path)  # an unsupported format fails before the file is read
    return extract_bytes(_read_bytes(path), path.name, rel_path, deadline)


def extract_bytes(data: bytes, name: str, rel_path: str, deadline: Deadline | None = None) -> Document:
    """Extract a file's bytes already read; `name` (the file name) gives the format and the fallback title.

    The build reads each file once and hashes and extracts the same bytes, so a file rewritten meanwhile
    can never be stored with the hash of one version and the text of another. With a `deadline`, a file
    that takes longer than its budget raises ExtractionError instead of stalling the build: our loops
    check it per line, block, page or paragraph, and the third-party parsers run under
    `Deadline.interrupting()` (see search/ingest/deadline.py for what that can and cannot interrupt).
    """
    path = Path(name)
    extractor = _EXTRACTORS[_format_of(path)]
    deadline = deadline_or_never(deadline)
    with deadline.interrupting():
        return extractor(data, path.stem, rel_path, deadline)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    fmt = SUPPORTED_FORMATS.get(suffix)
    if fmt is None:
        raise ExtractionError(f"unsupported format {suffix or '(no file extension)'}")
    return fmt


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from exc


# --- shared structure helpers -------------------------------------------------------------------


class HeadingPath:
    """The chain of headings above the current position; a heading closes all at its level or deeper."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    @property
    def path(self) -> str:
        return HEADING_SEPARATOR.join(text for _, text in self._stack)


@dataclass
class TextBuilder:
    """Builds `Document.text` from pieces extracted out of a structured format, recording block offsets.

    Headings go into the text (they are readable context in a citation) but are not blocks.
    """

    blocks: list[Block] = field(default_factory=list, init=False)
    _parts: list[str] = field(default_factory=list, init=False)
    _length: int = field(default=0, init=False)

    def add_heading(self, text: str) -> None:
        self._append(text.strip())

    def add_block(self, text: str, heading: str) -> None:
        text = text.strip()
        start = self._append(text)
        if start is not None:
            self.blocks.append(Block(start, start + len(text), heading))

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def _append(self, text: str) -> int | None:
        if not text:
            return None
        if self._parts:
            self._parts.append(BLOCK_SEPARATOR)
            self._length += len(BLOCK_SEPARATOR)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start


def stripped_block(text: str, start: int, end: int, heading: str) -> Block | None:
    """A block over `text[start:end]` without surrounding whitespace, or None if it is blank."""
    segment = text[start:end]
    stripped = segment.strip()
    if not stripped:
        return None
    lead = len(segment) - len(segment.lstrip())
    return Block(start + lead, start + lead + len(stripped), heading)


def join_cjk_lines(text: str) -> str:
    """Remove line breaks between two Japanese characters, where they only come from layout."""
    return _CJK_LINE_BREAK.sub("", text)


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # excluding the newline
    content: str


def _lines(text: str, start: int = 0) -> Iterator[_Line]:
    position = start
    while position < len(text):
        newline = text.find("\n", position)
        end = len(text) if newline == -1 else newline
        yield _Line(position, end, text[position:end])
        position = end + 1


# --- plain text ---------------------------------------------------------------------------------


def _extract_txt(data: bytes, stem: str, rel_path: str, deadline: Deadline) -> Document:
    text, encoding = decode_text(data)
    return Document(
        path=rel_path,
        title=stem,
        format="txt",
        text=text,
        blocks=list(_paragraph_blocks(text, deadline)),
        encoding=encoding,
    )


# Japanese regulations (規程, 就業規則) and statutes are structured as 第N編 > 第N章 > 第N節 > 第N款 > 第N条, with
# 附則 at the end. In plain text these lines are the only heading structure there is:
# - a division line (編/章/節/款) holds only its label and a short title ("第3章　休暇", "第1章 総則（第1条―第5条）");
# - an article's title is bracketed, on its line ("第20条（年次有給休暇）") or as a caption on the line above
#   ("（目的）" then "第1条　この規則は、…", as in the MHLW model rules and e-Gov statutes);
# - an article line may carry its text ("第1条　この規則は、…"): it enters the heading path and starts a block.
# "第2条において定める…" (no space or bracket after the label) is a sentence citing an article, not an article.
_SPACE = "[ \t\u3000]"
_NUMBER = "[0-9０-９一二三四五六七八九十百千〇]+"
_BRACKETED = r"[（(][^（()）\n]{1,40}[)）]"
_DIVISION_HEADING = re.compile(
    rf"^{_SPACE}*第{_NUMBER}(編|章|節|款)(?:の{_NUMBER})*(?:{_SPACE}*{_BRACKETED}|{_SPACE}+[^。．\n]{{1,30}}?)?{_SPACE}*$"
)
_SUPPLEMENTARY_HEADING = re.compile(rf"^{_SPACE}*[附付]{_SPACE}*則(?:{_SPACE}*{_BRACKETED})?{_SPACE}*$")
_ARTICLE = re.compile(
    rf"^{_SPACE}*(第{_NUMBER}条(?:の{_NUMBER})*)(?:{_SPACE}*(?P<title>{_BRACKETED})(?P<after_title>.*)|(?P<body>(?:{_SPACE}.*)?))$"
)
_CAPTION = re.compile(rf"^{_SPACE}*([（(][^（()）\n]{{1,20}}[)）]){_SPACE}*$")
_LEVELS = {"編": 1, "章": 2, "節": 3, "款": 4, "条": 5}
# A line of only rule characters (━━━━, ＝＝＝, ----) decorates plain text: it separates, it is not content.
_RULE_LINE = re.compile(r"^[ \t\u3000]*[━─═＝=\-－―—_＿*＊~〜・]{3,}[ \t\u3000]*$")


def _paragraph_blocks(text: str, deadline: Deadline) -> Iterator[Block]:
    """Blank-line separated paragraphs (single newlines stay inside a block), under the 編/章/節/款/条 and 附則
    headings above them. Heading-only and rule lines end a paragraph and belong to no block."""
    headings = HeadingPath()
    start: int | None = None
    end = 0
    # The last line if it was a caption such as "（目的）": its text, where it ended, and the paragraph before it.
    caption: tuple[str, int, int | None, int] | None = None

    def flush() -> Iterator[Block]:
        nonlocal start
        if start is not None and (block := stripped_block(text, start, end, headings.path)):
            yield block
        start = None

    for line in _lines(text):
        deadline.check()
        content = line.content
        article = _ARTICLE.match(content)
        division = _DIVISION_HEADING.match(content) or _SUPPLEMENTARY_HEADING.match(content)
        title = article.group("title") if article else None
        if article and not title and caption is not None and caption[1] + 1 == line.start:
            # The caption on the line above is this article's title: take it back out of the paragraph.
            title, _, start, end = caption
        caption = None
        if article or division:
            yield from flush()
            if division:
                level = _LEVELS[division.group(1)] if division.re is _DIVISION_HEADING else 1
                headings.enter(level, content.strip())
                continue
            assert article is not None
            headings.enter(_LEVELS["条"], article.group(1) + (title or ""))
            if not (article.group("after_title") or article.group("body") or "").strip():
                continue  # the article's label alone: its text follows on the next lines
        elif not content.strip() or _RULE_LINE.match(content):
            yield from flush()
            continue
        elif captioned := _CAPTION.match(content):
            caption = (captioned.group(1), line.end, start, end)
        start = line.start if start is None else start
        end = line.end
    yield from flush()


# --- markdown -----------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_TABLE_ROW = re.compile(r"^[ \t]*\|")
_TABLE_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$")


@dataclass
class _FrontMatter:
    title: str | None
    tags: list[str]
    body_start: int  # offset in the text where the Markdown body begins


def _extract_md(data: bytes, stem: str, rel_path: str, deadline: Deadline) -> Document:
    text, encoding = decode_text(data)
    front = _front_matter(text)
    parser = _MarkdownParser(text, deadline)
    parser.parse(front.body_start)
    return Document(
        path=rel_path,
        title=front.title or parser.first_h1 or stem,
        format="md",
        text=text,
        blocks=parser.blocks,
        encoding=encoding,
        tags=front.tags,
    )


def _front_matter(text: str) -> _FrontMatter:
    """`---` … `---` at the very top; without a closing line it is ordinary Markdown."""
    lines = _lines(text)
    first = next(lines, None)
    if first is None or first.content.rstrip() != "---":
        return _FrontMatter(None, [], 0)
    body: list[str] = []
    for line in lines:
        if _FRONT_MATTER_END.match(line.content):
            title, tags = _parse_front_matter(body)
            return _FrontMatter(title, tags, line.end + 1)
        body.append(line.content)
    return _FrontMatter(None, [], 0)


def _parse_front_matter(lines: list[str]) -> tuple[str | None, list[str]]:
    """Only `title:` and `tags:` matter here; a YAML dependency would buy nothing else."""
    title: str | None = None
    tags: list[str] = []
    in_tags = False
    for line in lines:
        item = re.match(r"^[ \t]+-[ \t]*(.*)$|^-[ \t]+(.*)$", line)
        if in_tags and item:
            tags.append(_unquote(item.group(1) if item.group(1) is not None else item.group(2)))
            continue
        in_tags = False
        key, sep, value = line.partition(":")
        if not sep or line[:1].isspace():
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "title":
            title = _unquote(value) or None
        elif key == "tags":
            in_tags = not value
            tags.extend(_inline_tags(value))
    return title, _unique([tag for tag in tags if tag])


def _inline_tags(value: str) -> list[str]:
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [_unquote(part) for part in value.split(",") if part.strip()]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _MarkdownParser:
    """Line-based: enough Markdown to find headings, paragraphs, list items, table rows and fences.

    Inline markup stays in the text (offsets must index the file's text verbatim).
    """

    def __init__(self, text: str, deadline: Deadline) -> None:
        self.text = text
        self._deadline = deadline
        self.blocks: list[Block] = []
        self.first_h1: str | None = None
        self._headings = HeadingPath()
        self._start: int | None = None  # current block's first line
        self._end = 0
        self._plain = False  # current block is an ordinary paragraph (may become a setext heading)
        self._fence: str | None = None  # opening fence marker while inside a fenced code block

    def parse(self, start: int) -> None:
        for line in _lines(self.text, start):
            self._deadline.check()
            self._line(line)
        self._flush()

    def _line(self, line: _Line) -> None:
        content = line.content
        if self._fence is not None:
            self._extend(line)
            if content.strip().startswith(self._fence) and not content.strip().strip(self._fence[0]):
                self._flush()
            return
        if fence := _FENCE.match(content):
            self._flush()
            self._fence = fence.group(1)
            self._extend(line)
        elif heading := _ATX_HEADING.match(content):
            self._flush()
            self._heading(len(heading.group(1)), _ATX_CLOSING.sub("", heading.group(2) or ""))
        elif not content.strip():
            self._flush()
        elif (underline := _SETEXT_UNDERLINE.match(content)) and self._plain and self._start is not None:
            self._setext(self._start, 1 if underline.group(1)[0] == "=" else 2)
        elif _THEMATIC_BREAK.match(content):
            self._flush()
        elif _TABLE_ROW.match(content):
            self._table_row(line)
        elif _LIST_ITEM.match(content):
            self._flush()
            self._extend(line)
        else:
            self._plain = self._plain or self._start is None
            self._extend(line)

    def _extend(self, line: _Line) -> None:
        if self._start is None:
            self._start = line.start
        self._end = line.end

    def _flush(self) -> None:
        if self._start is not None and (
            block := stripped_block(self.text, self._start, self._end, self._headings.path)
        ):
            self.blocks.append(block)
        self._start = None
        self._plain = False
        self._fence = None

    def _table_row(self, line: _Line) -> None:
        self._flush()
        if not _TABLE_DELIMITER.match(line.content):
            self._extend(line)
            self._flush()

    def _setext(self, start: int, level: int) -> None:
        """The paragraph above an `===`/`---` underline was a heading all along, not a block."""
        title = " ".join(self.text[start : self._end].split())
        self._start = None
        self._plain = False
        self._heading(level, title)

    def _heading(self, level: int, title: str) -> None:
        title = title.strip()
        if not title:
            return
        if level == 1 and self.first_h1 is None:
            self.first_h1 = title
        self._headings.enter(level, title)


# --- HTML ---------------------------------------------------------------------------------------

_HTML_DROPPED = (
    "script", "style", "noscript", "template", "nav", "header", "footer",
    "rt", "rp", "svg", "canvas", "iframe", "object", "embed", "select",
)  # fmt: skip
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that end the current run of inline text; everything else is inline.
_HTML_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "form", "hr", "html", "li", "main", "menu", "ol",
    "p", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "ul",
})  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


def _extract_html(data: bytes, stem: str, rel_path: str, deadline: Deadline) -> Document:
    text, encoding = _decode_html(data)
    soup = BeautifulSoup(text, "lxml")
    deadline.check()
    for tag in soup.find_all(list(_HTML_DROPPED)):
        tag.decompose()
    walker = _HtmlWalker(deadline)
    if soup.body is not None:  # no body: nothing but <head>, which holds no body text
        walker.walk(soup.body)
        walker.flush()
    return Document(
        path=rel_path,
        title=_html_title(soup) or stem,
        format="html",
        text=walker.builder.text,
        blocks=walker.builder.blocks,
        encoding=encoding,
    )


def _decode_html(data: bytes) -> tuple[str, str]:
    """A BOM beats a meta charset (as in browsers); a meta charset we support beats detection."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return decode_text(data)
    declared = _META_CHARSET.search(data[:65536])
    codec = codec_for_charset(declared.group(1).decode("ascii")) if declared else None
    if codec is None:
        return decode_text(data)
    return decode_as(data, codec), codec


def _html_title(soup: BeautifulSoup) -> str:
    if soup.title and (title := _inline_text(soup.title)):
        return title
    h1 = soup.find("h1")
    return _inline_text(h1) if isinstance(h1, Tag) else ""


def _normalize_inline(text: str) -> str:
    """HTML whitespace collapses to one space, except a layout line break inside Japanese text."""
    return _HTML_SPACE.sub(" ", join_cjk_lines(text)).strip()


def _is_text(node: object) -> bool:
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _inline_text(tag: Tag) -> str:
    """Text of a whole element on one line (headings, titles, table cells)."""
    parts: list[str] = []
    for node in tag.descendants:
        if _is_text(node):
            parts.append(str(node))
        elif isinstance(node, Tag) and (node.name == "br" or node.name in _HTML_BLOCKS):
            parts.append("\n")
    return _normalize_inline("".join(parts))


class _HtmlWalker:
    """Walks the DOM in document order, turning runs of inline text into blocks."""

    def __init__(self, deadline: Deadline) -> None:
        self.builder = TextBuilder()
        self._deadline = deadline
        self._headings = HeadingPath()
        self._lines: list[list[str]] = [[]]  # current run, split at <br>

    def walk(self, node: Tag) -> None:
        for child in node.children:
            self._visit(child)

    def flush(self) -> None:
        lines = (_normalize_inline("".join(parts)) for parts in self._lines)
        self.builder.add_block("\n".join(line for line in lines if line), self._headings.path)
        self._lines = [[]]

    def _visit(self, node: object) -> None:
        self._deadline.check()
        if _is_text(node):
            self._lines[-1].append(str(node))
        elif not isinstance(node, Tag):
            return
        elif node.name in _HTML_HEADINGS:
            self._heading(node)
        elif node.name == "tr":
            self._row(node)
        elif node.name == "pre":
            self.flush()
            self.builder.add_block(node.get_text(), self._headings.path)
        elif node.name == "br":
            self._lines.append([])
        elif node.name in _HTML_BLOCKS:
            self.flush()
            self.walk(node)
            self.flush()
        else:
            self.walk(node)

    def _heading(self, node: Tag) -> None:
        self.flush()
        title = _inline_text(node)
        if title:
            self._headings.enter(_HTML_HEADINGS[node.name], title)
            self.builder.add_heading(title)

    def _row(self, row: Tag) -> None:
        self.flush()
        cells = (_inline_text(cell) for cell in row.find_all(["td", "th"], recursive=False))
        self.builder.add_block(" | ".join(cell for cell in cells if cell), self._headings.path)


# --- PDF ----------------------------------------------------------------------------------------

# pypdf raises its own errors for most damage, but plain ValueError/KeyError/TypeError/IndexError
# escape from deeper in its parser on malformed objects.
_PDF_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, IndexError)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n")
# Tools write these when the author set no title (reportlab: "untitled"); the file name says more.
_PLACEHOLDER_TITLES = frozenset({"untitled", "無題"})
_SENTENCE_END_LINE = re.compile(r"[。！？!?．.][」』）)】\"”’]*[ \t\u3000]*$")
_LIST_MARKER_LINE = re.compile(r"^[ \t\u3000]*(?:[・•●○■□◆◇▪※①-⑳]|[-*][ \t]|（\d{1,3}）|\(?\d{1,3}[.)）][ \t])")


def _extract_pdf(data: bytes, stem: str, rel_path: str, deadline: Deadline) -> Document:
    reader = _open_pdf(data)
    builder = TextBuilder()
    for page_text in _pdf_page_texts(reader, deadline):
        for paragraph in _pdf_paragraphs(page_text):
            deadline.check()
            builder.add_block(paragraph, "")
    if not builder.blocks:
        raise ExtractionError("no text could be extracted (scanned PDF?)")
    return Document(
        path=rel_path,
        title=_pdf_title(reader) or stem,
        format="pdf",
        text=builder.text,
        blocks=builder.blocks,
    )


def _open_pdf(data: bytes) -> pypdf.PdfReader:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt_without_password(reader)
    except DependencyError as exc:
        raise ExtractionError(
            "PDF is encrypted with AES; reading it needs the 'cryptography' package (pip install cryptography)"
        ) from exc
    except _PDF_ERRORS as exc:
        raise ExtractionError(f"corrupt PDF: {exc}") from exc
    return reader


def _decrypt_without_password(reader: pypdf.PdfReader) -> None:
    """Many PDFs are encrypted only to restrict printing/copying and open with an empty password."""
    if reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise ExtractionError("PDF is password-protected")


def _pdf_page_texts(reader: pypdf.PdfReader, deadline: Deadline) -> Iterator[str]:
    try:
        pages = list(reader.pages)
    except _PDF_ERRORS as exc:
        raise ExtractionError(f"corrupt PDF: cannot read its pages: {exc}") from exc
    for number, page in enumerate(pages, start=1):
        deadline.check()
        yield _pdf_page_text(page, number)


def _pdf_page_text(page: pypdf.PageObject, number: int) -> str:
    try:
        text = page.extract_text()
    except _PDF_ERRORS as exc:
        raise ExtractionError(f"corrupt PDF: cannot read page {number}: {exc}") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pdf_paragraphs(page_text: str) -> Iterator[str]:
    """pypdf gives one line per layout line and rarely blank lines, so a paragraph also ends after a line
    that ends a sentence and before a list item; line breaks between Japanese characters are removed.
    """
    for paragraph in _PARAGRAPH_BREAK.split(page_text):
        for block in _split_pdf_lines(paragraph.split("\n")):
            if text := join_cjk_lines(block).strip():
                yield text


def _split_pdf_lines(lines: list[str]) -> Iterator[str]:
    current: list[str] = []
    for line in lines:
        if current and _LIST_MARKER_LINE.match(line):
            yield "\n".join(current)
            current = []
        current.append(line)
        if _SENTENCE_END_LINE.search(line):
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def _pdf_title(reader: pypdf.PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata else None
    except _PDF_ERRORS:
        return ""  # a damaged info dictionary costs only the title; the stem stands in
    title = title.strip() if isinstance(title, str) else ""
    return "" if title.lower() in _PLACEHOLDER_TITLES else title


# --- DOCX ---------------------------------------------------------------------------------------

_DOCX_ERRORS = (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, etree.XMLSyntaxError)
_DOCX_HEADING = re.compile(r"^(?:heading|見出し)\s*(\d+)$", re.IGNORECASE)


def _extract_docx(data: bytes, stem: str, rel_path: str, deadline: Deadline) -> Document:
    document = _open_docx(data)
    builder = TextBuilder()
    headings = HeadingPath()
    first_heading: str | None = None
    try:
        levels = _DocxHeadingLevels(document)
        for item in document.iter_inner_content():
            deadline.check()
            if isinstance(item, Table):
                _docx_table(item, builder, headings.path, deadline)
                continue
            level = levels.of(item)
            text = item.text.strip()
            if level is None:
                builder.add_block(text, headings.path)
            elif text:
                first_heading = first_heading or (text if level <= 1 else None)
                headings.enter(level, text)
                builder.add_heading(text)
        title = (document.core_properties.title or "").strip()
    except _DOCX_ERRORS as exc:
        raise ExtractionError(f"corrupt DOCX: {exc}") from exc
    return Document(
        path=rel_path,
        title=title or first_heading or stem,
        format="docx",
        text=builder.text,
        blocks=builder.blocks,
    )


def _open_docx(data: bytes) -> DocxDocument:
    try:
        return docx.Document(io.BytesIO(data))
    except _DOCX_ERRORS as exc:
        raise ExtractionError(f"corrupt DOCX: {exc}") from exc


class _DocxHeadingLevels:
    """The heading level of every paragraph style, resolved once per document.

    `Paragraph.style` resolves the style anew for each paragraph, and for a paragraph without a style of
    its own (most of them) python-docx scans every style of the document for the default one: a DOCX with
    thousands of paragraphs and a few hundred styles took minutes (issue #14). The resolution rules are
    python-docx's own (`Styles.get_by_id`): no or an empty style id, an unknown id, or an id whose first
    style is not a paragraph style all mean the default paragraph style (None if there is none).
    """

    def __init__(self, document: DocxDocument) -> None:
        styles = document.styles
        default = styles.default(WD_STYLE_TYPE.PARAGRAPH)
        self._default = _docx_style_level(default) if default is not None else None
        self._levels: dict[str, int | None] = {}
        # The XML elements, not `Styles` iteration: that wraps every style and fails on one without a type.
        for element in styles.element.style_lst:
            style_id = element.styleId
            if style_id and style_id not in self._levels:  # the first style with an id wins, as in python-docx
                is_paragraph = element.type == WD_STYLE_TYPE.PARAGRAPH
                self._levels[style_id] = _docx_style_level(ParagraphStyle(element)) if is_paragraph else self._default

    def of(self, paragraph: Paragraph) -> int | None:
        style_id = paragraph._p.style  # the pStyle id in the paragraph's XML, without resolving the style
        return self._levels.get(style_id, self._default) if style_id else self._default


def _docx_style_level(style: BaseStyle) -> int | None:
    """The Title style sits above Heading 1 (level 0); localized documents may name styles 見出し 1."""
    name = (style.name or "").strip()
    if name.lower() == "title":
        return 0
    match = _DOCX_HEADING.match(name)
    return int(match.group(1)) if match else None


def _docx_table(table: Table, builder: TextBuilder, heading: str, deadline: Deadline) -> None:
    """One block per row; a merged cell appears once per grid column in python-docx, so dedupe it."""
    for row in table.rows:
        deadline.check()
        seen: set[int] = set()
        cells: list[str] = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            if text := " ".join(cell.text.split("\n")).strip():
                cells.append(text)
        builder.add_block(" | ".join(cells), heading)


_EXTRACTORS: dict[str, Callable[[bytes, str, str, Deadline], Document]] = {
    "txt": _extract_txt,
    "md": _extract_md,
    "html": _extract_html,
    "pdf": _extract_pdf,
    "docx": _extract_docx,
}
