"""The Japanese word-vector leg: a dense leg for machines without a Japanese embedding model.

When the index's model cannot read a Japanese query (the bundled English all-MiniLM-L6-v2), the dense leg is
answered by chiVe word vectors (search.models.word_vectors) instead of weighing nothing. A passage's vector is
the IDF-weighted mean of the vectors of its content-word lemmas, which the keyword leg already stores
(passages_fts.heading_words/body_words), with the corpus's first principal component removed: the direction
every mean of word vectors shares (Arora et al., "A Simple but Tough-to-Beat Baseline for Sentence
Embeddings", 2017). Of a heading only the Japanese words count: a document without headings is titled by its
file name, and `s0` or `faq_01` mean nothing (on JSTS valid they cost .07 MRR@10).

Nothing is encoded at build time and nothing new is stored: the vectors are made from SQLite when a
generation is first searched, so every index with lemmas (format 3) gains the leg without a rebuild, and
document frequencies always describe the current corpus. Dense alone, MRR@10: JSTS valid .742, train .495
(benchmarks/README.md, "Retrieval quality").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from search.models.word_vectors import WordVectors
from search.retrieval import fusion
from search.storage.store import Store
from search.text.language import is_japanese

BUILD_CHUNK = 2000
COMPONENT_MIN_PASSAGES = 500
"""Fewer passages than this keep their common component: estimated from a handful of passages, the "common"
direction is mostly one passage's own, and removing it hides that passage from every query."""


class WordVectorLeg:
    """Passage vectors of one index generation, searchable by a query's lemmas."""

    def __init__(
        self, words: WordVectors, ids: np.ndarray, matrix: np.ndarray, df: Counter[str], component: np.ndarray
    ) -> None:
        self.words = words
        self.ids = ids
        self.matrix = matrix  # (passages, dim), unit rows (zero rows for passages without a known word)
        self._df = df
        self._n = len(ids)
        self._component = component

    @classmethod
    def from_store(cls, words: WordVectors, store: Store) -> WordVectorLeg:
        """The leg for the generation visible in `store`'s current read snapshot."""
        ids: list[int] = []
        bags: list[list[str]] = []
        for pid, heading_words, body_words in store.passage_words():
            ids.append(int(pid))
            heading = [w for w in heading_words.split() if is_japanese(w)]
            bags.append([*heading, *body_words.split()])
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(set(bag))  # every word: keyword coverage weighs words the vectors do not know too
        leg = cls(words, np.asarray(ids, dtype=np.int64), np.zeros((len(ids), words.dim), np.float32), df, np.zeros(0))
        raw = leg._means(bags)
        leg._component = first_component(raw)
        leg.matrix = leg._project(raw)
        return leg

    def _means(self, bags: list[list[str]]) -> np.ndarray:
        """The IDF-weighted sum of each bag's word vectors, one row per bag. Each distinct word is looked up
        and weighed once; the rows are summed with numpy in chunks of BUILD_CHUNK bags, which bounds the
        temporary (words x dim) array: a per-word numpy call made the first search of a 100,000-passage
        index wait seconds."""
        known: dict[str, tuple[int, float]] = {}
        for word in self._df:
            row = self.words.row(word)
            if row is not None:
                known[word] = (row, self.idf(word))
        out = np.zeros((len(bags), self.words.dim), np.float32)
        for start in range(0, len(bags), BUILD_CHUNK):
            at: list[int] = []
            rows: list[int] = []
            weights: list[float] = []
            for index, bag in enumerate(bags[start : start + BUILD_CHUNK], start):
                for word in bag:
                    entry = known.get(word)
                    if entry is not None:
                        at.append(index)
                        rows.append(entry[0])
                        weights.append(entry[1])
            if at:  # `at` ascends: each bag's words are one run of rows, summed by reduceat
                weighted = self.words.vectors[np.asarray(rows)] * np.asarray(weights, np.float32)[:, None]
                bag_indexes, starts = np.unique(np.asarray(at), return_index=True)
                out[bag_indexes] = np.add.reduceat(weighted, starts, axis=0)
        return out

    def idf(self, word: str) -> float:
        """BM25-style smoothed IDF; a word no passage holds weighs like the rarest."""
        return math.log((self._n + 1) / (self._df.get(word, 0) + 1)) + 1.0

    def _mean(self, lemmas: Iterable[str]) -> np.ndarray:
        out = np.zeros(self.words.dim, np.float32)
        for word in lemmas:
            row = self.words.row(word)
            if row is not None:
                out += self.idf(word) * self.words.vectors[row]
        return out

    def _project(self, vectors: np.ndarray) -> np.ndarray:
        """Remove the common component, then scale each row to unit length (zero rows stay zero)."""
        if self._component.size:
            vectors = vectors - np.outer(vectors @ self._component, self._component)
        norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def known(self, lemmas: Sequence[str]) -> list[str]:
        """The lemmas the word vectors know (a query of unknown words has no vector: no dense match)."""
        return [w for w in lemmas if self.words.row(w) is not None]

    def coverage(self, lemmas: Sequence[str], store: Store, passage_ids: Sequence[int]) -> float:
        """fusion.keyword_coverage of the query's lemmas by these passages (the keyword leg's best)."""
        matched = [f"{heading} {body}".split() for heading, body in store.passage_lemmas(passage_ids)]
        return fusion.keyword_coverage(lemmas, matched, self.idf)

    def search(self, lemmas: Sequence[str], depth: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine) best first, for the query's content-word lemmas."""
        known = self.known(lemmas)
        if not known or not self._n:
            return []
        query = self._project(self._mean(known)[None, :])[0]
        if not query.any():
            return []
        scores = self.matrix @ query
        candidates = np.arange(self._n)
        if allowed is not None:
            candidates = candidates[np.isin(self.ids, allowed)]
            scores = scores[candidates]
        take = min(depth, len(candidates))
        if take <= 0:
            return []
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.lexsort((self.ids[candidates[top]], -scores[top]))]
        return [(int(self.ids[candidates[i]]), float(scores[i])) for i in top]


def first_component(vectors: np.ndarray) -> np.ndarray:
    """The unit direction along which the rows vary most (uncentred, as in SIF); empty for fewer than
    COMPONENT_MIN_PASSAGES rows."""
    if len(vectors) < COMPONENT_MIN_PASSAGES:
        return np.zeros(0, np.float32)
    gram = vectors.T.astype(np.float64) @ vectors.astype(np.float64)
    _, eigenvectors = np.linalg.eigh(gram)
    return eigenvectors[:, -1].astype(np.float32)
