"""`indexer eval`: retrieval quality on a BEIR-style dataset, measured end to end.

The corpus goes through the very code that indexes real documents (Markdown extraction, Japanese chunking,
encoding, SQLite + FTS5 + FAISS) and every query through `Searcher.search`, so the figures describe what
users get, not a side path. Each corpus record becomes one Markdown file `# {title}` + text: the title is
then the heading of every passage of the record, which both legs index as context (JSQuAD is meant to be
indexed as title + text; 125 of its questions are answerable from the title only).

Passages are mapped back to corpus ids by document path; a document counts once, at the rank of its best
passage (BEIR scores documents, not passages).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError
from search.evaluation import metrics
from search.ingest.build import BuildOptions, build_index
from search.ingest.chunk import ChunkSettings
from search.models.spec import EncoderSpec
from search.retrieval.results import SearchResult
from search.retrieval.searcher import MODES, Searcher
from search.text import keyword

CORPUS_FILE, QUERIES_FILE, QRELS_FILE = "corpus.jsonl", "queries.jsonl", "qrels.tsv"
STAGING_DIR = "corpus"  # inside the index folder: the corpus written out as documents
MARKER = "indexer-eval.json"  # says a folder was made by `indexer eval`, so it may be rewritten
# Passages asked for per query. Several passages can come from one document, and Recall@20 needs 20
# distinct documents: on JSQuAD with 64-token chunks (~1.9 passages per paragraph) 100 passages always hold
# more than 20 documents. Fewer distinct documents only happen when a leg has fewer candidates at all.
PASSAGE_DEPTH = 100
# (name, function, cut-off) in the order they are reported.
METRICS: tuple[tuple[str, Callable[[Sequence[str], dict[str, float], int], float], int], ...] = (
    ("recall@1", metrics.recall_at_k, 1),
    ("recall@5", metrics.recall_at_k, 5),
    ("recall@10", metrics.recall_at_k, 10),
    ("recall@20", metrics.recall_at_k, 20),
    ("mrr@10", metrics.mrr_at_k, 10),
    ("ndcg@10", metrics.ndcg_at_k, 10),
)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")


@dataclass
class BeirDataset:
    """A BEIR dataset in memory; `queries` holds only the queries that have a relevant document."""

    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: list[tuple[str, str]]  # (id, text), in file order
    qrels: dict[str, dict[str, float]]  # query id -> corpus id -> judgment


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise SearchError(f"{path} is missing: a BEIR dataset folder holds {CORPUS_FILE}, {QUERIES_FILE}, {QRELS_FILE}")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SearchError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
            if not isinstance(record, dict) or ("_id" not in record and "id" not in record):
                raise SearchError(f'{path}:{number}: expected an object with an "id" (or BEIR\'s "_id")')
            yield number, record


def _record_id(record: dict[str, Any]) -> str:
    return str(record["id"] if "id" in record else record["_id"])


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """`query-id<TAB>corpus-id<TAB>score`, the BEIR header line optional."""
    if not path.is_file():
        raise SearchError(f"{path} is missing: a BEIR dataset folder holds {CORPUS_FILE}, {QUERIES_FILE}, {QRELS_FILE}")
    qrels: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip() or (number == 1 and fields[:1] == ["query-id"]):
                continue
            if len(fields) != 3:
                raise SearchError(f"{path}:{number}: expected query-id, corpus-id and score separated by tabs")
            try:
                score = float(fields[2])
            except ValueError as exc:
                raise SearchError(f"{path}:{number}: score '{fields[2]}' is not a number") from exc
            qrels.setdefault(fields[0], {})[fields[1]] = score
    return qrels


def load_beir(dataset_dir: Path, limit: int | None = None) -> BeirDataset:
    """Read a BEIR folder. Queries without a relevant (> 0) judgment are left out, as BEIR's evaluation
    does; `limit` keeps the first N remaining queries in file order (the corpus is always complete)."""
    if not dataset_dir.is_dir():
        raise SearchError(f"{dataset_dir} is not a folder: give a BEIR dataset folder ({CORPUS_FILE}, ...)")
    corpus = {
        _record_id(r): (str(r.get("title") or ""), str(r.get("text") or ""))
        for _, r in _jsonl(dataset_dir / CORPUS_FILE)
    }
    qrels = read_qrels(dataset_dir / QRELS_FILE)
    queries: list[tuple[str, str]] = []
    for _, record in _jsonl(dataset_dir / QUERIES_FILE):
        query_id = _record_id(record)
        if metrics.relevant_ids(qrels.get(query_id, {})):
            queries.append((query_id, str(record.get("text") or "")))
        if limit is not None and len(queries) >= limit:
            break
    if not queries:
        raise SearchError(f"{dataset_dir}: no query in {QUERIES_FILE} has a relevant document in {QRELS_FILE}")
    return BeirDataset(dataset_dir.resolve().name, corpus, queries, {q: qrels[q] for q, _ in queries})


def stage_corpus(corpus: dict[str, tuple[str, str]], folder: Path) -> dict[str, str]:
    """Write each record as `<id>.md` (`# title`, blank line, text); returns {relative path: corpus id}.

    Files whose content is already right are left alone, so a re-run into the same `--index` is an
    incremental no-op build; files of records no longer in the corpus are removed. Ids that are not safe
    file names (or clash when case is ignored) get a numbered name instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    taken: set[str] = set()
    for ordinal, (doc_id, (title, text)) in enumerate(corpus.items()):
        stem = doc_id if _SAFE_NAME.fullmatch(doc_id) and doc_id.lower() not in taken else f"doc-{ordinal:07d}"
        taken.add(stem.lower())
        name = f"{stem}.md"
        content = f"# {title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"
        target = folder / name
        if not target.is_file() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
        paths[name] = doc_id
    for stale in folder.iterdir():
        if stale.name not in paths and stale.is_file():
            stale.unlink()
    return paths


