"""Tiny random models saved as ordinary Hugging Face directories.

They are loaded through the exact `from_pretrained` path the real models use, so tests exercise the real
loading, tokenization and pooling code; only the weights are random.
"""

from __future__ import annotations

import json
from pathlib import Path

import sentencepiece as spm
from transformers import T5Config, T5ForConditionalGeneration, T5Model

FIXTURES = Path(__file__).parent / "fixtures"
EXTRA_IDS = 100


def train_sentencepiece(out_dir: Path, vocab_size: int = 400, corpus: Path | None = None) -> Path:
    """A unigram SentencePiece model with T5's special ids (pad 0, eos 1, unk 2, no BOS)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / "spiece"
    spm.SentencePieceTrainer.train(
        input=str(corpus or FIXTURES / "tokenizer_corpus.txt"),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    (out_dir / "spiece.vocab").unlink()
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "T5Tokenizer",
                "extra_ids": EXTRA_IDS,
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "model_max_length": 512,
            }
        ),
        encoding="utf-8",
    )
    return out_dir / "spiece.model"


def _t5_config(vocab_size: int, **overrides: object) -> T5Config:
    settings: dict[str, object] = {
        "vocab_size": vocab_size,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_decoder_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "feed_forward_proj": "relu",
        "dropout_rate": 0.0,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }
    settings.update(overrides)
    return T5Config(**settings)


def make_sentence_t5(out_dir: Path, seed: int = 0) -> Path:
    """A tiny Sentence-T5-shaped checkpoint (full T5Model, like sonoisa's) with a real tokenizer."""
    import torch

    spiece = train_sentencepiece(out_dir)
    processor = spm.SentencePieceProcessor(model_file=str(spiece))
    torch.manual_seed(seed)
    T5Model(_t5_config(processor.get_piece_size() + EXTRA_IDS)).save_pretrained(out_dir)
    return out_dir


def make_seq2seq_t5(out_dir: Path, seed: int = 0, **overrides: object) -> Path:
    """A tiny T5ForConditionalGeneration (question generation / QA stand-in) with a real tokenizer."""
    import torch

    spiece = train_sentencepiece(out_dir)
    processor = spm.SentencePieceProcessor(model_file=str(spiece))
    torch.manual_seed(seed)
    config = _t5_config(processor.get_piece_size() + EXTRA_IDS, **overrides)
    T5ForConditionalGeneration(config).save_pretrained(out_dir)
    return out_dir


def make_seq2seq_t5_english(out_dir: Path, seed: int = 0) -> Path:
    """Like make_seq2seq_t5, but its tokenizer learned English lines only: kana and kanji become <unk>,
    as with FLAN-T5's real vocabulary (for the <unk> guard)."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    lines = (FIXTURES / "tokenizer_corpus.txt").read_text(encoding="utf-8").splitlines()
    english = [line for line in lines if line.isascii() and line.strip()]
    corpus = out_dir / "english_corpus.txt"
    corpus.write_text("\n".join(english) + "\n", encoding="utf-8")
    spiece = train_sentencepiece(out_dir, vocab_size=200, corpus=corpus)
    corpus.unlink()
    processor = spm.SentencePieceProcessor(model_file=str(spiece))
    torch.manual_seed(seed)
    T5ForConditionalGeneration(_t5_config(processor.get_piece_size() + EXTRA_IDS)).save_pretrained(out_dir)
    return out_dir


def make_cross_encoder(out_dir: Path, texts: list[str], seed: int = 0) -> Path:
    """A tiny random BERT sequence classifier with one output (a reranking cross-encoder's shape) and a
    character-level WordPiece vocabulary of `texts`, saved like a downloaded reranker."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    characters = sorted({c for text in texts for c in text if not c.isspace()})
    vocab = out_dir / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=False).save_pretrained(out_dir)
    config = BertConfig(
        vocab_size=5 + len(characters),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(out_dir)
    return out_dir
