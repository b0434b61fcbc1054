"""A tiny spaCy vocab folder laid out as the `ja-ginza` package ships chiVe, for the word-vector leg's tests.

Words of one group share a row, as in ja_ginza (480,000 words pruned onto 20,000 vectors), so that a test
can say which words mean the same without any real weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import msgpack
import numpy as np

from search.models.word_vectors import spacy_hash


def make_word_vectors(folder: Path, groups: Sequence[Sequence[str]], dim: int = 16, seed: int = 0) -> Path:
    """`folder/meta.json` and `folder/vocab/{vectors,key2row,strings.json}`; one random row per group."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(groups), dim)).astype(np.float32)
    key2row = {spacy_hash(word): row for row, group in enumerate(groups) for word in group}
    strings = [word for group in groups for word in group] + ["a string without a vector"]
    vocab = folder / "vocab"
    vocab.mkdir(parents=True)
    with (vocab / "vectors").open("wb") as f:  # spaCy writes the array without the .npy suffix
        np.save(f, vectors)
    (vocab / "key2row").write_bytes(msgpack.packb(key2row))
    (vocab / "strings.json").write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps({"name": "tiny_vectors", "version": "0.1"}), encoding="utf-8")
    return folder