def claim_index_dir(index_dir: Path) -> Path:
    """A given `--index` must be new, empty or an earlier evaluation's: the staged corpus replaces whatever
    the folder's `corpus/` held and the build drops every other document, so a real index (or a folder of
    the user's files) must never be taken by mistake."""
    marker = index_dir / MARKER
    taken = index_dir.exists() and (not index_dir.is_dir() or any(index_dir.iterdir()))
    if taken and not marker.is_file():
        raise SearchError(
            f"the evaluation index folder {index_dir} is not empty and was not made by an evaluation: "
            "give a new or empty folder"
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"made_by": "indexer eval"}) + "\n", encoding="utf-8")
    return index_dir


def document_ranking(result: SearchResult, path_to_id: dict[str, str]) -> list[str]:
    """Corpus ids in rank order, each at the rank of its first (best) passage."""
    return list(dict.fromkeys(path_to_id[hit.path] for hit in result.hits if hit.path in path_to_id))


def score_rankings(rankings: Sequence[Sequence[str]], qrels: Sequence[dict[str, float]]) -> dict[str, float]:
    """Every reported metric, averaged over queries."""
    return {
        name: round(metrics.mean(fn(ranking, judged, k) for ranking, judged in zip(rankings, qrels, strict=True)), 4)
        for name, fn, k in METRICS
    }


