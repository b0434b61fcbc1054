"""Decode plain-text bytes from Japanese in-house files without guessing wrong silently.

Peers decode with `errors="ignore"` or end on latin-1 and index mojibake. Here a file either decodes
strictly as one of a few known encodings, or it is reported as undecodable with a reason the user can act
on. The detection order follows what works on short Japanese files (REFERENCE §3): BOM, UTF-16 without a
BOM (recognised by the NUL bytes of its ASCII characters), ISO-2022-JP escapes, strict UTF-8, then CP932 vs
EUC-JP scored by how Japanese the result looks.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from search.errors import UndecodableError

# What `decode_text` can report; callers store it and show it to users.
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "iso2022_jp", "cp932", "euc_jp")

# Shift_JIS labels all map to cp932: plain `shift_jis` fails on ① and other everyday Windows characters.
_CHARSET_LABELS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "ms932": "cp932",
    "cp932": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "euc-jp": "euc_jp",
    "euc_jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "iso-2022-jp": "iso2022_jp",
    "csiso2022jp": "iso2022_jp",
}

_ISO2022_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(B", b"\x1b(J")
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# A text file may hold a few stray control characters (form feeds, a DOS end-of-file marker);
# when more than this share of the characters are controls, it is not text.
_MAX_CONTROL_SHARE = 0.10
# CP932 maps a few lone bytes to private-use and C1 code points, so random bytes can "decode".
# Real Japanese text (even with some gaiji) never has this many of them.
_MAX_SUSPICIOUS_SHARE = 0.25
# C0/C1 control characters (Unicode category Cc) except tab, newlines, vertical tab and form feed.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# UTF-16 without a BOM (Windows tools, "Unicode" in old Notepad, exports) is recognised by decoding both byte
# orders strictly. The right one reads partly as ASCII and kana (the NULs in the file are the high bytes of
# its ASCII characters) and holds almost no unassigned, private-use or control characters; the wrong one
# turns ASCII and kana into CJK ideographs and a line break into an unassigned code point. Random binary
# data that happens to hold NULs is full of such characters in both. Measured on the first characters only,
# so that a large file costs no more than a small one (the whole text is checked for controls later).
_MIN_UTF16_EVIDENCE = 0.05  # share of ASCII text, kana, CJK punctuation and fullwidth characters
_MAX_UTF16_NONTEXT_SHARE = 0.02
_MIN_UTF16_EVIDENCE_RATIO = 2.0  # when both byte orders read as text, one must be clearly more so
_UTF16_SAMPLE_CHARS = 65_536
_UTF16_EVIDENCE = re.compile(r"[\t\n\f\r\x20-\x7e\u3000-\u30ff\uff01-\uff60]")
_NEWLINES = re.compile(r"\r\n?")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a plain-text file; returns (text with `\\n` newlines, encoding name from `ENCODINGS`).

    Raises UndecodableError for binary data and for bytes that are valid in none of the encodings.
    """
    if not data:
        return "", "utf-8"
    text, encoding = _detect_and_decode(data)
    return _finish(text), encoding


