"""Japanese word vectors (chiVe) for a dense leg that needs no neural model and no network.

Most first-day and air-gapped machines have no Japanese embedding model: the English all-MiniLM-L6-v2 says
nothing about a Japanese query, so hybrid search was keyword-only there and paraphrases failed. The PyPI
package `ja-ginza` (MIT) ships 20,000 x 300 chiVe word vectors (Works Applications, Apache-2.0) for 480,000
words inside a spaCy pipeline. They are read here straight from the package's files, without importing spaCy:

- `vocab/vectors`: a NumPy array, one row per vector;
- `vocab/key2row`: a msgpack map from spaCy's 64-bit word hash to a row (many words share a row: the
  pipeline pruned 480,000 words onto their nearest of 20,000 vectors);
- `vocab/strings.json`: the words; spaCy's hash is MurmurHash64A (seed 1) of the UTF-8 word.

Turning hashes back into words takes ~2.5 s, so the word table is cached (beside the encoder-backend cache,
$INDEXER_CACHE_DIR) under the files' sizes and times. The words are looked up by the lemmas that
search.text.morphology stores for the keyword leg (normalized unidic dictionary forms), which match chiVe's
Sudachi-normalized vocabulary for most content words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.errors import WordVectorsUnavailableError

log = logging.getLogger(__name__)

PACKAGE = "ja_ginza"
"""The default source: the installed `ja-ginza` package (a dependency of the project)."""
OFF = "off"
INSTALL_HINT = (
    "install the project's dependencies again (pip install -e .), or pip install 'ja-ginza>=5.3,<6' msgpack; "
    "INDEXER_WORD_VECTORS=off turns the word vectors off"
)
FILES = ("vectors", "key2row", "strings.json")
"""The files of a spaCy vocab folder that the word vectors are read from."""
CACHE_FORMAT = 1


_MASK = (1 << 64) - 1
_M = 0xC6A4A7935BD1E995


def spacy_hash(word: str) -> int:
    """spaCy's id of a string: MurmurHash64A of its UTF-8 bytes with seed 1 (murmurhash's hash64)."""
    data = word.encode("utf-8")
    h = (1 ^ ((len(data) * _M) & _MASK)) & _MASK
    blocks = len(data) // 8
    for i in range(blocks):
        k = int.from_bytes(data[8 * i : 8 * i + 8], "little")
        k = (k * _M) & _MASK
        k ^= k >> 47
        k = (k * _M) & _MASK
        h ^= k
        h = (h * _M) & _MASK
    tail = data[8 * blocks :]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 47
    h = (h * _M) & _MASK
    h ^= h >> 47
    return h


@dataclass(frozen=True)
class WordVectors:
    """Unit-length word vectors and the words that map to each row."""

    name: str
    """What answers Japanese queries, for status and responses: e.g. `chiVe word vectors (ja_ginza 5.3.0)`."""
    rows: dict[str, int]
    vectors: np.ndarray  # (rows, dim) float32, each row of length 1 (or 0)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def row(self, word: str) -> int | None:
        return self.rows.get(word)


def installed(package: str = PACKAGE) -> bool:
    """True when the package is importable (found without importing it: ja_ginza's import loads spaCy)."""
    return importlib.util.find_spec(package) is not None


def vocab_dir(source: str) -> Path:
    """The spaCy `vocab/` folder of `source`: an installed package name, a model folder or a vocab folder."""
    path = Path(source).expanduser()
    if not path.exists():
        spec = importlib.util.find_spec(source) if source.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise WordVectorsUnavailableError(
                source, f"it is neither an installed package nor a folder; install it with {INSTALL_HINT}"
            )
        path = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (path, path / "vocab", *sorted(path.glob("*/vocab"))):
        if all((candidate / name).is_file() for name in FILES):
            return candidate
    raise WordVectorsUnavailableError(
        source, f"{path} holds no spaCy vectors (vocab/{', vocab/'.join(FILES)}); {INSTALL_HINT}"
    )


def _package_label(source: str, vocab: Path) -> str:
    meta = vocab.parent / "meta.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WordVectorsUnavailableError(source, f"{meta} cannot be read ({exc})") from exc
    if isinstance(info, dict):
        name = "_".join(str(info[k]) for k in ("lang", "name") if info.get(k)) or Path(source).name
        return f"chiVe word vectors ({name} {info.get('version', '')})".replace(" )", ")")
    return f"word vectors ({Path(source).name})"  # a name, never a path: responses show it


def cache_dir() -> Path:
    """Where the word tables are cached: next to the encoder-backend cache ($INDEXER_CACHE_DIR)."""
    from search.models.backend import cache_path

    return cache_path().parent


def availability(source: str) -> tuple[str | None, str | None]:
    """(label, None) when `source` can answer Japanese queries, else (None, why not and what to do), without
    loading anything: for `indexer status` and /health."""
    if source == OFF:
        return None, "word vectors are off (setting `word_vectors`)"
    try:
        return _package_label(source, vocab_dir(source)), None
    except WordVectorsUnavailableError as exc:
        return None, str(exc)


def _cache_file(vocab: Path) -> Path:
    stamp = "-".join(f"{(vocab / n).stat().st_size}.{(vocab / n).stat().st_mtime_ns}" for n in FILES)
    key = hashlib.sha256(f"{CACHE_FORMAT}|{vocab.resolve()}|{stamp}".encode()).hexdigest()[:24]
    return cache_dir() / "word-vectors" / f"{key}.json"


def _word_rows(source: str, vocab: Path) -> dict[str, int]:
    """Word -> row, from spaCy's hash table and string store (the slow part, cached)."""
    import msgpack

    try:
        key2row = msgpack.unpackb((vocab / "key2row").read_bytes(), strict_map_key=False)
        strings = json.loads((vocab / "strings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, msgpack.UnpackException) as exc:
        raise WordVectorsUnavailableError(source, f"the files in {vocab} cannot be read ({exc})") from exc
    if not isinstance(key2row, dict) or not isinstance(strings, list):
        raise WordVectorsUnavailableError(source, f"{vocab} does not hold a spaCy hash table and string list")
    rows: dict[str, int] = {}
    for word in strings:
        row = key2row.get(spacy_hash(word)) if isinstance(word, str) else None
        if row is not None:
            rows[word] = int(row)
    return rows


def _cached_word_rows(source: str, vocab: Path) -> dict[str, int]:
    """The word table from the cache, else made and cached. A cache that cannot be read is made again; one
    that cannot be written costs the ~2.5 s in every process, not a failure (both are logged)."""
    cache = _cache_file(vocab)
    if cache.is_file():
        try:
            rows = json.loads(cache.read_text(encoding="utf-8"))
            if isinstance(rows, dict):
                return rows
            log.warning("word-vector cache %s holds no word table: making it again", cache)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("word-vector cache %s is unreadable (%s): making it again", cache, exc)
    rows = _word_rows(source, vocab)
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, cache)  # a reader sees the whole file or none
    except OSError as exc:
        log.warning(
            "could not write the word-vector cache %s (%s); set INDEXER_CACHE_DIR to a writable folder", cache, exc
        )
        temporary.unlink(missing_ok=True)
    return rows


def with_lower_case(rows: dict[str, int]) -> dict[str, int]:
    """Also each word in lower case where that is not a word of its own: the stored lemmas are lower-cased
    (search.text.morphology), chiVe writes PC, VPN and IT in capitals."""
    lowered = {word.lower(): row for word, row in rows.items() if word.lower() not in rows}
    return {**lowered, **rows}


_loaded: dict[str, WordVectors] = {}
_lock = threading.Lock()


def load_word_vectors(source: str = PACKAGE) -> WordVectors:
    """The word vectors of `source` (once per process). Raises WordVectorsUnavailableError, saying how to install
    them, when they are not on this machine."""
    with _lock:
        if source in _loaded:
            return _loaded[source]
        vocab = vocab_dir(source)
        if importlib.util.find_spec("msgpack") is None:
            raise WordVectorsUnavailableError(source, f"reading it needs msgpack: {INSTALL_HINT}")
        try:
            vectors = np.load(vocab / "vectors", allow_pickle=False).astype(np.float32, copy=False)
        except (OSError, ValueError) as exc:
            raise WordVectorsUnavailableError(source, f"{vocab / 'vectors'} cannot be read ({exc})") from exc
        if vectors.ndim != 2:
            raise WordVectorsUnavailableError(source, f"{vocab / 'vectors'} is not a matrix")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        rows = {w: r for w, r in _cached_word_rows(source, vocab).items() if 0 <= r < len(vectors)}
        loaded = WordVectors(_package_label(source, vocab), with_lower_case(rows), vectors)
        _loaded[source] = loaded
        return loaded
