"""Which kernels encode passages: chosen by measuring the candidates on the machine that runs them.

Why: the fastest way to run an encoder depends on the CPU. With native bf16 (AVX512-BF16, AMX) bf16 matmuls
run ~4x faster than fp32; on an AVX2-only CPU bf16 is emulated and slower than fp32, while int8 (FBGEMM's AVX2
kernels) still beats fp32. No fixed rule gets both right, so precision `auto` runs a short calibration the
first time a model is used on a CPU: every candidate encodes the same batch of built-in texts, each is timed
and compared with exact fp32, and the fastest one that meets the accuracy floor wins. The choice is cached per
(model, CPU, instruction-set limits, torch version, threads) in a small JSON file, so later runs start at once.

Candidates (`BACKENDS`): `fused-fp32` (search.models.fast_t5 in float32: exact, T5 encoders) or `hf-fp32`
(the Hugging Face forward pass, other architectures) is the reference and always eligible; `fused-bf16` /
`hf-bf16` only where the CPU has native bf16; `fused-int8` / `hf-int8` (dynamic quantization of the linear
layers) wherever torch has FBGEMM. An approximate candidate must reach APPROXIMATE_MIN_COSINE (every
calibration text) and APPROXIMATE_MEAN_COSINE against fp32, the floor tied to measured retrieval quality in
benchmarks/README.md, and be SPEED_MARGIN faster than fp32, so that timing noise never trades accuracy for
nothing.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search.models import fast_t5
from search.models.cpu import CpuFeatures, this_cpu

log = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Backend name -> (precision, exact). "fused" is search.models.fast_t5 (T5 encoders), "hf" the Hugging Face
# forward pass (any other architecture).
BACKENDS: dict[str, tuple[str, bool]] = {
    "fused-fp32": ("fp32", True),
    "fused-bf16": ("bf16", False),
    "fused-int8": ("int8", False),
    "hf-fp32": ("fp32", True),
    "hf-bf16": ("bf16", False),
    "hf-int8": ("int8", False),
}
# The accuracy floor an approximate backend must meet on the calibration texts to be chosen automatically.
# Measured on the real all-MiniLM-L6-v2 weights (benchmarks/README.md, "Choosing the backend"): int8 embeddings
# of JSQuAD and JSTS texts at these cosines or above change dense MRR@10 by less than 0.005.
APPROXIMATE_MIN_COSINE = 0.999
APPROXIMATE_MEAN_COSINE = 0.9995
# An approximate backend must be at least this much faster than exact fp32 to be worth its error.
SPEED_MARGIN = 1.10
CALIBRATION_REPEATS = 3
# Bumped whenever candidates, texts or rules change: older cached choices are then measured again.
CALIBRATION_VERSION = 1
CACHE_ENV = "INDEXER_CACHE_DIR"
CACHE_FILE = "encoder-backends.json"

# Calibration texts: Japanese company documents and questions (the project's domain) and some English, so that
# both a Japanese and an English model see text they were trained on. Real text matters: int8 error depends on
# the activations' range, which random token ids do not reproduce.
CALIBRATION_TEXTS = (
    "年次有給休暇は、入社日から六か月間継続して勤務し、所定労働日の八割以上出勤した従業員に十日付与する。",
    "有給休暇は何日もらえますか",
    "経費精算の締め日は毎月二十五日です。領収書の原本を経理部に提出してください。",
    "VPNに接続できない場合は、まず社内ポータルの接続手順を確認し、解決しなければ情報システム部へ連絡する。",
    "第3条（適用範囲） この規程は、当社に雇用されるすべての従業員に適用する。ただし、嘱託社員については別に定める。",
    "パスワードを忘れたときはどうすればいいですか",
    "育児休業を取得する者は、休業開始予定日の一か月前までに、所定の申出書を人事部に提出しなければならない。",
    "会議室の予約はグループウェアから行い、使用後は机と椅子を元の配置に戻すこと。",
    "出張旅費は、鉄道運賃、航空運賃、宿泊料及び日当とし、その額は別表第一に定めるところによる。",
    "在宅勤務の申請は前日の十七時までに上長の承認を得ること。",
    "東京都港区の本社ビル三階に新しい研修室が完成し、来月から新入社員研修に使われる予定である。",
    "How do I reset my password if I cannot remember it?",
    "Employees who have worked continuously for six months receive ten days of paid annual leave.",
    "Expense reports must be submitted by the 25th of each month together with the original receipts.",
    "If the VPN connection fails, check the setup guide on the intranet portal before contacting IT support.",
    "The new training room on the third floor of the head office will open next month.",
)


@dataclass(frozen=True)
class Measurement:
    """One candidate's calibration result: the best batch time and its agreement with exact fp32."""

    seconds: float
    min_cosine: float
    mean_cosine: float


