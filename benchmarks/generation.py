"""Generation latency through HTTP: `/answer` and `/quiz` with random-weight models of the real architectures.

Prints one JSON object. The weights of the real models cannot be downloaded here; random weights in the
exact architectures (REFERENCE §1) cost the same per token, and are built once into benchmarks/.cache/:

- `mt5-small-qa`: the shape of lmqg/mt5-small-jaquad-qa (mT5-small: d_model 512, d_ff 1024, 8+8 layers,
  6 heads, gated-gelu, 250,112-token vocabulary, untied lm_head: 300,176,768 parameters), the default
  Japanese QA model: search/generation/answer.py routes every Japanese question to it.
- `flan-t5-base`: FLAN-T5-base (d_model 768, d_ff 2048, 12+12 layers, 12 heads, gated-gelu, untied lm_head,
  untied by hand because transformers 5.x ties it when building from a config: 247,577,856 parameters).
  It is the English QA model; the JSQuAD index is Japanese, so a second server serves it *as the Japanese QA
  model* to time its architecture on the same prompts (the real FLAN-T5 cannot read Japanese and is never
  routed Japanese text: this cell measures cost, not a supported configuration).
- `sonoisa-t5-base-qg`: sonoisa/t5-base-japanese-question-generation (the sonoisa T5-base architecture as
  T5ForConditionalGeneration, tied: 222,903,552 parameters), used by `/quiz`.

All three use the benchmark's SentencePiece tokenizer (trained on JSQuAD, T5's special ids) and are passed to
the server through INDEXER_QA_MODEL_JA / INDEXER_QA_MODEL_EN / INDEXER_QG_MODEL, with the server's default
generation bounds (4 beams, at most 64 new tokens, 512 input tokens). Random weights rarely emit EOS, so most
calls generate until max_new_tokens: this is the worst case for a real model, which usually stops after a
few tokens. `/answer` runs retrieval and sentence scoring before generation; the `answer` cells report only
requests that really generated (not those retrieval already judged unanswerable).

Measured per cell: the first call (model load + generation), the warm p50, and the server's RSS before the
generation models load (after start-up, encoder only) and after each first call.

    python benchmarks/generation.py --answers 4 --quizzes 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helpers sit beside them
import serving

common.setup_environment()

# REFERENCE §1: FLAN-T5 sizes share gated-gelu, vocab 32128, untied embeddings, 32 buckets / 128, eps 1e-6.
FLAN_T5_BASE: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 768,
    "d_kv": 64,
    "d_ff": 2048,
    "num_layers": 12,
    "num_decoder_layers": 12,
    "num_heads": 12,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "initializer_factor": 1.0,
    "feed_forward_proj": "gated-gelu",
    "is_encoder_decoder": True,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
# google/mt5-small (the base of lmqg/mt5-small-jaquad-qa): FLAN-like but 8+8 layers, 6 heads, d_ff 1024,
# and the 250,112-token multilingual vocabulary, untied.
MT5_SMALL: dict[str, Any] = {
    **FLAN_T5_BASE,
    "vocab_size": 250112,
    "d_model": 512,
    "d_ff": 1024,
    "num_layers": 8,
    "num_decoder_layers": 8,
    "num_heads": 6,
}
MODELS: dict[str, dict[str, Any]] = {
    "mt5-small-qa": {"family": "mt5", "config": MT5_SMALL, "tied": False, "parameters": 300_176_768},
    "flan-t5-base": {"family": "t5", "config": FLAN_T5_BASE, "tied": False, "parameters": 247_577_856},
    "sonoisa-t5-base-qg": {"family": "t5", "config": common.SONOISA_CONFIG, "tied": True, "parameters": 222_903_552},
}
REQUEST_TIMEOUT_S = 300.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=common.DEFAULT_DOCS, help="JSQuAD document folder")
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="tokenizer training text")
    parser.add_argument("--queries", type=Path, default=serving.DEFAULT_QUERIES, help="JSQuAD queries.jsonl")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: benchmarks/.cache/)")
    parser.add_argument("--answers", type=int, default=4, help="warm /answer calls per cell")
    parser.add_argument("--quizzes", type=int, default=2, help="warm /quiz calls")
    parser.add_argument("--quiz-n", type=int, default=2, help="questions per quiz (3 candidates each)")
    parser.add_argument("--no-flan", action="store_true", help="skip the FLAN-T5-base server")
    serving.add_server_arguments(parser, "--threads-per-call=2")
    return parser.parse_args()


# -- models -----------------------------------------------------------------------------------------------


def ensure_generation_model(name: str, tokenizer_dir: Path) -> Path:
    """The cached random-weight model directory (built on first use: seconds, 0.9-1.2 GB on disk each)."""
    spec = MODELS[name]
    out_dir = common.CACHE_DIR / f"{name}-random"
    done = out_dir / "benchmark_model.json"
    if done.is_file():
        return out_dir
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration, T5Config, T5ForConditionalGeneration

    config_class, model_class = (
        (MT5Config, MT5ForConditionalGeneration) if spec["family"] == "mt5" else (T5Config, T5ForConditionalGeneration)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(common.SEED)
    config = config_class(**spec["config"], tie_word_embeddings=spec["tied"])
    model = model_class(config)
    if not spec["tied"]:
        # transformers 5.x ties lm_head to the input embedding when building from a config; the real
        # checkpoint has its own lm_head (another vocab x d_model matrix in memory): untie by hand. Values
        # different from the embedding's (T5's init for an untied head), or loading would tie them again.
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
        model.config.tie_word_embeddings = False
    parameters = sum(p.numel() for p in model.parameters())
    if parameters != spec["parameters"]:
        raise RuntimeError(f"{name} has {parameters:,} parameters, the real model {spec['parameters']:,}")
    model.save_pretrained(out_dir)
    del model
    reloaded = model_class.from_pretrained(out_dir)
    tied = reloaded.lm_head.weight.data_ptr() == reloaded.shared.weight.data_ptr()
    if tied != spec["tied"]:
        raise RuntimeError(f"{name}: lm_head {'tied' if tied else 'untied'} after loading, expected otherwise")
    del reloaded
    shutil.copy(tokenizer_dir / "spiece.model", out_dir / "spiece.model")
    tokenizer_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["model_max_length"] = 512
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    done.write_text(json.dumps({"parameters": parameters, "tied": spec["tied"], "seed": common.SEED}), "utf-8")
    return out_dir


# -- measurements ---------------------------------------------------------------------------------------------


def post(port: int, path: str, body: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
    started = time.perf_counter()
    status, payload = serving.request(port, "POST", path, body, timeout=REQUEST_TIMEOUT_S)
    seconds = time.perf_counter() - started
    try:
        data = json.loads(payload)
    except ValueError:
        data = {"raw": payload[:300].decode("utf-8", "replace")}
    return seconds, status, data


def generated(data: dict[str, Any]) -> bool:
    """Whether /answer really ran the generator (not unanswerable by retrieval, not an extractive fallback)."""
    if data.get("mode") != "generative" or data.get("fallback_reason"):
        return False
    reason = data.get("reason") or ""
    return not reason.startswith(("retrieval is too weak", "no passages"))


def answer_cell(port: int, questions: list[str], warm: int) -> dict[str, Any]:
    """First call, then warm calls, each with the next question; questions retrieval rejects are skipped."""
    first: dict[str, Any] | None = None
    warm_seconds: list[float] = []
    output_chars: list[int] = []
    skipped = errors = 0
    error_samples: list[str] = []
    for question in questions:
        if first is not None and len(warm_seconds) >= warm:
            break
        seconds, status, data = post(port, "/answer", {"question": question, "k": 5})
        if status != 200:
            errors += 1
            error_samples.append(f"HTTP {status}: {str(data)[:200]}")
            if errors >= 3:
                break
            continue
        if not generated(data):
            skipped += 1
            continue
        output_chars.append(len(data.get("answer") or data.get("generated_answer") or ""))
        if first is None:
            first = {"seconds": round(seconds, 2), "model": data.get("model")}
        else:
            warm_seconds.append(seconds)
    return {
        "first_call_seconds": first["seconds"] if first else None,
        "model": first["model"] if first else None,
        "warm_calls": len(warm_seconds),
        "warm_p50_seconds": round(statistics.median(warm_seconds), 2) if warm_seconds else None,
        "warm_max_seconds": round(max(warm_seconds), 2) if warm_seconds else None,
        "output_chars_median": statistics.median(output_chars) if output_chars else None,
        "skipped_not_generated": skipped,
        "errors": errors,
        **({"error_samples": error_samples} if error_samples else {}),
    }


def quiz_cell(port: int, queries: list[str], warm: int, n: int) -> dict[str, Any]:
    first: float | None = None
    warm_seconds: list[float] = []
    kept: list[int] = []
    errors: list[str] = []
    for query in queries[: warm + 1]:
        seconds, status, data = post(port, "/quiz", {"query": query, "n": n})
        if status != 200:
            errors.append(f"HTTP {status}: {str(data)[:200]}")
            continue
        kept.append(len(data.get("questions", [])))
        if first is None:
            first = seconds
        else:
            warm_seconds.append(seconds)
    return {
        "first_call_seconds": round(first, 2) if first is not None else None,
        "warm_calls": len(warm_seconds),
        "warm_p50_seconds": round(statistics.median(warm_seconds), 2) if warm_seconds else None,
        "questions_requested": n,
        "candidates_generated_per_quiz": 3 * n,
        "questions_kept": kept,
        "errors": len(errors),
        **({"error_samples": errors[:3]} if errors else {}),
    }


def loaded_models(port: int) -> list[str]:
    status, body = serving.request(port, "GET", "/health")
    return json.loads(body).get("generation_models", {}).get("loaded", []) if status == 200 else []


def main() -> int:
    args = parse_args()
    model_dir = common.ensure_model(args.corpus)
    index = serving.ensure_index(args.docs, model_dir, args.index)
    index_dir = Path(index["path"])
    models = {name: ensure_generation_model(name, model_dir) for name in MODELS}
    questions = serving.read_questions(args.queries)
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    env = {
        "INDEXER_QA_MODEL_JA": str(models["mt5-small-qa"]),
        "INDEXER_QA_MODEL_EN": str(models["flan-t5-base"]),
        "INDEXER_QG_MODEL": str(models["sonoisa-t5-base-qg"]),
        **extra_env,
    }
    result: dict[str, Any] = {
        "benchmark": "generation",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "models": {name: json.loads((d / "benchmark_model.json").read_text()) for name, d in models.items()},
        "index": index,
        "settings": {
            "answers": args.answers,
            "quizzes": args.quizzes,
            "quiz_n": args.quiz_n,
            "server_args": args.server_arg,
            "server_env": extra_env,
            "server_root": str(args.server_root or common.REPO_ROOT),
        },
        "note": "random weights rarely emit EOS: most calls run to max_new_tokens (64) with 4 beams, the worst "
        "case; a real model usually stops after a few tokens",
    }
    # Questions far apart in the file: different paragraphs, so retrieval and prompts differ between calls.
    answer_questions = questions[::37]
    with serving.Server(index_dir, args.server_arg, env, "generation-server", args.server_root) as server:
        memory: dict[str, Any] = {"after_startup": server.memory(), "loaded_at_startup": loaded_models(server.port)}
        result["answer_mt5_small"] = answer_cell(server.port, answer_questions, args.answers)
        memory["after_answer"] = server.memory()
        result["quiz_sonoisa_qg"] = quiz_cell(server.port, questions[5::53], args.quizzes, args.quiz_n)
        memory["after_quiz"] = server.memory()
        memory["loaded_at_end"] = loaded_models(server.port)
        result["server_memory_mb"] = {"startup_seconds": server.startup_seconds, **memory}
    if not args.no_flan:
        flan_env = {**env, "INDEXER_QA_MODEL_JA": str(models["flan-t5-base"])}
        with serving.Server(index_dir, args.server_arg, flan_env, "generation-server-flan", args.server_root) as server:
            before = server.memory()
            cell = answer_cell(server.port, answer_questions[1:], args.answers)
            cell["server_memory_mb"] = {"after_startup": before, "after_answer": server.memory()}
            result["answer_flan_t5_base"] = cell
    common.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
