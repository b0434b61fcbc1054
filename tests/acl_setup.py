"""An index with access rules and an app with identities, shared by the access-control tests.

Documents: tests/generation_corpus.py's five (the tiny models read them), of which 人事/ is for `hr` only and
経理/ for `acct` only; everything else is in `all`. Keys: one per identity of the keys file, and the single key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from generation_corpus import write_documents
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.generation import configure_generation
from search.access.identities import parse_identities
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher

RULES = """
# who may read what
[[rule]]
prefix = "人事/"
groups = ["hr"]

[[rule]]
glob = "経理/**"
groups = ["acct"]
"""
SINGLE_KEY = "acl-single-key-7f3a"
KEYS = {"hr-key-0b1c": ("hanako", "hr"), "acct-key-9d2e": ("ichiro", "acct"), "staff-key-4e5f": ("jiro", "staff")}
HIDDEN_FROM = {"hr": "人事/", "acct": "経理/"}
"""A path prefix of documents each group's members see and nobody else does."""


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def keys_file_text(keys: dict[str, tuple[str, str]] = KEYS) -> str:
    return "".join(f"{sha256(key)} {name} {groups}\n" for key, (name, groups) in keys.items())


def build_acl_index(root: Path, encoder: Encoder, rules: str = RULES) -> Path:
    docs = write_documents(root / "docs")
    (root / "acl.toml").write_text(rules, encoding="utf-8")
    summary = build(docs, root / "index", encoder, acl=root / "acl.toml")
    assert summary.files_failed == []
    return root / "index"


def acl_app(index: Path, encoder: Encoder, seq2seq: Path, **settings: Any) -> Any:
    """The app over `index` with the single key and the keys file, and the tiny generation models."""
    app = create_app(
        ApiSettings(
            index_dir=index,
            api_key=SINGLE_KEY,
            api_keys=parse_identities(keys_file_text()),
            device="cpu",
            precision="fp32",
            **settings,
        ),
        searcher=Searcher(index, encoder=encoder),
    )
    configure_generation(
        app,
        GenerationSettings(
            qa_model_ja=str(seq2seq),
            qa_model_en=str(seq2seq),
            qg_model=str(seq2seq),
            device="cpu",
            precision="fp32",
            max_new_tokens=4,
            num_beams=1,
        ),
    )
    return app
