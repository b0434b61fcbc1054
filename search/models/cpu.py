"""What this CPU can run fast, including the limits a user (or a benchmark) put on the math libraries.

Why: which encoder backend is fastest depends on the instruction sets the kernels really use, not only on what
the silicon has. PyTorch, oneDNN, MKL and FBGEMM each read an environment variable that caps their instruction
set; with all four set to AVX2, an AVX-512 machine runs the kernels an AVX2-only server runs (this is how
benchmarks/encode.py measures that kind of CPU). Native bf16 counts only where oneDNN is allowed to use it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The variables that cap the kernels' instruction set (PyTorch's own kernels, oneDNN: bf16 matmuls, MKL: fp32
# matmuls, FBGEMM: int8 matmuls). They are part of a backend choice's cache key and are recorded by benchmarks.
ISA_LIMIT_VARIABLES = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
    "FBGEMM_ENABLE_INSTRUCTIONS",
)
# Flags that change which kernels run (and how fast): recorded, and part of the cache key.
RELEVANT_FLAGS = (
    "avx2",
    "fma",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)
# oneDNN ISA names (ONEDNN_MAX_CPU_ISA) under which its bf16 kernels use native bf16 instructions.
ONEDNN_BF16_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512"}
ONEDNN_ANY_ISA = {"", "ALL", "DEFAULT"}


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's model name and relevant flags, and the instruction-set limits in the environment."""

    model_name: str
    flags: tuple[str, ...]
    isa_limits: tuple[tuple[str, str], ...]

    @property
    def native_bf16(self) -> bool:
        """bf16 pays off only with native bf16 dot products (AVX512-BF16 or AMX) that oneDNN may use;
        elsewhere bf16 matmuls are emulated and ~4x slower than fp32."""
        if not ({"avx512_bf16", "amx_bf16"} & set(self.flags)):
            return False
        onednn = dict(self.isa_limits).get("ONEDNN_MAX_CPU_ISA", "").upper()
        return onednn in ONEDNN_ANY_ISA or onednn in ONEDNN_BF16_ISAS

    @property
    def int8_kernels(self) -> str:
        """The instruction set FBGEMM's int8 GEMMs use: VNNI accumulates int8 products directly, AVX2 goes
        through 16-bit intermediates (about half the rate)."""
        forced = dict(self.isa_limits).get("FBGEMM_ENABLE_INSTRUCTIONS", "").upper()
        flags = set(self.flags)
        if forced == "AVX2" or "avx512f" not in flags:
            return "avx2" if "avx2" in flags else "none"
        if forced in {"AVX512", "AVX512_256"} or "avx512_vnni" not in flags:
            return "avx512"
        return "avx512-vnni"

    @property
    def emulated(self) -> bool:
        """True when an environment variable caps the kernels below what the CPU has."""
        return bool(self.isa_limits)

    def key(self) -> str:
        """Identifies the kernels a calibration measured: the same CPU model and limits run at the same speed."""
        limits = ",".join(f"{k}={v}" for k, v in self.isa_limits)
        return f"{self.model_name}|{' '.join(self.flags)}|{limits}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "flags": list(self.flags),
            "isa_limits": dict(self.isa_limits),
            "native_bf16": self.native_bf16,
            "int8_kernels": self.int8_kernels,
            "emulated": self.emulated,
        }


def _read_cpuinfo(path: Path) -> tuple[str, set[str]]:
    """Model name and flags of the first processor in /proc/cpuinfo (empty on systems without it)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return "", set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if model and flags:
            break
    return model, flags


def detect(cpuinfo: Path = Path("/proc/cpuinfo"), environ: dict[str, str] | None = None) -> CpuFeatures:
    """This machine's features; `environ` (default os.environ) supplies the instruction-set limits."""
    env = os.environ if environ is None else environ
    model, flags = _read_cpuinfo(cpuinfo)
    limits = tuple((name, env[name].strip()) for name in ISA_LIMIT_VARIABLES if env.get(name, "").strip())
    return CpuFeatures(
        model_name=model or "unknown",
        flags=tuple(f for f in RELEVANT_FLAGS if f in flags),
        isa_limits=limits,
    )


@functools.lru_cache(maxsize=1)
def this_cpu() -> CpuFeatures:
    """detect() once per process: the libraries read their limits at start-up, so they cannot change later."""
    return detect()