def evaluate_dataset(
    dataset_dir: Path,
    model: str,
    modes: Sequence[str] = MODES,
    index_dir: Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    chunk: ChunkSettings | None = None,
    max_length: int = 128,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, Any]:
    """Index the corpus, run every query in every mode, and return the report (see `indexer eval`).

    Without `index_dir` everything happens in a temporary folder that is removed afterwards, whatever
    happens; with it, the index (and the staged corpus under `<index>/corpus`) stays for inspection and a
    second run reuses the stored embeddings.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise SearchError(f"Unknown evaluation mode {unknown}: use any of {', '.join(MODES)}")
    if limit is not None and limit < 1:
        raise SearchError(f"limit must be at least 1, got {limit}")
    dataset = load_beir(dataset_dir, limit)
    chunk = chunk or ChunkSettings()
    spec = EncoderSpec(model, max_length=max_length, device=device, precision=precision, batch_size=batch_size)
    temporary = index_dir is None
    root = Path(tempfile.mkdtemp(prefix="indexer-eval-")) if index_dir is None else claim_index_dir(index_dir)
    try:
        path_to_id = stage_corpus(dataset.corpus, root / STAGING_DIR)
        summary = build_index(root, spec, BuildOptions(docs_dir=root / STAGING_DIR, chunk=chunk, progress=progress))
        if summary.files_failed:
            failed = ", ".join(f"{f['path']} ({f['reason']})" for f in summary.files_failed[:3])
            raise SearchError(f"{len(summary.files_failed)} corpus records could not be indexed: {failed}")
        report = _search_all(dataset, root, spec.get(), modes, path_to_id, progress)
        report["seconds"] = {"index": round(summary.seconds, 3), **report["seconds"]}
        searcher_counts = report.pop("counts")
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "dataset": dataset.name,
        "queries": len(dataset.queries),
        "model": model,
        "documents": len(dataset.corpus),
        "passages": searcher_counts["passages"],
        "chunk": chunk.as_dict(),
        "modes": report["modes"],
        "reference": report["reference"],
        "seconds": report["seconds"],
    }


def _search_all(
    dataset: BeirDataset,
    index_dir: Path,
    encoder: Any,
    modes: Sequence[str],
    path_to_id: dict[str, str],
    progress: bool,
) -> dict[str, Any]:
    """Encode the queries once, in batches, then search them in each mode."""
    from tqdm import tqdm

    texts = [text for _, text in dataset.queries]
    judged = [dataset.qrels[query_id] for query_id, _ in dataset.queries]
    started = time.perf_counter()
    vectors: Sequence[np.ndarray | None] = [None] * len(texts)
    if any(mode != "keyword" for mode in modes):
        vectors = list(encoder.encode(texts))
    seconds: dict[str, Any] = {"encode": round(time.perf_counter() - started, 3), "search": {}}
    searcher = Searcher(index_dir, encoder=encoder)
    results: dict[str, dict[str, float]] = {}
    try:
        counts = searcher.store.counts()
        for mode in modes:
            started = time.perf_counter()
            rankings = [
                document_ranking(searcher.search(text, k=PASSAGE_DEPTH, mode=mode, query_vector=vector), path_to_id)
                for text, vector in tqdm(
                    list(zip(texts, vectors, strict=True)),
                    desc=mode,
                    unit=" queries",
                    disable=not progress,
                    leave=False,
                )
            ]
            seconds["search"][mode] = round(time.perf_counter() - started, 3)
            results[mode] = score_rankings(rankings, judged)
        reference = score_rankings([plain_bigram_ranking(searcher, text, path_to_id) for text in texts], judged)
    finally:
        searcher.close()
    return {"modes": results, "reference": {REFERENCE: reference}, "seconds": seconds, "counts": counts}


REFERENCE = "plain_bigram_bm25"
"""The baseline every report carries, measured on the same index and queries: BM25 over the character bigrams
of the whole query (particles and endings included) in the heading and text columns, without lemmas,
synonyms or vectors: the keyword leg as it was before it knew Japanese words."""


def plain_bigram_ranking(searcher: Searcher, text: str, path_to_id: dict[str, str]) -> list[str]:
    expression = keyword.match_expression(keyword.tokens(text), [])
    if expression is None:
        return []
    store = searcher.store
    passages = store.keyword_search(expression, PASSAGE_DEPTH)
    rows = store.passage_rows([pid for pid, _ in passages])
    paths = [rows[pid]["path"] for pid, _ in passages]
    return list(dict.fromkeys(path_to_id[path] for path in paths if path in path_to_id))


def format_report(report: dict[str, Any]) -> str:
    """A small table for people; `--json` gives the same figures to programs."""
    names = [name for name, _, _ in METRICS]
    lines = [
        f"Dataset {report['dataset']}: {report['queries']} queries, {report['documents']} documents "
        f"({report['passages']} passages, chunks of {report['chunk']['max_tokens']} tokens), model {report['model']}",
        "",
        f"{'mode':<8}" + "".join(f"{name:>10}" for name in names) + f"{'search s':>10}",
    ]
    for mode, values in report["modes"].items():
        lines.append(
            f"{mode:<8}"
            + "".join(f"{values[name]:>10.4f}" for name in names)
            + f"{report['seconds']['search'][mode]:>10.2f}"
        )
    for name, values in report.get("reference", {}).items():
        lines.append(f"{'(reference) ' + name}: " + ", ".join(f"{k} {values[k]:.4f}" for k in names))
    seconds = report["seconds"]
    lines += ["", f"Seconds: index {seconds['index']:.2f}, query encoding {seconds['encode']:.2f}"]
    return "\n".join(lines)