@dataclass(frozen=True)
class BackendChoice:
    """The backend that encodes, and why: shown by `indexer status` and `/health`."""

    backend: str
    precision: str
    reason: str
    source: str  # "explicit" (precision given), "device" (GPU rule), "calibrated" (measured now), "cache"
    measurements: dict[str, Measurement] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backend_name(fused: bool, precision: str) -> str:
    """The backend that runs `precision`: fused for T5 encoders (fast_t5.supports), Hugging Face otherwise."""
    return f"{'fused' if fused else 'hf'}-{precision}"


def make_forward(model: nn.Module, backend: str, share_weights: bool = True) -> Forward:
    """(input_ids, attention_mask) -> float32 last hidden states, computed by `backend`.

    share_weights=True lets a fused backend re-point the Hugging Face modules at its (possibly bf16) tensors,
    so the weights exist once; calibration builds with False so that candidates do not convert each other.
    Raises ValueError when the backend cannot run here (e.g. a torch without int8 quantization).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown encoder backend '{backend}' (known: {', '.join(BACKENDS)})")
    precision = BACKENDS[backend][0]
    if backend.startswith("fused-"):
        fast = fast_t5.FastT5Encoder(
            model,
            dtype=torch.bfloat16 if precision == "bf16" else torch.float32,
            quantize_int8=precision == "int8",
            share_weights=share_weights,
        )
        return fast.forward
    if precision == "int8":
        model = fast_t5.quantize_int8_dynamic(model)  # a quantized copy: the original keeps its fp32 weights

    def hugging_face(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        autocast = torch.autocast(device_type=input_ids.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        with autocast:
            return model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()

    return hugging_face


def explicit_choice(fused: bool, precision: str, device: torch.device) -> BackendChoice:
    """The backend for a precision the user named: no measurement, their choice stands."""
    name = backend_name(fused, precision)
    return BackendChoice(name, precision, f"precision {precision} was asked for ({device.type})", "explicit")


def gpu_choice(fused: bool) -> BackendChoice:
    """On a GPU: bf16 where supported (T5 overflows in fp16), else fp32; int8 quantization is CPU-only."""
    if torch.cuda.is_bf16_supported():
        return BackendChoice(backend_name(fused, "bf16"), "bf16", "precision auto: CUDA GPU with bf16", "device")
    return BackendChoice(backend_name(fused, "fp32"), "fp32", "precision auto: CUDA GPU without bf16", "device")


def candidates(fused: bool, cpu: CpuFeatures) -> tuple[list[str], dict[str, str]]:
    """CPU backends worth measuring, the exact fp32 reference first, and the ones left out with the reason."""
    names = [backend_name(fused, "fp32")]
    skipped: dict[str, str] = {}
    bf16 = backend_name(fused, "bf16")
    if cpu.native_bf16:
        names.append(bf16)
    else:
        skipped[bf16] = "no native bf16 on this CPU (or ONEDNN_MAX_CPU_ISA limits it): emulated bf16 is slower"
    int8 = backend_name(fused, "int8")
    if "fbgemm" in torch.backends.quantized.supported_engines:
        names.append(int8)
    else:
        skipped[int8] = f"torch {torch.__version__} has no FBGEMM int8 engine"
    return names, skipped


# Tokens per text: the accuracy batch keeps whole passages (up to a typical 64-token chunk and a bit more), the
# timing batch is shorter so that calibration stays a few seconds on a 2-core CPU (16 x 48 = 768 tokens: GEMMs
# of the shape a build runs, near the hardware's peak).
ACCURACY_TOKENS = 96
TIMING_TOKENS = 48


def calibration_batch(
    tokenizer: Any, normalize: Callable[[str], str], max_tokens: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """The calibration texts as one padded batch, each cut at `max_tokens`."""
    texts = [normalize(t) for t in CALIBRATION_TEXTS]
    batch = tokenizer(texts, truncation=True, max_length=max_tokens, padding="longest", return_tensors="pt")
    return {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}


def _embed(forward: Forward, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Mean-pooled unit vectors of the batch, and the seconds the forward pass took."""
    mask = batch["attention_mask"]
    started = time.perf_counter()
    hidden = forward(batch["input_ids"], mask)
    seconds = time.perf_counter() - started
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1), seconds