def decode_as(data: bytes, encoding: str) -> str:
    """Decode with an encoding the file declares itself (HTML meta charset), strictly.

    A declaration that does not match the bytes is reported rather than papered over, so the user can
    fix the file instead of searching mojibake.
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UndecodableError(
            f"declares charset {encoding} but is not valid {encoding} (byte {exc.start}); "
            "fix the declaration or re-save the file as UTF-8"
        ) from exc
    return _finish(text)


def codec_for_charset(label: str) -> str | None:
    """Map a charset label as written in files (`Shift_JIS`, `EUC-JP`) to the codec we decode it with.

    Returns None for labels we do not honour, so the caller detects the encoding itself.
    """
    return _CHARSET_LABELS.get(label.strip().lower())


def _detect_and_decode(data: bytes) -> tuple[str, str]:
    if data.startswith(_UTF32_BOMS):
        raise UndecodableError("is UTF-32, which is not supported; re-save the file as UTF-8")
    if data.startswith(_UTF16_BOMS):
        return _decode_bom(data, "utf-16"), "utf-16"
    if b"\x00" in data:
        utf16 = _try_utf16_without_bom(data)
        if utf16 is None:
            raise UndecodableError("looks like binary data")
        return utf16
    if data.startswith(codecs.BOM_UTF8):
        return _decode_bom(data, "utf-8-sig"), "utf-8-sig"
    iso = _try_iso2022_jp(data)
    if iso is not None:
        return iso, "iso2022_jp"
    utf8 = _try_decode(data, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    return _decode_legacy_japanese(data)


def _decode_bom(data: bytes, encoding: str) -> str:
    """A BOM is a promise; bytes that break it are corrupt, not some other encoding."""
    text = _try_decode(data, encoding)
    if text is None:
        raise UndecodableError(f"starts with a {encoding} byte-order mark but is not valid {encoding}")
    return text


def _try_utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """Text and "utf-16-le"/"utf-16-be" when `data` reads as UTF-16 text in one byte order; see _MIN_UTF16_*."""
    if len(data) % 2:
        return None
    readings = [
        (text, encoding, _utf16_evidence(text[:_UTF16_SAMPLE_CHARS]))
        for encoding in ("utf-16-le", "utf-16-be")
        if (text := _try_decode(data, encoding))
        and _nontext_share(text[:_UTF16_SAMPLE_CHARS]) <= _MAX_UTF16_NONTEXT_SHARE
    ]
    readings = [reading for reading in readings if reading[2] >= _MIN_UTF16_EVIDENCE]
    readings.sort(key=lambda reading: reading[2], reverse=True)
    if len(readings) == 2 and readings[0][2] < _MIN_UTF16_EVIDENCE_RATIO * readings[1][2]:
        return None  # both byte orders read as text: too close to call
    return (readings[0][0], readings[0][1]) if readings else None


def _utf16_evidence(text: str) -> float:
    """Share of ASCII text characters, kana, CJK punctuation and fullwidth forms."""
    return _UTF16_EVIDENCE.subn("", text)[1] / len(text)


def _nontext_share(text: str) -> float:
    """Share of controls (other than whitespace), unassigned, private-use and surrogate code points."""
    bad = sum(1 for char in text if unicodedata.category(char) in ("Cn", "Co", "Cs") or _CONTROLS.match(char))
    return bad / len(text)


def _try_iso2022_jp(data: bytes) -> str | None:
    """ISO-2022-JP is 7-bit: escape sequences in 8-bit data (e.g. a terminal log) are not it."""
    if not any(escape in data for escape in _ISO2022_ESCAPES):
        return None
    if not data.isascii():
        return None
    return _try_decode(data, "iso2022_jp")


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _decode_legacy_japanese(data: bytes) -> tuple[str, str]:
    """CP932 and EUC-JP overlap on short texts; keep the decoding that reads most like Japanese."""
    candidates = [
        (text, encoding) for encoding in ("cp932", "euc_jp") if (text := _try_decode(data, encoding)) is not None
    ]
    if not candidates:
        raise UndecodableError(
            "is not valid UTF-8, UTF-16 (with a BOM or line breaks), ISO-2022-JP, Shift_JIS (CP932) or EUC-JP; "
            "re-save it as UTF-8"
        )
    # max() keeps the first of equal scores, so CP932 (the Windows default) wins ties.
    text, encoding = max(candidates, key=lambda candidate: _japanese_score(candidate[0]))
    if _suspicious_share(text) > _MAX_SUSPICIOUS_SHARE:
        raise UndecodableError(
            f"decodes only as {encoding}, and then mostly to unassigned or private-use characters; "
            "it is probably not Japanese text"
        )
    return text, encoding


def _japanese_score(text: str) -> float:
    """Share of non-ASCII characters that are kana/kanji, minus the share that signal a wrong guess.

    EUC-JP bytes read as CP932 turn into halfwidth katakana; CP932 bytes read as EUC-JP turn into
    JIS X 0212 rarities, private-use or C1 characters.
    """
    good = bad = total = 0
    for char in text:
        if char.isascii():
            continue
        total += 1
        if _is_japanese(char):
            good += 1
        if _is_halfwidth_katakana(char) or _is_suspicious(char) or _is_jisx0212(char):
            bad += 1
    return (good - bad) / total if total else 0.0


def _is_japanese(char: str) -> bool:
    code = ord(char)
    return (
        0x3000 <= code <= 0x30FF  # CJK punctuation, hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs (CP932 IBM extensions)
        or 0xFF01 <= code <= 0xFF60  # fullwidth ASCII and brackets
    )


def _is_halfwidth_katakana(char: str) -> bool:
    return 0xFF61 <= ord(char) <= 0xFF9F


def _is_suspicious(char: str) -> bool:
    """Characters that real text almost never holds but a wrong codec produces."""
    category = unicodedata.category(char)
    return category in ("Co", "Cn") or 0x80 <= ord(char) <= 0x9F


def _is_jisx0212(char: str) -> bool:
    """JIS X 0212 (EUC-JP's 3-byte plane) is rare in practice; mojibake lands there easily."""
    try:
        return len(char.encode("euc_jp")) == 3
    except UnicodeEncodeError:
        return False


def _suspicious_share(text: str) -> float:
    non_ascii = [char for char in text if not char.isascii()]
    if not non_ascii:
        return 0.0
    return sum(_is_suspicious(char) for char in non_ascii) / len(non_ascii)


def _finish(text: str) -> str:
    _reject_binary(text)
    return _NEWLINES.sub("\n", text)


def _reject_binary(text: str) -> None:
    if text and len(_CONTROLS.findall(text)) / len(text) > _MAX_CONTROL_SHARE:
        raise UndecodableError("looks like binary data")
