"""The lean T5 forward pass (search.models.fast_t5) computes what the Hugging Face encoder computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, T5Config, T5EncoderModel

from search.errors import SearchError
from search.models.encoder import Encoder
from search.models.fast_t5 import FastT5Encoder, supports

TEXTS = [
    "有給休暇は何日ですか",
    "パスワードを忘れました。ヘルプデスクに連絡します。",
    "経費",
    "経費精算の締め日は毎月二十五日です。領収書の原本を経理部に提出してください。" * 2,
]


def tiny_config(activation: str) -> T5Config:
    return T5Config(
        vocab_size=200,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj=activation,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    lengths = [3, 9, 17]
    ids = torch.zeros((3, 17), dtype=torch.long)
    mask = torch.zeros((3, 17), dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.from_numpy(rng.integers(3, 200, size=length))
        mask[row, :length] = 1
    return ids, mask


@pytest.mark.parametrize("activation", ["relu", "gated-gelu"])
def test_fp32_matches_hugging_face(activation: str) -> None:
    torch.manual_seed(0)
    model = T5EncoderModel(tiny_config(activation)).eval()
    ids, mask = padded_batch()
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=mask).last_hidden_state
        fast = FastT5Encoder(model)(ids, mask)
        # The Hugging Face module now shares the fused weights and still computes the same thing.
        again = model(input_ids=ids, attention_mask=mask).last_hidden_state
    valid = mask.bool()
    torch.testing.assert_close(fast[valid], expected[valid], atol=1e-5, rtol=1e-5)
    assert not fast[~valid].any(), "padding is never computed: its positions stay zero"
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=1e-5)


def test_bf16_and_int8_stay_close_to_fp32() -> None:
    torch.manual_seed(0)
    ids, mask = padded_batch()
    reference = T5EncoderModel(tiny_config("relu")).eval()
    state = reference.state_dict()
    with torch.inference_mode():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        for dtype, int8 in ((torch.bfloat16, False), (torch.float32, True)):
            copy = T5EncoderModel(tiny_config("relu")).eval()
            copy.load_state_dict(state)
            out = FastT5Encoder(copy, dtype=dtype, quantize_int8=int8)(ids, mask)
            assert out.dtype == torch.float32
            cosine = torch.nn.functional.cosine_similarity(out[mask.bool()], expected[mask.bool()], dim=-1)
            assert float(cosine.min()) > 0.99


def test_only_t5_encoders_are_supported(minilm_dir: Path) -> None:
    from transformers import AutoModel

    assert not supports(AutoModel.from_pretrained(minilm_dir))
    assert supports(T5EncoderModel(tiny_config("relu")))


def test_encoder_precisions_agree_with_fp32(tiny_model_dir: Path) -> None:
    fp32 = Encoder(str(tiny_model_dir), device="cpu", precision="fp32").encode(TEXTS)
    for precision in ("bf16", "int8"):
        other = Encoder(str(tiny_model_dir), device="cpu", precision=precision).encode(TEXTS)
        assert np.min(np.sum(fp32 * other, axis=1)) > 0.99, precision
        np.testing.assert_allclose(np.linalg.norm(other, axis=1), 1.0, atol=1e-5)


def test_fused_fp32_is_the_exact_backend(tiny_model_dir: Path) -> None:
    """precision fp32 runs the fused forward pass (the fast path on CPUs without native bf16) and gives the
    model card's vectors: min cosine >= 0.99999 against the Hugging Face forward pass."""
    encoder = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", max_length=64)
    texts = TEXTS * 3 + ["規程" * 40]
    ours = encoder.encode(texts)
    assert encoder.info.backend == "fused-fp32"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = T5EncoderModel.from_pretrained(tiny_model_dir).eval()
    with torch.inference_mode():
        batch = tokenizer(
            [encoder.normalize(t) for t in texts],
            padding="longest",
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert float(np.min(np.sum(ours * reference, axis=1))) >= 0.99999


def test_token_budget_batches_do_not_change_vectors(tiny_model_dir: Path) -> None:
    texts = TEXTS * 5
    wide = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", batch_size=64).encode(texts)
    narrow = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", batch_tokens=24, max_length=24)
    np.testing.assert_allclose(narrow.encode(texts)[: len(TEXTS)], narrow.encode(TEXTS), atol=1e-5)
    assert wide.shape == (len(texts), narrow.dimension)
    # Batches are cut by padded tokens: no batch exceeds the budget unless a single text does.
    lengths = [len(x) for x in AutoTokenizer.from_pretrained(tiny_model_dir)(texts)["input_ids"]]
    for batch in narrow._batches(lengths):
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= narrow.batch_tokens


def test_int8_is_cpu_only() -> None:
    from search.models.encoder import resolve_precision

    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    with pytest.raises(SearchError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))