def measure(
    model: nn.Module,
    names: Sequence[str],
    accuracy_batch: dict[str, torch.Tensor],
    timing_batch: dict[str, torch.Tensor],
    repeats: int = CALIBRATION_REPEATS,
) -> dict[str, Measurement]:
    """Compare every candidate's embeddings of `accuracy_batch` with the first candidate's, the exact fp32
    reference (this run also warms the kernels up), then time `timing_batch` (runs interleaved, best of
    `repeats`, so that a burst of other work slows every candidate alike).

    The reference is built on the model's own weights (fp32 fusion changes no values); the others on copies.
    A candidate that cannot be built here (ValueError) is left out and logged.
    """
    forwards: dict[str, Forward] = {names[0]: make_forward(model, names[0], share_weights=True)}
    for name in names[1:]:
        try:
            forwards[name] = make_forward(model, name, share_weights=False)
        except ValueError as exc:
            log.warning("encoder backend %s cannot run here and is not considered: %s", name, exc)
    times: dict[str, list[float]] = {name: [] for name in forwards}
    vectors: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for name, forward in forwards.items():
            vectors[name], _ = _embed(forward, accuracy_batch)
            _embed(forward, timing_batch)  # warm-up for this shape: kernels, packing, allocator
        for _ in range(repeats):
            for name, forward in forwards.items():
                times[name].append(_embed(forward, timing_batch)[1])
    reference = vectors[names[0]]
    result = {}
    for name in forwards:
        cosines = (vectors[name] * reference).sum(dim=1)
        result[name] = Measurement(
            seconds=round(min(times[name]), 5),
            min_cosine=round(float(cosines.min()), 6),
            mean_cosine=round(float(cosines.mean()), 6),
        )
    del forwards
    gc.collect()
    return result


def choose(reference: str, measured: dict[str, Measurement], skipped: dict[str, str]) -> tuple[str, str]:
    """The fastest backend that meets the accuracy floor and beats exact fp32 by SPEED_MARGIN; with the
    reason, one sentence naming the figures."""
    base = measured[reference]
    best, best_seconds = reference, base.seconds
    notes = []
    for name, m in measured.items():
        if name == reference:
            continue
        speedup = base.seconds / max(m.seconds, 1e-9)
        if m.min_cosine < APPROXIMATE_MIN_COSINE or m.mean_cosine < APPROXIMATE_MEAN_COSINE:
            notes.append(
                f"{name} {speedup:.2f}x but below the accuracy floor "
                f"(min cosine {m.min_cosine:.5f} < {APPROXIMATE_MIN_COSINE} or mean {m.mean_cosine:.5f} "
                f"< {APPROXIMATE_MEAN_COSINE})"
            )
        elif speedup < SPEED_MARGIN:
            notes.append(f"{name} only {speedup:.2f}x (needs {SPEED_MARGIN}x to replace exact fp32)")
        else:
            notes.append(f"{name} {speedup:.2f}x, min cosine {m.min_cosine:.5f}")
            if m.seconds < best_seconds:
                best, best_seconds = name, m.seconds
    notes += [f"{name} not measured: {why}" for name, why in skipped.items()]
    if best == reference:
        head = f"{reference} (exact): no faster backend meets the accuracy floor"
    else:
        chosen = measured[best]
        head = (
            f"{best}: {base.seconds / chosen.seconds:.2f}x exact fp32 on the calibration batch, "
            f"min cosine {chosen.min_cosine:.5f} vs fp32"
        )
    return best, (head + "; " + "; ".join(notes)) if notes else head


# -- the cache ------------------------------------------------------------------------------------------


