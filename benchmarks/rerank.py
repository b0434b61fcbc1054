"""Latency the optional reranker adds to a search, by how many results it re-scores.

The real `hotchpotch/japanese-reranker-cross-encoder-small-v1` cannot be downloaded here, so this times a
random-weight cross-encoder of the shape of that family's small model (XLM-RoBERTa: 12 layers, hidden 384,
12 heads, feed-forward 1536, one output; weights do not change the time) through the product's own
`search.models.reranker.Reranker`, on JSQuAD paragraphs against JSQuAD questions. Its tokenizer is the
benchmarks' SentencePiece model (common.py), which gives ~2.3 characters per token on this text; the JSON
records the tokens per pair. The reference, measured in the same run: encoding one query with the
benchmark's random-weight sonoisa encoder, which every hybrid search already pays.

    python benchmarks/rerank.py --depths 5,10,20 --repeats 10
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helper sits beside them

common.setup_environment()

import torch  # noqa: E402

from search.models.cpu import this_cpu  # noqa: E402
from search.models.encoder import Encoder  # noqa: E402
from search.models.reranker import Reranker  # noqa: E402

RERANKER_SHAPE = {
    "vocab_size": 32000,  # the real one has 250,002 entries: only the embedding lookup, not the time, depends on it
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "num_labels": 1,
}


def ensure_reranker(tokenizer_from: Path) -> Path:
    """The cached random-weight cross-encoder (built on first use, a few seconds)."""
    out_dir = common.CACHE_DIR / "reranker-small-random"
    if (out_dir / "config.json").is_file():
        return out_dir
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(common.SEED)
    XLMRobertaForSequenceClassification(XLMRobertaConfig(**RERANKER_SHAPE)).save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(out_dir)
    return out_dir


def p50_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first-call allocations
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(1000 * common.percentile(times, 50), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="BEIR corpus.jsonl (JSQuAD)")
    parser.add_argument("--depths", default="5,10,20", help="results re-scored per search")
    parser.add_argument("--repeats", type=int, default=10, help="timed searches per depth")
    args = parser.parse_args()
    sonoisa = common.ensure_model(args.corpus)
    model_dir = ensure_reranker(sonoisa)
    passages = common.spread_sample(common.read_corpus(args.corpus), 64)
    questions = common.read_corpus(args.corpus.with_name("queries.jsonl"))[:1]
    query = questions[0]
    reranker = Reranker(str(model_dir), device="cpu")
    reranker.load()
    encoder = Encoder(str(sonoisa), device="cpu", precision="fp32")
    tokens = [len(reranker._tokenizer(query, passage)["input_ids"]) for passage in passages[:20]]
    result = {
        "benchmark": "rerank",
        "cpu": this_cpu().as_dict(),
        "threads": torch.get_num_threads(),
        "model": "random-weight cross-encoder of the small Japanese reranker's shape (XLM-RoBERTa)",
        "shape": RERANKER_SHAPE,
        "tokens_per_pair_mean": round(sum(tokens) / len(tokens), 1),
        "reference": {"query_encoding_p50_ms": p50_ms(lambda: encoder.encode_query(query), args.repeats)},
        "rerank_p50_ms": {
            depth: p50_ms(lambda depth=depth: reranker.score(query, passages[:depth]), args.repeats)
            for depth in map(int, args.depths.split(","))
        },
    }
    common.emit(result)


if __name__ == "__main__":
    main()
