"""Encoding detection: Japanese files decode exactly, and nothing decodes into silent garbage."""

from __future__ import annotations

import io
import math
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from search.errors import UndecodableError
from search.ingest.decode import ENCODINGS, codec_for_charset, decode_as, decode_text

SAMPLES = Path(__file__).parent / "fixtures" / "encodings"
EXPECTED = (SAMPLES / "expected.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("sample_utf8.txt", "utf-8"),
        ("sample_utf8_bom.txt", "utf-8-sig"),
        ("sample_sjis.txt", "cp932"),
        ("sample_eucjp.txt", "euc_jp"),
        ("sample_utf16_bom.txt", "utf-16"),
    ],
)
def test_samples_decode_exactly(name: str, encoding: str) -> None:
    text, detected = decode_text((SAMPLES / name).read_bytes())
    assert detected == encoding
    assert text == EXPECTED
    assert not text.startswith("\ufeff")


def test_reported_encodings_are_the_documented_ones() -> None:
    assert set(ENCODINGS) == {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "iso2022_jp", "cp932", "euc_jp"}


def test_empty_bytes() -> None:
    assert decode_text(b"") == ("", "utf-8")


def test_iso2022_jp() -> None:
    text = "梅雨は、北海道と小笠原諸島を除く日本の大部分で見られる。\n"
    assert decode_text(text.encode("iso2022_jp")) == (text, "iso2022_jp")


def test_utf16_big_endian_with_bom() -> None:
    assert decode_text("\ufeff梅雨の時期".encode("utf-16-be")) == ("梅雨の時期", "utf-16")


def test_cp932_only_characters() -> None:
    # shift_jis cannot encode these; a decoder that tries shift_jis instead of cp932 fails on them.
    text = "①申請書は㈱総務部へ提出～"
    with pytest.raises(UnicodeEncodeError):
        text.encode("shift_jis")
    assert decode_text(text.encode("cp932")) == (text, "cp932")


@pytest.mark.parametrize("text", ["梅雨", "あ", "社内規程", "こんにちは。"])
def test_short_euc_jp(text: str) -> None:
    # Short EUC-JP often also decodes as CP932 (as halfwidth katakana); the Japanese-looking reading wins.
    assert decode_text(text.encode("euc_jp")) == (text, "euc_jp")


@pytest.mark.parametrize("text", ["梅雨", "あ", "社", "テスト"])
def test_short_cp932(text: str) -> None:
    assert decode_text(text.encode("cp932")) == (text, "cp932")


def test_newlines_are_normalized() -> None:
    data = "一行目\r\n二行目\r三行目\n".encode("cp932")
    assert decode_text(data) == ("一行目\n二行目\n三行目\n", "cp932")


def test_binary_with_nul_bytes() -> None:
    with pytest.raises(UndecodableError, match="binary"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_binary_with_many_control_characters() -> None:
    with pytest.raises(UndecodableError, match="binary"):
        decode_text(bytes(range(1, 32)) * 4 + b"text")


def test_a_few_control_characters_are_still_text() -> None:
    text = "改ページ\f次のページの本文です。"
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")


def test_undecodable_bytes() -> None:
    # Invalid as UTF-8, and lead bytes without valid trail bytes in both CP932 and EUC-JP.
    with pytest.raises(UndecodableError, match="re-save"):
        decode_text(b"abc\xe9\x20\xff\x81\x20\x8e\x20")


def test_latin1_is_not_guessed() -> None:
    with pytest.raises(UndecodableError):
        decode_text("Café crème, naïve façade".encode("latin-1"))


def test_cp932_private_use_garbage_is_rejected() -> None:
    # CP932 maps these lone bytes to U+F8F0..U+F8F3 (private use): it "decodes", but it is not text.
    with pytest.raises(UndecodableError, match="private-use"):
        decode_text(b"\xa0\xfd\xfe\xff\xa0\xfd")


UTF16_TEXTS = {
    "english": "Password reset\r\nOpen the portal and choose Reset.\r\n",
    "japanese": "第1条　この規則は、従業員の就業に関し必要な事項を定める。\r\n梅雨は六月から七月です。\r\n",
    "kanji list": "東京都千代田区\n大阪府大阪市北区\n愛知県名古屋市中区\n",
    "names": "田中\n山田\n",  # 田 read in the wrong byte order is the kana ふ
    "short": "OK",
}


@pytest.mark.parametrize("name", UTF16_TEXTS)
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(name: str, encoding: str) -> None:
    # The README lists UTF-16; files saved without a BOM were refused as binary because of their NULs.
    text = UTF16_TEXTS[name]
    assert decode_text(text.encode(encoding)) == (text.replace("\r\n", "\n"), encoding)


def test_utf16_without_bom_or_ascii_is_not_guessed() -> None:
    # Japanese-only UTF-16 has no NULs, and a few such bytes are as valid CP932 or EUC-JP: without a BOM
    # or ASCII characters (a line break is enough) it cannot be told apart, so it is not called UTF-16.
    data = "梅雨の時期".encode("utf-16-le")
    with pytest.raises(UndecodableError, match="UTF-16 \\(with a BOM or line breaks\\)"):
        decode_text(data)


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "本文です。" * 50)
    return buffer.getvalue()


BINARY = {
    "random bytes": random.Random(14).randbytes(4096),
    "zip archive": zip_archive(),
    "zlib stream": zlib.compress("梅雨の時期です。".encode() * 40),
    "little-endian integers": struct.pack("<256i", *range(0, 25600, 100)),
    "16-bit samples": struct.pack("<512h", *(int(3000 * math.sin(i / 7)) for i in range(512))),
    "utf-32 without BOM": "plain ASCII text\n".encode("utf-32-le"),
    "utf-8 padded with NULs": "本文です。".encode() + b"\x00" * 17,
}


@pytest.mark.parametrize("name", BINARY)
def test_binary_with_nul_bytes_is_not_taken_for_utf16(name: str) -> None:
    with pytest.raises(UndecodableError, match="binary"):
        decode_text(BINARY[name])


def test_bom_that_lies_is_an_error() -> None:
    with pytest.raises(UndecodableError, match="byte-order mark"):
        decode_text(b"\xef\xbb\xbf\xff\xfe\xfd" + "本文".encode("cp932"))


def test_utf32_is_refused_with_a_reason() -> None:
    with pytest.raises(UndecodableError, match="UTF-32"):
        decode_text("本文".encode("utf-32"))


def test_declared_charset() -> None:
    assert codec_for_charset("Shift_JIS") == "cp932"
    assert codec_for_charset("windows-31j") == "cp932"
    assert codec_for_charset(" EUC-JP ") == "euc_jp"
    assert codec_for_charset("iso-8859-1") is None
    assert decode_as("①\r\n㈱".encode("cp932"), "cp932") == "①\n㈱"
    with pytest.raises(UndecodableError, match="declares charset"):
        decode_as("本文".encode(), "euc_jp")