def cache_path() -> Path:
    """$INDEXER_CACHE_DIR, else $XDG_CACHE_HOME/jp-docsearch, else ~/.cache/jp-docsearch; then CACHE_FILE."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser() / CACHE_FILE
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "jp-docsearch" / CACHE_FILE


def model_key(model_id: str) -> str:
    """The model's identity for the cache: its files' names, sizes and times where they are on this machine
    (a local folder, the bundled MiniLM, or a Hugging Face cache snapshot), else the id alone."""
    from search.models.hub import local_model_dir

    local = local_model_dir(model_id)
    if local is None:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_id, "config.json")
        local = Path(cached).parent if isinstance(cached, str) else None
    return model_fingerprint(local, model_id)


def cached_choice(model_id: str, device: torch.device | str = "cpu") -> BackendChoice | None:
    """The choice precision `auto` made for this model on this CPU (the same instruction-set limits, torch
    and threads), without loading the model; None before its first use here. For `indexer status`."""
    return load_cached(cache_key(model_key(model_id), torch.device(device), this_cpu()))


def model_fingerprint(model_dir: Path | None, model_id: str) -> str:
    """The model id plus the names, sizes and modification times of its files: new weights under the same
    name are measured again."""
    if model_dir is None or not model_dir.is_dir():
        return model_id
    parts = [str(model_dir.resolve())]
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin", ".model"}:
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return f"{model_id}|{'|'.join(parts)}"


def cache_key(model_key: str, device: torch.device, cpu: CpuFeatures) -> str:
    return "\n".join(
        [
            f"v{CALIBRATION_VERSION}",
            model_key,
            f"{device.type} torch {torch.__version__} threads {torch.get_num_threads()}",
            cpu.key(),
        ]
    )


def _read_cache(path: Path) -> dict[str, Any]:
    """The cache's entries; an unreadable or malformed file is reported and then measured over."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("encoder backend cache %s is unreadable (%s): calibrating again and rewriting it", path, exc)
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        log.warning("encoder backend cache %s has no 'entries' object: calibrating again and rewriting it", path)
        return {}
    return entries


def load_cached(key: str) -> BackendChoice | None:
    """The cached choice for this key, or None."""
    path = cache_path()
    entry = _read_cache(path).get(key)
    if entry is None:
        return None
    try:
        measurements = {name: Measurement(**m) for name, m in entry.get("measurements", {}).items()}
        choice = BackendChoice(
            backend=entry["backend"],
            precision=entry["precision"],
            reason=entry["reason"],
            source="cache",
            measurements=measurements,
        )
    except (KeyError, TypeError) as exc:
        log.warning("encoder backend cache %s: malformed entry (%s): calibrating again", path, exc)
        return None
    if choice.backend not in BACKENDS:
        log.warning("encoder backend cache %s names unknown backend %r: calibrating again", path, choice.backend)
        return None
    return choice


def store_cached(key: str, choice: BackendChoice) -> None:
    """Add the choice to the cache (atomically). A cache that cannot be written costs a calibration per
    process, not a failure: it is logged with the variable that moves it."""
    path = cache_path()
    entries = _read_cache(path)
    entries[key] = {k: v for k, v in choice.as_dict().items() if k != "source"}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"entries": entries}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        log.warning(
            "could not write the encoder backend cache %s (%s); set %s to a writable folder to keep the choice",
            path,
            exc,
            CACHE_ENV,
        )


def calibrate(
    model: nn.Module,
    model_key: str,
    tokenizer: Any,
    normalize: Callable[[str], str],
    max_length: int,
    device: torch.device,
) -> BackendChoice:
    """precision `auto` on a CPU: the cached choice for this model and CPU, else measure, choose, cache."""
    cpu = this_cpu()
    key = cache_key(model_key, device, cpu)
    cached = load_cached(key)
    if cached is not None:
        return cached
    names, skipped = candidates(fast_t5.supports(model), cpu)
    started = time.perf_counter()
    accuracy = calibration_batch(tokenizer, normalize, min(max_length, ACCURACY_TOKENS), device)
    timing = calibration_batch(tokenizer, normalize, min(max_length, TIMING_TOKENS), device)
    measured = measure(model, names, accuracy, timing)
    best, reason = choose(names[0], measured, skipped)
    choice = BackendChoice(best, BACKENDS[best][0], reason, "calibrated", measured)
    log.info("encoder backend %s chosen in %.1f s: %s", best, time.perf_counter() - started, reason)
    store_cached(key, choice)
    return choice
