"""A lean inference forward pass for T5 encoders, sharing the Hugging Face module's weights.

Why: on a CPU the Hugging Face T5 encoder spends about half of a bf16 forward pass outside the matrix
multiplications (per-layer re-combination of the position bias with the mask over a (batch, heads, L, L) tensor,
separate q/k/v projections, dtype round trips, non-fused norms). This module computes the same function with
fewer, larger operations:

- q, k and v are one (3 * inner, d_model) projection;
- the relative position bias and the padding mask are combined once per batch, not once per layer, and
  enter the attention scores through one batched GEMM (baddbmm) instead of a masked SDPA call;
- the residual stream and the RMS norms stay in float32 (as under autocast), only the matmuls (and attention)
  run in the compute dtype, so bf16 loses no more accuracy than autocast does;
- linear layers may be int8 dynamically quantized modules (`torch.ao.quantization.quantize_dynamic`).

The Hugging Face model's linear layers are re-pointed at the (possibly bf16) tensors used here, so building
the fast path does not double the weights in memory; that model then runs in bf16 under autocast only.

Only the configurations it understands are accepted (`supports`); everything else keeps the Hugging Face
forward pass. In float32 it matches the Hugging Face output to rounding (tests check it), so it is also the
exact fp32 backend (search.models.backend): nothing in the fusion needs bf16, and on a CPU without native bf16
it is what makes fp32 fast.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED_ACTIVATIONS = {"relu", "gated-gelu"}


def supports(model: nn.Module) -> bool:
    """True for encoder-only T5 stacks with the feed-forward variants implemented here."""
    config = getattr(model, "config", None)
    return config is not None and getattr(model, "encoder", None) is not None and supports_config(config)


def supports_config(config: object) -> bool:
    """True for a T5/mT5 configuration this module can run (decided before the weights load)."""
    return (
        getattr(config, "model_type", None) in {"t5", "mt5"}
        and getattr(config, "feed_forward_proj", None) in SUPPORTED_ACTIVATIONS
        and not getattr(config, "is_decoder", False)
    )


class _Layer(nn.Module):
    def __init__(self, block: nn.Module, dtype: torch.dtype, gated: bool, share_weights: bool) -> None:
        super().__init__()
        attention = block.layer[0].SelfAttention
        ff = block.layer[1].DenseReluDense
        self.norm1 = block.layer[0].layer_norm.weight.detach().float()
        self.norm2 = block.layer[1].layer_norm.weight.detach().float()
        self.eps = float(block.layer[0].layer_norm.variance_epsilon)
        self.heads = int(attention.n_heads)
        self.head_dim = int(attention.key_value_proj_dim)
        self.qkv = _linear(torch.cat([attention.q.weight, attention.k.weight, attention.v.weight]), dtype)
        self.o = _linear(attention.o.weight, dtype)
        self.gated = gated
        self.wi = _linear(torch.cat([ff.wi_0.weight, ff.wi_1.weight]) if gated else ff.wi.weight, dtype)
        self.wo = _linear(ff.wo.weight, dtype)
        self.dtype = dtype
        if share_weights:
            self._share_with(attention, ff, gated)

    def _share_with(self, attention: nn.Module, ff: nn.Module, gated: bool) -> None:
        """Point the Hugging Face modules at the same (possibly bf16) tensors: one copy of the weights."""
        inner = attention.q.weight.shape[0]
        _share(attention.q, self.qkv.weight[:inner])
        _share(attention.k, self.qkv.weight[inner : 2 * inner])
        _share(attention.v, self.qkv.weight[2 * inner :])
        _share(attention.o, self.o.weight)
        if gated:
            half = ff.wi_0.weight.shape[0]
            _share(ff.wi_0, self.wi.weight[:half])
            _share(ff.wi_1, self.wi.weight[half:])
        else:
            _share(ff.wi, self.wi.weight)
        _share(ff.wo, self.wo.weight)

    def forward(
        self, hidden: torch.Tensor, bias: torch.Tensor, tokens: torch.Tensor, padded: torch.Tensor
    ) -> torch.Tensor:
        """`hidden`: the real tokens only, packed (tokens, d_model); `tokens`: their places in the padded
        (batch * length) layout that only attention needs; `padded`: a (batch, length, 3 * inner) buffer of
        the projections' dtype whose padding rows are zero, shared by every layer (each overwrites only
        the real rows, so the buffer is zeroed once per forward pass, not once per layer)."""
        batch, length = padded.shape[:2]
        x = rms_norm(hidden, self.norm1, self.eps).to(self.dtype)
        qkv = padded.view(batch * length, -1).index_copy_(0, tokens, self.qkv(x))
        qkv = qkv.view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = (t.reshape(batch * self.heads, length, self.head_dim) for t in qkv)
        # T5 does not scale the scores. bias + q k^T in one batched GEMM; on a CPU this beats
        # scaled_dot_product_attention with a float mask by 1.4x (short texts) to 3x (300 tokens).
        scores = torch.baddbmm(bias, q, k.transpose(1, 2))
        context = torch.bmm(torch.softmax(scores, dim=-1), v)
        context = context.view(batch, self.heads, length, self.head_dim).transpose(1, 2).reshape(batch * length, -1)
        hidden.add_(self.o(context.index_select(0, tokens)))  # in place: this forward pass's own tensor
        x = rms_norm(hidden, self.norm2, self.eps).to(self.dtype)
        inner = self.wi(x)
        if self.gated:
            gate, up = inner.chunk(2, dim=-1)
            inner = F.gelu(gate, approximate="tanh") * up
        else:
            inner = torch.relu_(inner)
        return hidden.add_(self.wo(inner))


def _linear(weight: torch.Tensor, dtype: torch.dtype) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=dtype, device=weight.device)
    layer.weight = nn.Parameter(weight.detach().to(dtype), requires_grad=False)
    return layer


def quantize_int8_dynamic(module: nn.Module) -> nn.Module:
    """Linear layers to int8 weights with per-output-channel scales (fbgemm; VNNI where the CPU has it).

    Per-channel scales: on the sonoisa architecture per-tensor scales gave a minimum cosine of 0.9990 against
    float32, per-channel 0.9995, for ~7% more time (benchmarks/encode.py). torch.ao.quantization warns that
    it is deprecated in favour of torchao; it still works in the torch versions pyproject allows.
    """
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:  # a future torch without torch.ao.quantization
        raise ValueError(f"int8 dynamic quantization is not available in torch {torch.__version__}") from exc
    with warnings.catch_warnings():
        # Only around this call: the deprecation notices of torch.ao.quantization and quantized tensors.
        warnings.filterwarnings("ignore", message=r"(?s).*quantiz.*deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"(?s).*quantiz.*deprecated", category=UserWarning)
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _share(module: nn.Module, weight: torch.Tensor) -> None:
    module.weight = nn.Parameter(weight, requires_grad=False)


def rms_norm(hidden: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """T5's layer norm (no mean, no bias), accumulated in float32; torch's fused kernel where it exists
    (about 10% less CPU time per forward pass than the five separate operations)."""
    hidden = hidden.float()
    if hasattr(F, "rms_norm"):  # torch >= 2.4
        return F.rms_norm(hidden, (hidden.shape[-1],), weight, eps)
    return weight * (hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + eps))


class FastT5Encoder(nn.Module):
    """Inference-only T5 encoder forward pass over a loaded Hugging Face T5 encoder's weights.

    `dtype` is the compute dtype of the matrix multiplications (float32 or bfloat16); `quantize_int8` swaps
    the linear layers for int8 dynamically quantized ones (fbgemm, with VNNI where the CPU has it).
    `share_weights=False` leaves the Hugging Face modules untouched (the fused weights are new tensors): the
    backend calibration builds several candidates from one model and must not convert the others' weights.
    """

    def __init__(
        self,
        model: nn.Module,
        dtype: torch.dtype = torch.float32,
        quantize_int8: bool = False,
        share_weights: bool = True,
    ) -> None:
        super().__init__()
        if not supports(model):
            raise ValueError("FastT5Encoder supports T5/mT5 encoders with relu or gated-gelu feed-forward layers")
        stack = model.encoder
        config = model.config
        self.config = config
        self.dtype = dtype
        self.embed = stack.embed_tokens
        first = stack.block[0].layer[0].SelfAttention
        self._bias_module = first
        self.final_norm = stack.final_layer_norm.weight.detach().float()
        self.eps = float(stack.final_layer_norm.variance_epsilon)
        gated = config.feed_forward_proj == "gated-gelu"
        self.layers = nn.ModuleList(_Layer(block, dtype, gated, share_weights) for block in stack.block)
        if quantize_int8:
            if dtype != torch.float32:
                raise ValueError("int8 dynamic quantization starts from float32 weights")
            self.layers = quantize_int8_dynamic(self.layers)
        self.eval()

    def position_bias(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch * heads, L, L) relative position bias plus the key padding mask, once per batch."""
        batch, length = input_ids.shape
        bias = self._bias_module.compute_bias(length, length, device=input_ids.device).float()
        masked = attention_mask[:, None, None, :] == 0
        bias = bias.masked_fill(masked, torch.finfo(torch.float32).min)
        return bias.to(self.dtype).reshape(batch * bias.shape[1], length, length)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (batch, L, d_model) in float32 (zeros at padding positions).

        Every linear layer, norm and residual runs on the real tokens only, packed: padding is ~11% of a
        length-sorted batch of JSQuAD paragraphs and cost as much in every projection; only attention, which
        needs the (batch, L) layout, sees it."""
        batch, length = input_ids.shape
        tokens = attention_mask.reshape(-1).nonzero().squeeze(1)
        hidden = self.embed(input_ids.reshape(-1).index_select(0, tokens)).float()  # new tensor: added to in place
        bias = self.position_bias(input_ids, attention_mask)
        # Projections come out in the compute dtype (float32 from int8 dynamic quantization's layers too).
        inner = self.config.num_heads * self.config.d_kv
        padded = hidden.new_zeros(batch, length, 3 * inner, dtype=self.dtype)
        for layer in self.layers:
            hidden = layer(hidden, bias, tokens, padded)
        hidden = rms_norm(hidden, self.final_norm, self.eps)
        out = hidden.new_zeros(batch * length, hidden.shape[-1]).index_copy_(0, tokens, hidden)
        return out.view(batch, length, -1)
