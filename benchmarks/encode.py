"""Encode throughput: the project's Encoder versus the model card's reference loop, in the same run.

Prints one JSON object. The reference is sonoisa's model card loop as written there: batches of 8 in input
order, padding="longest", float32, torch.no_grad, mean pooling, on a T5EncoderModel loaded independently of
search.models.encoder. Both sides get the same texts after the project's normalization (NFKC + lower-case, which
the index applies at index and query time), so every difference in the embeddings is numerical.

A second reference, `previous_encoder`, is the project's encoder as it was before these optimizations
(length-sorted batches of 32, the Hugging Face forward pass under bf16 autocast), so before/after compare
within one run too.

This machine is shared and noisy, so each side runs `--repeats` times, interleaved (reference, then every
precision, then again), and two estimates are reported: `best_wall` (the fastest whole run) and
`batch_minimum` (the sum over batches of each batch's fastest time across repeats, the estimate least
disturbed by other processes). Speed-ups and % of peak use `batch_minimum` on both sides; the matmul peaks are
the best of repeated timings taken between the runs. `cpu_time_estimate` repeats the figures with process
CPU time / threads instead of wall time (and the matmul peak measured the same way): what each side achieves
while it holds the cores, which other processes disturb less.

`project.auto` is the Encoder with precision `auto`: it calibrates its backends on this CPU first (in a fresh
cache folder, so the calibration is part of `load_and_warmup_seconds`) and reports the backend it chose and
why. `cpu` records the CPU's model and flags and any instruction-set limits in the environment.

`--also-avx2` runs the whole benchmark a second time in a child process whose math libraries are limited to
AVX2 (AVX2_ONLY_ENVIRONMENT: PyTorch's kernels, oneDNN, MKL and FBGEMM), the kernels an AVX2-only server runs,
and puts that run's JSON under `avx2_only_emulated`, so both CPU kinds are compared in one run.

`--accuracy` measures instead how far the approximate backends move real embeddings (default: the bundled
all-MiniLM-L6-v2) on JSQuAD and JSTS texts, and what that does to dense MRR@10 (see `accuracy_report`).

    python benchmarks/encode.py --limit 128 --repeats 2 --also-avx2
    python benchmarks/encode.py --accuracy --query-limit 500
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helper sits beside them

common.setup_environment()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from search.models.cpu import this_cpu  # noqa: E402

# The instruction-set limits under which an AVX-512 machine runs the kernels of an AVX2-only CPU. FBGEMM (int8)
# needs its own variable: without it, int8 would still run AVX-512 VNNI kernels and look ~2x too fast.
AVX2_ONLY_ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
}


def cpu_record() -> dict[str, Any]:
    """What the JSON says about the CPU: flags, instruction-set limits, what torch dispatches to."""
    return {
        **this_cpu().as_dict(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
    }


def reference_loop(model_dir: Path, texts: list[str], max_length: int) -> tuple[Any, Any]:
    """The model card's loop (returns a function that runs it and records per-batch times)."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = T5EncoderModel.from_pretrained(model_dir).eval()

    def run(subset: list[str], times: list[tuple[float, float]] | None = None) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(subset), 8):
                began, cpu = time.perf_counter(), time.process_time()
                batch = tokenizer(
                    subset[start : start + 8],
                    padding="longest",
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.size()).float()
                pooled = torch.sum(hidden * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
                if times is not None:
                    times.append((time.perf_counter() - began, time.process_time() - cpu))
        return np.vstack(out)

    return run, tokenizer


def previous_encoder_loop(model_dir: Path, max_length: int, bf16: bool) -> Any:
    """The project's encoder before this benchmark's optimizations, as a second same-run reference: texts
    sorted by length, fixed batches of 32, the Hugging Face forward pass under bf16 autocast where the CPU has
    native bf16, in fp32 elsewhere (what precision `auto` did)."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = T5EncoderModel.from_pretrained(model_dir).eval()

    def run(texts: list[str], times: list[tuple[float, float]] | None = None) -> np.ndarray:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = np.zeros((len(texts), model.config.d_model), dtype=np.float32)
        with torch.inference_mode(), torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(order), 32):
                began, cpu = time.perf_counter(), time.process_time()
                ids = order[start : start + 32]
                batch = tokenizer.pad({"input_ids": [encoded[i] for i in ids]}, padding="longest", return_tensors="pt")
                hidden = model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[ids] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
                if times is not None:
                    times.append((time.perf_counter() - began, time.process_time() - cpu))
        return out

    return run


def timed_encode(encoder: Any, texts: list[str]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Encoder.encode with the (wall, CPU) time between its progress callbacks (one interval per batch)."""
    marks = [(time.perf_counter(), time.process_time())]
    vectors = encoder.encode(texts, progress=lambda _n: marks.append((time.perf_counter(), time.process_time())))
    return vectors, [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(marks)]


def _batches_of(encoder: Any, token_counts: list[int]) -> list[list[int]]:
    """The encoder's batches (older versions had fixed-size length-sorted batches and no `_batches`)."""
    if hasattr(encoder, "_batches"):
        return encoder._batches(token_counts)
    order = sorted(range(len(token_counts)), key=lambda i: token_counts[i])
    return [order[s : s + encoder.batch_size] for s in range(0, len(order), encoder.batch_size)]


def batch_minimum(runs: list[list[tuple[float, float]]], column: int = 0) -> float:
    """Sum over batches of the fastest time each batch took in any repeat (column 0: wall, 1: CPU)."""
    return float(np.sum(np.min(np.array(runs)[:, :, column], axis=0)))


def cpu_estimate(n: int, cpu_seconds: float, threads: int, useful: int, peaks: dict[str, Any]) -> dict[str, Any]:
    """Rates from process CPU time / threads: what the side achieves while it has the cores. On a machine
    shared with other work, wall time also counts the time other processes held the cores; CPU time does
    not (it slightly flatters single-threaded Python overhead, on both sides alike)."""
    seconds = cpu_seconds / threads
    rate = useful / seconds / 1e9
    return {
        "passages_per_s": round(n / seconds, 2),
        "useful_gflop_per_s": round(rate, 1),
        "pct_of_bf16_peak": round(100 * rate / peaks["bf16"]["best_cpu"], 1) if this_cpu().native_bf16 else None,
        "seconds": round(seconds, 3),
    }


def figures(
    n: int, seconds: float, wall: float, tokens: int, useful: int, executed: int, peaks: dict[str, Any]
) -> dict[str, Any]:
    """Rates of one side from its time estimates; GFLOP/s counts useful (unpadded) FLOPs."""
    rate = useful / seconds / 1e9
    return {
        "passages_per_s": round(n / seconds, 2),
        "passages_per_s_best_wall": round(n / wall, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "useful_gflop_per_s": round(rate, 1),
        "executed_gflop_per_s": round(executed / seconds / 1e9, 1),
        # Without native bf16 the bf16 "peak" is emulation's (a few GFLOP/s): a percentage of it means nothing.
        "pct_of_bf16_peak": round(100 * rate / peaks["bf16"]["best"], 1) if this_cpu().native_bf16 else None,
        "pct_of_fp32_peak": round(100 * rate / peaks["fp32"]["best"], 1),
        "seconds_batch_minimum": round(seconds, 3),
        "seconds_best_wall": round(wall, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="BEIR corpus.jsonl")
    parser.add_argument("--limit", type=int, default=128, help="passages, spread over the corpus (default 128)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of every side (default 2)")
    parser.add_argument("--seconds", type=float, default=600, help="start no new repeat after this many seconds")
    parser.add_argument(
        "--precisions",
        default="auto,fp32,bf16,int8",
        help="project precisions to measure (bf16 is skipped on a CPU without native bf16 unless it is the only one)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="Encoder batch_size (default: its own)")
    parser.add_argument("--batch-tokens", type=int, default=None, help="Encoder batch_tokens (default: its own)")
    parser.add_argument(
        "--max-length", type=int, default=512, help="token limit for both sides (512 truncates no JSQuAD paragraph)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-previous",
        dest="previous",
        action="store_false",
        help="skip the second reference (the encoder as it was before the optimizations)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--also-avx2",
        action="store_true",
        help="then run again with the math libraries limited to AVX2 (an AVX2-only CPU), in a child process",
    )
    parser.add_argument("--accuracy", action="store_true", help="measure accuracy on real weights instead")
    parser.add_argument("--accuracy-model", default=None, help="model for --accuracy (default: bundled MiniLM)")
    parser.add_argument("--query-limit", type=int, default=500, help="--accuracy: JSQuAD queries scored")
    parser.add_argument(
        "--jsts", type=Path, default=common.DATA_DIR / "jsts-paraphrase" / "valid", help="--accuracy: JSTS folder"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = accuracy_report(args) if args.accuracy else run(args)
    if args.also_avx2:
        result["avx2_only_emulated"] = run_avx2_child(argv if argv is not None else sys.argv[1:])
    common.emit(result)
    return 0


def run_avx2_child(argv: list[str]) -> dict[str, Any]:
    """This benchmark again in a child process under AVX2_ONLY_ENVIRONMENT (the libraries read the limits
    when they load, so it takes a new process); its JSON object."""
    child_args = [a for a in argv if a != "--also-avx2"]
    env = {**os.environ, **AVX2_ONLY_ENVIRONMENT}
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *child_args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the AVX2 run failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def read_beir(folder: Path, query_limit: int | None) -> tuple[list[str], list[str], list[str], list[set[str]]]:
    """Corpus ids and texts (title + text, as `indexer eval` indexes them), and the first `query_limit` judged
    queries with their relevant corpus ids."""
    ids, texts = [], []
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                title, text = str(record.get("title") or "").strip(), str(record.get("text") or "").strip()
                ids.append(str(record["id"]))
                texts.append(f"{title}\n{text}" if title else text)
    relevant: dict[str, set[str]] = {}
    with open(folder / "qrels.tsv", encoding="utf-8") as handle:
        for line in itertools.islice(handle, 1, None):
            query_id, corpus_id, score = line.rstrip("\n").split("\t")
            if float(score) > 0:
                relevant.setdefault(query_id, set()).add(corpus_id)
    queries, judged = [], []
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line) if line.strip() else None
            if record is not None and str(record["id"]) in relevant:
                queries.append(str(record["text"]))
                judged.append(relevant[str(record["id"])])
    limit = len(queries) if query_limit is None else query_limit
    return ids, texts, queries[:limit], judged[:limit]


def mrr_at_10(queries: np.ndarray, corpus: np.ndarray, ids: list[str], judged: list[set[str]]) -> float:
    """Dense retrieval by exact inner product (what the flat index returns), scored by MRR@10."""
    top = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]
    total = 0.0
    for row, relevant in zip(top, judged, strict=True):
        for rank, index in enumerate(row, start=1):
            if ids[index] in relevant:
                total += 1 / rank
                break
    return total / len(judged)


def rotate(vectors: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Every unit vector turned by exactly arccos(cosine) in a random direction: embedding error of a known
    size, to see how much MRR@10 a given cosine to fp32 can cost."""
    noise = rng.standard_normal(vectors.shape).astype(np.float32)
    noise -= np.sum(noise * vectors, axis=1, keepdims=True) * vectors
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return cosine * vectors + np.sqrt(1 - cosine**2) * noise


def accuracy_report(args: argparse.Namespace) -> dict[str, Any]:
    """How far int8 (and bf16, where native) move real embeddings from fp32, and what that costs in dense
    MRR@10 on JSQuAD and JSTS; plus MRR@10 under random rotations of known cosine, and the backend that precision
    `auto` picks for this model here. The rule it checks: an approximate backend is chosen automatically only
    where its retrieval change is below 0.005 MRR@10."""
    from search.models import backend as backends
    from search.models.cpu import this_cpu
    from search.models.encoder import Encoder
    from search.models.hub import bundled_minilm_path

    started = time.perf_counter()
    os.environ["INDEXER_CACHE_DIR"] = tempfile.mkdtemp(prefix="encode-accuracy-cache-")
    model = args.accuracy_model or str(bundled_minilm_path())
    precisions = ["fp32", "int8"] + (["bf16"] if this_cpu().native_bf16 else [])
    encoders = {p: Encoder(model, device=args.device, precision=p) for p in precisions}
    auto = Encoder(model, device=args.device, precision="auto")
    _ = auto.model  # calibrates
    choice = auto.backend_choice
    assert choice is not None
    result: dict[str, Any] = {
        "benchmark": "encode-accuracy",
        "cpu": cpu_record(),
        "model": model,
        "max_length": encoders["fp32"].max_length,
        "auto_choice": {
            "backend": choice.backend,
            "reason": choice.reason,
            "calibration": {k: vars(m) for k, m in choice.measurements.items()},
            "floor": {"min_cosine": backends.APPROXIMATE_MIN_COSINE, "mean_cosine": backends.APPROXIMATE_MEAN_COSINE},
        },
        "datasets": {},
    }
    rng = np.random.default_rng(0)
    for name, folder, limit in (("jsquad", args.corpus.parent, args.query_limit), ("jsts", args.jsts, None)):
        ids, texts, queries, judged = read_beir(folder, limit)
        vectors = {p: (e.encode(texts), e.encode(queries)) for p, e in encoders.items()}
        base = mrr_at_10(vectors["fp32"][1], vectors["fp32"][0], ids, judged)
        rows: dict[str, Any] = {"fp32": {"mrr@10": round(base, 4)}}
        for precision in precisions[1:]:
            corpus, query = vectors[precision]
            cosines = np.concatenate(
                [np.sum(corpus * vectors["fp32"][0], axis=1), np.sum(query * vectors["fp32"][1], axis=1)]
            )
            mrr = mrr_at_10(query, corpus, ids, judged)
            rows[precision] = {
                "min_cosine": round(float(cosines.min()), 6),
                "p01_cosine": round(float(np.percentile(cosines, 1)), 6),
                "mean_cosine": round(float(cosines.mean()), 6),
                "mrr@10": round(mrr, 4),
                "mrr@10_change": round(mrr - base, 4),
            }
        curve = {}
        for cosine in (0.9999, 0.9995, 0.999, 0.998, 0.995, 0.99, 0.98, 0.96):
            query, corpus = rotate(vectors["fp32"][1], cosine, rng), rotate(vectors["fp32"][0], cosine, rng)
            turned = mrr_at_10(query, corpus, ids, judged)
            curve[str(cosine)] = round(turned - base, 4)
        result["datasets"][name] = {
            "folder": str(folder),
            "passages": len(texts),
            "queries": len(queries),
            "backends": rows,
            "mrr@10_change_when_every_vector_is_rotated_to_cosine": curve,
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark on this process's CPU kind; the result object."""
    from search.models.cpu import this_cpu
    from search.models.encoder import Encoder

    started = time.perf_counter()
    # A fresh backend cache: precision auto calibrates here, and a choice cached by another run (or another CPU
    # limit) cannot leak in.
    os.environ["INDEXER_CACHE_DIR"] = tempfile.mkdtemp(prefix="encode-bench-cache-")
    native_bf16 = this_cpu().native_bf16
    precisions = args.precisions.split(",")
    skipped = {}
    if not native_bf16 and "bf16" in precisions and len(precisions) > 1:
        precisions.remove("bf16")
        skipped["bf16"] = "no native bf16 here: emulated bf16 is slower than fp32 and auto never picks it"
    model_dir = common.ensure_model(args.corpus)
    raw = common.spread_sample(common.read_corpus(args.corpus), args.limit)

    extra: dict[str, Any] = {}
    if args.batch_size:
        extra["batch_size"] = args.batch_size
    if args.batch_tokens:
        extra["batch_tokens"] = args.batch_tokens
    encoders: dict[str, Any] = {}
    load_seconds: dict[str, float] = {}
    for precision in precisions:
        began = time.perf_counter()
        encoder = Encoder(str(model_dir), device=args.device, precision=precision, max_length=args.max_length, **extra)
        _ = encoder.model
        encoder.encode(raw[:4])  # warm-up: oneDNN/fbgemm kernels are built on first use
        load_seconds[precision] = round(time.perf_counter() - began, 2)
        encoders[precision] = encoder
    first = next(iter(encoders.values()))
    texts = [first.normalize(t) for t in raw]  # what the project encodes, given to the reference as is
    run_reference, tokenizer = reference_loop(model_dir, texts, args.max_length)
    run_reference(texts[:8])
    run_previous = previous_encoder_loop(model_dir, args.max_length, native_bf16) if args.previous else None
    if run_previous is not None:
        run_previous(texts[:8])

    token_counts = [len(x) for x in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    tokens = sum(token_counts)
    useful = common.useful_flops(token_counts)
    began = time.perf_counter()
    first.tokenizer(texts, truncation=True, max_length=args.max_length)
    tokenize_seconds = time.perf_counter() - began

    peaks_seen: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
    ref_runs: list[list[tuple[float, float]]] = []
    ref_walls: list[float] = []
    project_runs: dict[str, list[list[tuple[float, float]]]] = {p: [] for p in encoders}
    project_walls: dict[str, list[float]] = {p: [] for p in encoders}
    reference = None
    previous_runs: list[list[tuple[float, float]]] = []
    previous_walls: list[float] = []
    vectors: dict[str, np.ndarray] = {}
    loads = [os.getloadavg()[0]]
    for repeat in range(args.repeats):
        if repeat and time.perf_counter() - started > args.seconds:
            break
        for name in peaks_seen:
            peaks_seen[name].append(common.matmul_peak(name, seconds=1.0))
        times: list[tuple[float, float]] = []
        began = time.perf_counter()
        reference = run_reference(texts, times)
        ref_walls.append(time.perf_counter() - began)
        ref_runs.append(times)
        if run_previous is not None:
            times = []
            began = time.perf_counter()
            vectors["previous"] = run_previous(texts, times)
            previous_walls.append(time.perf_counter() - began)
            previous_runs.append(times)
        for precision, encoder in encoders.items():
            gc.collect()
            began = time.perf_counter()
            vectors[precision], batch_times = timed_encode(encoder, raw)
            project_walls[precision].append(time.perf_counter() - began)
            project_runs[precision].append(batch_times)
        loads.append(os.getloadavg()[0])
    for name in peaks_seen:
        peaks_seen[name].append(common.matmul_peak(name, seconds=1.0))
    peaks = {
        name: {
            "best": max(p["best"] for p in seen),
            "median": float(np.median([p["median"] for p in seen])),
            "best_cpu": max(p["best_cpu"] for p in seen),
        }
        for name, seen in peaks_seen.items()
    }
    threads = torch.get_num_threads()
    assert reference is not None

    ref_seconds = batch_minimum(ref_runs)
    ref_cpu = batch_minimum(ref_runs, 1)
    result: dict[str, Any] = {
        "benchmark": "encode",
        "cpu": cpu_record(),
        "skipped_precisions": skipped,
        "model": f"random-weight sonoisa/sentence-t5-base-ja-mean-tokens architecture ({model_dir.name})",
        "tokenizer_pieces": common.model_info(model_dir)["spiece_pieces"],
        "corpus": str(args.corpus),
        "passages": len(raw),
        "tokens": tokens,
        "tokens_per_passage": round(tokens / len(raw), 1),
        "max_tokens": max(token_counts),
        "max_length": args.max_length,
        "repeats": len(ref_runs),
        "threads": threads,
        "load_average": [round(x, 2) for x in loads],
        "flop_formula": common.FLOP_FORMULA,
        "useful_gflop": round(useful / 1e9, 1),
        "matmul_peak_gflop_per_s": peaks,
        "reference": {
            "loop": "model card: batch 8, input order, padding=longest, fp32, torch.no_grad, mean pooling",
            **figures(
                len(raw),
                ref_seconds,
                min(ref_walls),
                tokens,
                useful,
                common.padded_flops(token_counts, 8, False),
                peaks,
            ),
            "cpu_time_estimate": cpu_estimate(len(raw), ref_cpu, threads, useful, peaks),
        },
        "project": {},
        "tokenize_seconds_all_passages": round(tokenize_seconds, 3),
    }
    if previous_runs:
        seconds = batch_minimum(previous_runs)
        order = sorted(range(len(token_counts)), key=lambda i: token_counts[i])
        cosines = np.sum(vectors["previous"] * reference, axis=1)
        result["previous_encoder"] = {
            "loop": "the project's encoder before these optimizations: sorted, batch 32, HF forward, "
            + ("bf16 autocast" if native_bf16 else "fp32 (no native bf16)"),
            **figures(
                len(raw),
                seconds,
                min(previous_walls),
                tokens,
                useful,
                sum(
                    len(order[s : s + 32]) * common.sequence_flops(max(token_counts[i] for i in order[s : s + 32]))
                    for s in range(0, len(order), 32)
                ),
                peaks,
            ),
            "speedup_vs_reference": round(ref_seconds / seconds, 2),
            "min_cosine_vs_fp32_reference": round(float(cosines.min()), 6),
            "cpu_time_estimate": {
                **cpu_estimate(len(raw), batch_minimum(previous_runs, 1), threads, useful, peaks),
                "speedup_vs_reference": round(ref_cpu / batch_minimum(previous_runs, 1), 2),
            },
        }
    for precision, encoder in encoders.items():
        seconds = batch_minimum(project_runs[precision])
        cpu = cpu_estimate(len(raw), batch_minimum(project_runs[precision], 1), threads, useful, peaks)
        cpu["speedup_vs_reference"] = round(ref_cpu / batch_minimum(project_runs[precision], 1), 2)
        batches = _batches_of(encoder, token_counts)
        executed = sum(len(b) * common.sequence_flops(max(token_counts[i] for i in b)) for b in batches)
        cosines = np.sum(vectors[precision] * reference, axis=1)
        info = encoder.info
        choice = getattr(encoder, "backend_choice", None)
        result["project"][precision] = {
            "resolved_precision": encoder.precision,
            "backend": getattr(info, "backend", None),
            "backend_reason": getattr(info, "backend_reason", None),
            "calibration": {k: vars(m) for k, m in choice.measurements.items()} if choice is not None else None,
            "batch_size": encoder.batch_size,
            "batch_tokens": getattr(encoder, "batch_tokens", None),
            "batches": len(batches),
            **figures(len(raw), seconds, min(project_walls[precision]), tokens, useful, executed, peaks),
            "speedup_vs_reference": round(ref_seconds / seconds, 2),
            "speedup_vs_reference_best_wall": round(min(ref_walls) / min(project_walls[precision]), 2),
            "min_cosine_vs_fp32_reference": round(float(cosines.min()), 6),
            "mean_cosine_vs_fp32_reference": round(float(cosines.mean()), 6),
            "cpu_time_estimate": cpu,
            "load_and_warmup_seconds": load_seconds[precision],
        }
    result["auto_precision"] = encoders["auto"].precision if "auto" in encoders else None
    result["targets"] = targets(result["project"], native_bf16)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def targets(project: dict[str, Any], native_bf16: bool) -> dict[str, bool]:
    """Issue #16: on a CPU with native bf16, no regression from 6.2x the model card's loop; on an AVX2-only CPU,
    >= 3x at min cosine >= 0.999 (the automatic choice) and >= 2x with exact fp32."""
    checks: dict[str, bool] = {}
    auto, fp32 = project.get("auto"), project.get("fp32")
    if auto is not None:
        checks["auto_min_cosine_ge_0.999"] = auto["min_cosine_vs_fp32_reference"] >= 0.999
        if native_bf16:
            checks["auto_speedup_ge_6.2x"] = auto["speedup_vs_reference"] >= 6.2
        else:
            checks["auto_speedup_ge_3x"] = auto["speedup_vs_reference"] >= 3.0
    if fp32 is not None and not native_bf16:
        checks["fp32_speedup_ge_2x"] = fp32["speedup_vs_reference"] >= 2.0
        checks["fp32_min_cosine_ge_0.99999"] = fp32["min_cosine_vs_fp32_reference"] >= 0.99999
    return checks


if __name__ == "__main__":
    sys.exit(main())
