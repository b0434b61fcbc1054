"""Shared pieces of the benchmarks: the random-weight sonoisa model, the JSQuAD texts, FLOP counts, peaks.

The model has the exact architecture of `sonoisa/sentence-t5-base-ja-mean-tokens` (REFERENCE §1: a full
T5Model like the real checkpoint, loaded encoder-only) with random weights, because the real weights cannot be
downloaded here and a random model of the same shapes times exactly like the real one. Its tokenizer is a
SentencePiece unigram model trained on the JSQuAD text with T5's special ids, saved in the directory layout that
`T5Tokenizer.from_pretrained` reads. Both are cached in `benchmarks/.cache/` (git-ignored) and rebuilt only when
missing.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_CORPUS = DATA_DIR / "jsquad-retrieval" / "corpus.jsonl"
DEFAULT_DOCS = DATA_DIR / "jsquad-docs" / "docs"
MODEL_NAME = "sonoisa-sentence-t5-base-ja-random"
SPIECE_PIECES = 32000
SEED = 0

# REFERENCE §1: sonoisa/t5-base-japanese v1.0, the base of sentence-t5-base-ja-mean-tokens.
SONOISA_CONFIG: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 768,
    "d_kv": 64,
    "d_ff": 3072,
    "num_layers": 12,
    "num_decoder_layers": 12,
    "num_heads": 12,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "initializer_factor": 1.0,
    "feed_forward_proj": "relu",
    "is_encoder_decoder": True,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
ENCODER_PARAMETERS = 109_628_544  # REFERENCE §1; checked when the model is built


def setup_environment() -> None:
    """Offline and quiet: the benchmarks never reach the hub, and tokenizer threads would fight the model's."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def read_corpus(path: Path) -> list[str]:
    """Passage texts of a BEIR-style corpus.jsonl, in file order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def spread_sample(items: list[str], limit: int | None) -> list[str]:
    """`limit` items spread evenly over the list, so a short run keeps the corpus's length distribution."""
    if limit is None or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def tokenizer_corpus(corpus: Path) -> list[str]:
    """Training text for the tokenizer: JSQuAD paragraphs plus, when present, its questions."""
    texts = read_corpus(corpus)
    queries = corpus.with_name("queries.jsonl")
    if queries.is_file():
        texts += read_corpus(queries)
    return texts


def _train_tokenizer(out_dir: Path, corpus: Path) -> dict[str, Any]:
    """SentencePiece unigram with T5's ids and 100 extra ids, like sonoisa's, trained on JSQuAD by the same
    code that makes the test suite's tokenizers (tests/tiny_models.py).

    JSQuAD is too small for 32,000 distinct pieces; with hard_vocab_limit off SentencePiece stops where the
    text runs out, and the benchmarks report tokens per passage so that tokens/s keeps its meaning.
    """
    import sentencepiece as spm

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from tiny_models import train_sentencepiece

    out_dir.mkdir(parents=True, exist_ok=True)
    text_file = out_dir / "tokenizer_corpus.txt"
    text_file.write_text("\n".join(t.replace("\n", " ") for t in tokenizer_corpus(corpus)), encoding="utf-8")
    spiece = train_sentencepiece(out_dir, vocab_size=SPIECE_PIECES, corpus=text_file)
    text_file.unlink()
    # sentence-transformers' config of the real repo: lower-casing applies, and the encoder reads it.
    (out_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 72, "do_lower_case": True}), encoding="utf-8"
    )
    return {"spiece_pieces": spm.SentencePieceProcessor(model_file=str(spiece)).get_piece_size()}


def ensure_model(corpus: Path = DEFAULT_CORPUS, cache_dir: Path = CACHE_DIR) -> Path:
    """The cached random-weight sonoisa directory (built on first use: ~1 minute, ~0.9 GB on disk)."""
    out_dir = cache_dir / MODEL_NAME
    done = out_dir / "benchmark_model.json"
    if done.is_file():
        return out_dir
    import torch
    from transformers import T5Config, T5Model

    out_dir.mkdir(parents=True, exist_ok=True)
    info = _train_tokenizer(out_dir, corpus)
    torch.manual_seed(SEED)
    model = T5Model(T5Config(**SONOISA_CONFIG))
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    if encoder_params != ENCODER_PARAMETERS:
        raise RuntimeError(f"encoder has {encoder_params} parameters, REFERENCE §1 says {ENCODER_PARAMETERS}")
    model.save_pretrained(out_dir)
    info.update({"encoder_parameters": encoder_params, "seed": SEED, "trained_on": str(corpus)})
    done.write_text(json.dumps(info), encoding="utf-8")
    return out_dir


def model_info(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "benchmark_model.json").read_text(encoding="utf-8"))


# -- FLOPs ---------------------------------------------------------------------------------------------

D_MODEL = SONOISA_CONFIG["d_model"]
INNER = SONOISA_CONFIG["num_heads"] * SONOISA_CONFIG["d_kv"]
LAYERS = SONOISA_CONFIG["num_layers"]
# Per token and layer: q, k, v, o projections (4 * d_model * inner) and the ReLU FFN (2 * d_model * d_ff)
# multiply-adds, 2 FLOPs each.
MATMUL_FLOPS_PER_TOKEN = 2 * LAYERS * (4 * D_MODEL * INNER + 2 * D_MODEL * SONOISA_CONFIG["d_ff"])
FLOP_FORMULA = (
    "per sequence of n tokens: n * 2 * L * (4 * d_model * h * d_kv + 2 * d_model * d_ff) "
    "[= 169.9 MFLOP per token] + L * 4 * n^2 * h * d_kv [QK^T and attention x V]; "
    "L=12, d_model=768, h*d_kv=768, d_ff=3072; embeddings, norms, softmax and bias ignored"
)


def sequence_flops(n: int) -> int:
    """Encoder FLOPs for one sequence of n tokens (see FLOP_FORMULA)."""
    return n * MATMUL_FLOPS_PER_TOKEN + LAYERS * 4 * n * n * INNER


def useful_flops(token_counts: list[int]) -> int:
    """FLOPs the passages need (each at its own length, no padding): the honest numerator for GFLOP/s."""
    return sum(sequence_flops(n) for n in token_counts)


def padded_flops(token_counts: list[int], batch_size: int, sort: bool) -> int:
    """FLOPs a batcher executes when every batch pads to its longest member."""
    counts = sorted(token_counts) if sort else list(token_counts)
    total = 0
    for start in range(0, len(counts), batch_size):
        batch = counts[start : start + batch_size]
        total += len(batch) * sequence_flops(max(batch))
    return total


# -- timing --------------------------------------------------------------------------------------------


def matmul_peak(dtype_name: str, size: int = 2048, seconds: float = 1.5) -> dict[str, float]:
    """GFLOP/s of torch.matmul on two size x size matrices: best and median of timed repeats, by wall time and
    by process CPU time / threads (`best_cpu`: what the cores deliver when this process has them)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.matmul(a, b)  # oneDNN/BLAS set-up outside the timing
    threads = torch.get_num_threads()
    rates: list[float] = []
    cpu_rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        started, cpu = time.perf_counter(), time.process_time()
        torch.matmul(a, b)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rates.append(2 * size**3 / wall / 1e9)
        cpu_rates.append(2 * size**3 / max(cpu / threads, 1e-9) / 1e9)
    return {
        "best": round(max(rates), 1),
        "median": round(statistics.median(rates), 1),
        "best_cpu": round(max(cpu_rates), 1),
        "size": size,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result: dict[str, Any]) -> None:
    """The one JSON object a benchmark prints."""
    print(json.dumps(result, ensure_ascii=False))
