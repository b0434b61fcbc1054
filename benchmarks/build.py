"""Build: `indexer build` of the JSQuAD document folder with the random-weight sonoisa model.

Prints one JSON object with, in order:
1. a full build through the library (search.Index.build, as the CLI calls it): wall time and the share
   of it spent outside the model's forward pass (the forward pass is timed by wrapping the encoder's model
   call; everything else — imports excluded, model loading included — counts as outside);
2. a no-change rebuild, through the library and as a CLI process end to end (`python -m indexer.cli build`,
   imports included, best and median of `--cli-runs`), and whether that process imported torch or
   transformers at all (`-X importtime`);
3. a one-file-changed rebuild (one paragraph of one file rewritten), through the library and the CLI, with
   the passages it re-encoded against that file's passages and the whole index's;
4. `card_loop`: the model card's loop (encode.reference_loop: batches of 8 in input order, fp32) over exactly
   the texts the full build encoded, in the same run, and `whole_build_vs_card_loop`: the card loop's time
   over the whole build's (model load, reading, chunking, SQLite and FAISS included), issue #16's
   "whole-build throughput" ratio. `cpu` records the CPU's flags and any instruction-set limits, so
   `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2`
   in the environment measures an AVX2-only CPU's kernels (encode.AVX2_ONLY_ENVIRONMENT).
The documents are copied to a temporary folder first: the shared data is never modified.

    python benchmarks/build.py --docs ../shared/data/jsquad-docs/docs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helpers sit beside them
import encode as encode_bench

common.setup_environment()


class ForwardTimer:
    """Seconds spent inside the encoder's model forward calls."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def attach(self, encoder: Any) -> None:
        _ = encoder.model  # load now: the forward function exists once the weights are loaded
        forward = getattr(encoder, "_forward", None)
        if forward is not None:
            encoder._forward = self._wrap(forward)
            return
        # Versions without a separate forward function call the Hugging Face model itself.
        model = encoder.model
        model.register_forward_pre_hook(lambda *_: setattr(self, "_began", time.perf_counter()))
        model.register_forward_hook(lambda *_: self._add(time.perf_counter() - self._began))

    def _add(self, seconds: float) -> None:
        self.seconds += seconds
        self.calls += 1

    def _wrap(self, forward: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return forward(*args, **kwargs)
            finally:
                self._add(time.perf_counter() - began)

        return timed


def library_build(
    docs: Path, index: Path, model_dir: Path, precision: str, texts: list[str] | None = None
) -> dict[str, Any]:
    """One build through the library; the texts the encoder was given are appended to `texts`."""
    from search import Index
    from search.models.encoder import Encoder

    timer = ForwardTimer()
    began = time.perf_counter()  # the model load counts towards the build, as it does for `indexer build`
    encoder = Encoder(str(model_dir), device="cpu", precision=precision)
    encode = encoder.encode
    first: dict[str, Any] = {}

    def timed_encode(batch: Any, *args: Any, **kwargs: Any) -> Any:
        """The timer is attached at the first encode, not before the build: the build loads the weights in
        the background while it reads files (LocalExecutor.prepare), and that overlap is part of its time."""
        if not first:
            first["model_loaded_before_first_encode"] = encoder.loaded
            first["seconds_to_first_encode"] = round(time.perf_counter() - began, 2)
            timer.attach(encoder)  # waits for a background load under the encoder's lock
            first["seconds_to_first_forward"] = round(time.perf_counter() - began, 2)
        if texts is not None:
            texts.extend(batch)
        return encode(batch, *args, **kwargs)

    encoder.encode = timed_encode  # type: ignore[method-assign]
    summary = Index(index, encoder=encoder, precision=precision).build(docs)
    seconds = time.perf_counter() - began
    outside = seconds - timer.seconds
    return {
        "seconds": round(seconds, 2),
        "forward_seconds": round(timer.seconds, 2),
        "forward_calls": timer.calls,
        "outside_forward_seconds": round(outside, 2),
        "outside_forward_share": round(outside / seconds, 3) if seconds else None,
        **first,
        "files_indexed": summary.files_indexed,
        "passages_added": summary.passages_added,
        "passages_encoded": summary.passages_encoded,
        "passages_reused": summary.passages_reused,
        "generation": summary.generation,
    }


def cli_build(docs: Path, index: Path, model_dir: Path, precision: str, importtime: bool = False) -> dict[str, Any]:
    command = [sys.executable]
    if importtime:
        command += ["-X", "importtime"]
    command += ["-m", "indexer.cli", "build", str(docs), "--index", str(index), "--model", str(model_dir)]
    command += ["--precision", precision, "--json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=common.REPO_ROOT, check=False)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"indexer build failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    out = {"seconds": round(seconds, 3), "passages_encoded": summary["passages_encoded"]}
    if importtime:
        modules = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
        out["imported_torch"] = "torch" in modules
        out["imported_transformers"] = "transformers" in modules
        out["imported_faiss"] = "faiss" in modules
    return out


def rewrite_one_paragraph(path: Path, tag: str) -> int:
    """Change the first paragraph of a file (blank-line separated); returns that file's paragraph count."""
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    paragraphs[0] = paragraphs[0].rstrip("\n") + f"（改訂{tag}）この段落は変更されました。"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return len([p for p in paragraphs if p.strip()])


def passages_of(index: Path, rel: str) -> tuple[int, int]:
    """(passages of the file `rel`, passages in the index)."""
    import sqlite3

    with sqlite3.connect(index / "index.sqlite") as conn:
        total = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        mine = conn.execute(
            "SELECT count(*) FROM passages p JOIN documents d ON d.id = p.document_id WHERE d.path = ?", (rel,)
        ).fetchone()[0]
    return int(mine), int(total)


def card_loop(model_dir: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    """The model card's loop over the build's texts, normalized as the index normalizes them, `repeats` times
    (the fastest run is the reference: on a shared machine the slow ones measure the neighbours), with the
    work it does in FLOPs and the fp32 matmul peak measured between the runs: the useful rate over the peak
    bounds what any exact fp32 encoder can gain over this loop on this CPU."""
    from search.models.encoder import Encoder

    encoder = Encoder(str(model_dir), device="cpu", precision="fp32")
    normalized = [encoder.normalize(t) for t in texts]
    run, tokenizer = encode_bench.reference_loop(model_dir, normalized, encoder.max_length)
    counts = [len(ids) for ids in tokenizer(normalized, truncation=True, max_length=encoder.max_length)["input_ids"]]
    run(normalized[:8])  # first call's one-off costs (allocator, kernels) unmeasured, as in encode.py
    seconds: list[float] = []
    peaks: list[float] = []
    for _ in range(max(1, repeats)):
        began = time.perf_counter()
        run(normalized)
        seconds.append(round(time.perf_counter() - began, 2))
        peaks.append(common.matmul_peak("fp32")["best"])
    best = min(seconds)
    useful = common.useful_flops(counts) / 1e9
    padded = common.padded_flops(counts, 8, sort=False) / 1e9
    peak = max(peaks)
    return {
        "loop": "model card: batch 8, input order, padding=longest, fp32, torch.no_grad, mean pooling",
        "passages": len(texts),
        "tokens_mean": round(sum(counts) / len(counts), 1),
        "tokens_max": max(counts),
        "seconds_each_run": seconds,
        "seconds": best,
        "passages_per_second": round(len(texts) / best, 2),
        "useful_gflop": round(useful),
        "padded_over_useful": round(padded / useful, 3),
        "useful_gflop_per_s": round(useful / best, 1),
        "fp32_matmul_peak_gflop_per_s": peak,
        # No exact fp32 encoder can do the useful work faster than at the matmul peak.
        "exact_fp32_ceiling": round(peak / (useful / best), 2),
    }


def whole_build_target(cpu: dict[str, Any], precision: str, ratio: float) -> dict[str, bool]:
    """Issue #16's whole-build targets, which it names for an AVX2-only CPU only: >= 3x the card's loop with
    the automatic choice, >= 2x with exact fp32. A CPU with native bf16 has none (its "no regression from
    6.2x" was measured on whole paragraphs, not comparable to a build's short passages)."""
    avx2_only = not cpu["native_bf16"] and ("avx512f" not in cpu["flags"] or cpu["emulated"])
    if not avx2_only:
        return {}
    bound = {"auto": 3.0, "fp32": 2.0}.get(precision)
    return {} if bound is None else {f"avx2_whole_build_vs_card_loop_ge_{bound:g}x": ratio >= bound}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=common.DEFAULT_DOCS, help="document folder (copied first)")
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="tokenizer training text")
    parser.add_argument("--limit", type=int, default=None, help="index only the first N files (sorted by name)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--cli-runs", type=int, default=3, help="no-change CLI rebuilds to time (default 3)")
    parser.add_argument("--card-runs", type=int, default=2, help="runs of the card's loop; the fastest counts")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model_dir = common.ensure_model(args.corpus)

    work = Path(tempfile.mkdtemp(prefix="bench-build-", dir=args.work))
    try:
        docs = work / "docs"
        files = sorted(p for p in args.docs.rglob("*") if p.is_file())[: args.limit]
        for source in files:
            target = docs / source.relative_to(args.docs)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        index = work / "index"
        result: dict[str, Any] = {
            "benchmark": "build",
            "docs": str(args.docs),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "model": f"random-weight sonoisa architecture ({model_dir.name})",
            "precision": args.precision,
        }
        encoded: list[str] = []
        result["cpu"] = encode_bench.cpu_record()
        result["full_build"] = library_build(docs, index, model_dir, args.precision, encoded)
        result["no_change_rebuild_library"] = library_build(docs, index, model_dir, args.precision)
        runs = [cli_build(docs, index, model_dir, args.precision) for _ in range(max(1, args.cli_runs))]
        seconds = [r["seconds"] for r in runs]
        result["no_change_rebuild_cli"] = {
            "best_seconds": min(seconds),
            "median_seconds": round(statistics.median(seconds), 3),
            "runs": len(runs),
            "passages_encoded": runs[-1]["passages_encoded"],
            **{
                k: v
                for k, v in cli_build(docs, index, model_dir, args.precision, importtime=True).items()
                if "imp" in k
            },
        }
        changed = sorted(p for p in docs.rglob("*.txt"))[len(files) // 2]
        rel = changed.relative_to(docs).as_posix()
        rewrite_one_paragraph(changed, "1")
        library = library_build(docs, index, model_dir, args.precision)
        file_passages, total_passages = passages_of(index, rel)
        rewrite_one_paragraph(changed, "2")
        cli = cli_build(docs, index, model_dir, args.precision)
        full = result["full_build"]
        result["one_file_changed"] = {
            "file": rel,
            "file_passages": file_passages,
            "index_passages": total_passages,
            "library": library,
            "cli_seconds": cli["seconds"],
            "cli_passages_encoded": cli["passages_encoded"],
            "encoded_share_of_full_build": round(library["passages_encoded"] / max(1, full["passages_encoded"]), 4),
            "forward_share_of_full_build": round(library["forward_seconds"] / max(1e-9, full["forward_seconds"]), 4),
        }
        if len(encoded) != full["passages_encoded"]:
            raise SystemExit(
                f"the build encoded {full['passages_encoded']} passages but {len(encoded)} went through "
                "Encoder.encode in this process (another executor?): the card loop needs exactly those texts"
            )
        result["card_loop"] = card_loop(model_dir, encoded, args.card_runs)
        ratio = result["card_loop"]["seconds"] / full["seconds"]
        result["whole_build_vs_card_loop"] = round(ratio, 2)
        result["targets"] = {
            "outside_forward_le_10pct": full["outside_forward_share"] <= 0.10,
            **whole_build_target(result["cpu"], args.precision, ratio),
            "no_change_cli_le_2s": result["no_change_rebuild_cli"]["median_seconds"] <= 2.0,
        }
        result["load_average"] = round(os.getloadavg()[0], 2)
        result["seconds"] = round(time.perf_counter() - started, 1)
        common.emit(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
