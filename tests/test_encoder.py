from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, T5EncoderModel

from search.errors import ModelUnavailableError
from search.models.encoder import Encoder, mean_pool

TEXTS = [
    "有給休暇は何日ですか",
    "パスワードを忘れました。ヘルプデスクに連絡します。",
    "経費",
    "The weather today is rainy.",
]


def model_card_embeddings(model_dir: Path, texts: list[str]) -> np.ndarray:
    """The sonoisa model card's reference loop, written independently of search.models.encoder."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = T5EncoderModel.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 2):
            batch = tokenizer(texts[i : i + 2], padding="longest", truncation=True, max_length=128, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.size()).float()
            pooled = torch.sum(hidden * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.vstack(out)


def test_embeddings_equal_the_model_card_formula(tiny_model_dir: Path, tiny_encoder: Encoder) -> None:
    ours = tiny_encoder.encode(TEXTS)
    reference = model_card_embeddings(tiny_model_dir, TEXTS)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_mean_pool_counts_eos_and_excludes_padding() -> None:
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0]]


def test_tokenizer_appends_eos_and_keeps_japanese(tiny_encoder: Encoder) -> None:
    ids = tiny_encoder.tokenizer("有給休暇")["input_ids"]
    assert ids[-1] == 1
    assert 2 not in ids, "Japanese characters of the training corpus must not become <unk>"


def test_batching_and_order_do_not_change_vectors(tiny_model_dir: Path) -> None:
    one_by_one = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", batch_size=1).encode(TEXTS)
    batched = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", batch_size=3).encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)


def test_explicit_max_length_truncates(tiny_model_dir: Path) -> None:
    short = Encoder(str(tiny_model_dir), device="cpu", precision="fp32", max_length=8)
    long_text = "有給休暇は入社から六か月を経過した日に十日付与されます" * 3
    assert np.allclose(short.encode([long_text]), short.encode([long_text + "追加の文章"]), atol=1e-6)


def test_empty_input_gives_empty_matrix(tiny_encoder: Encoder) -> None:
    assert tiny_encoder.encode([]).shape == (0, tiny_encoder.dimension)


def test_unavailable_hub_model_fails_fast_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[object] = []  # fast because the network is never tried (the conftest sets HF_HUB_OFFLINE)

    def no_network(*args: object, **kwargs: object) -> None:
        lookups.append(args[0])
        raise OSError("the test forbids network access")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ModelUnavailableError) as info:
        Encoder("example-org/no-such-model", device="cpu")
    message = str(info.value)
    assert "example-org/no-such-model" in message and "setting `model`" in message and "HF_HUB_OFFLINE" in message
    assert lookups == [], "offline, no host name may be looked up"


def test_missing_local_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="no such directory") as info:
        Encoder(str(tmp_path / "missing-model"), device="cpu")
    assert "huggingface-cli download" not in str(info.value), "a folder path cannot be downloaded from the hub"


def test_real_minilm_ranks_a_paraphrase_above_unrelated_text(minilm_dir: Path) -> None:
    encoder = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    assert encoder.dimension == 384
    query, paraphrase, *unrelated = encoder.encode(
        [
            "How can I change my forgotten login password?",
            "Steps to reset the password of your account if you cannot remember it",
            "The cafeteria serves lunch from noon until two o'clock",
            "Quarterly revenue grew by ten percent compared with last year",
        ]
    )
    assert query @ paraphrase > max(query @ u for u in unrelated) + 0.2
