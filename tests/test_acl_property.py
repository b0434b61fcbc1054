"""Property: no response ever carries anything of a document outside the caller's groups.

A random corpus (folders, tags, titles) under random access rules, and random identities with random groups,
behind the real app (FastAPI's TestClient, in process, tiny models). Every document carries a unique code word
in its path, its title and its text; the codes of the documents a caller may not see must never appear in the
raw bytes of any response to that caller (JSON, Server-Sent Events, CSV, HTML, Prometheus text), and no id of
such a document or of its passages may appear in any id field. Requests: every endpoint and mode, with
queries made of words of every document (hidden ones included, but never their codes: a caller may always
read back what it sent), filters that point at hidden folders, and ids and paths of hidden documents.

`test_every_endpoint_and_mode_for_every_identity` sweeps the whole matrix once (about 450 requests); the
hypothesis tests draw random requests: 100 in the quick run, 2,000 more in the slow one.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from acl_setup import SINGLE_KEY, sha256
from fastapi.testclient import TestClient
from generation_corpus import corpus_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.generation import configure_generation
from search.access.identities import parse_identities
from search.access.rules import parse_rules
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.storage.store import Store

FOLDERS = ("人事", "経理", "IT", "総務", "legal", "人事/給与")
TAGS = ("confidential", "public", "draft", "incident")
GROUPS = ("hr", "acct", "legal", "sec", "it")
MODES = ("hybrid", "dense", "keyword")
SEED = 1507


def code(rng: random.Random) -> str:
    return "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))


@dataclass
class Doc:
    path: str
    code: str
    tags: list[str]
    groups: set[str] = field(default_factory=set)
    id: int = 0
    passage_ids: set[int] = field(default_factory=set)


@dataclass
class World:
    docs: list[Doc]
    keys: dict[str, set[str] | None]  # key -> groups (None: sees everything)
    client: TestClient
    words: list[str]

    def visible(self, key: str) -> list[Doc]:
        groups = self.keys[key]
        return self.docs if groups is None else [d for d in self.docs if d.groups & (groups | {"all"})]

    def hidden(self, key: str) -> list[Doc]:
        seen = {d.path for d in self.visible(key)}
        return [d for d in self.docs if d.path not in seen]


def write_corpus(root: Path, rng: random.Random) -> list[Doc]:
    lines = [line for line in corpus_lines() if 8 <= len(line) <= 80]
    docs = []
    for _ in range(14):
        c = code(rng)
        tags = rng.sample(TAGS, rng.randint(0, 2))
        doc = Doc(f"{rng.choice(FOLDERS)}/{c}.md", c, tags)
        body = "\n\n".join(rng.sample(lines, rng.randint(2, 4)))
        front = f"---\ntitle: 文書 {c}\ntags: [{', '.join(tags)}]\n---\n"
        target = root / doc.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{front}# 文書 {c}\n\n{body}\n\n管理番号 {c} の文書です。\n", encoding="utf-8")
        docs.append(doc)
    return docs


def random_rules(rng: random.Random) -> str:
    rules = []
    for _ in range(rng.randint(2, 5)):
        kind = rng.choice(("prefix", "glob", "tag"))
        pattern = {
            "prefix": rng.choice(FOLDERS) + "/",
            "glob": rng.choice(("人事/**", "**/給与/**", "legal/*.md", "経理/**")),
            "tag": rng.choice(TAGS),
        }[kind]
        groups = rng.sample(GROUPS, rng.randint(1, 2))
        rules.append(f'[[rule]]\n{kind} = "{pattern}"\ngroups = {json.dumps(groups)}\n')
    return "\n".join(rules)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> Iterator[World]:
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("acl-property")
    docs = write_corpus(root / "docs", rng)
    rules_text = random_rules(rng)
    (root / "acl.toml").write_text(rules_text, encoding="utf-8")
    summary = build(root / "docs", root / "index", tiny_encoder, acl=root / "acl.toml")
    assert summary.files_failed == []
    rules = parse_rules(rules_text)
    store = Store(root / "index")
    by_path = store.documents_by_path()
    for doc in docs:
        doc.groups = set(rules.groups_for(doc.path, doc.tags))
        doc.id = by_path[doc.path].id
        doc.passage_ids = {p.id for p in store.document_passages(doc.id)}
    store.close()
    assert any(d.groups == {"all"} for d in docs) and any(d.groups != {"all"} for d in docs), rules_text

    keys: dict[str, set[str] | None] = {SINGLE_KEY: None}
    lines = []
    for n in range(5):
        key = f"key-{n}-{code(rng)}"
        groups = set(rng.sample(GROUPS, rng.randint(0, 2)))
        keys[key] = groups
        lines.append(f"{sha256(key)} user{n} {','.join(sorted(groups | {'all'}))}")
    app = create_app(
        ApiSettings(
            index_dir=root / "index",
            api_key=SINGLE_KEY,
            api_keys=parse_identities("\n".join(lines)),
            device="cpu",
            precision="fp32",
        ),
        searcher=Searcher(root / "index", encoder=tiny_encoder),
    )
    configure_generation(
        app,
        GenerationSettings(
            qa_model_ja=str(tiny_seq2seq_dir),
            qa_model_en=str(tiny_seq2seq_dir),
            qg_model=str(tiny_seq2seq_dir),
            device="cpu",
            precision="fp32",
            max_new_tokens=4,
            num_beams=1,
        ),
    )
    words = sorted({w for line in corpus_lines()[:32] for w in line.replace("、", " ").replace("。", " ").split()})
    words += ["有給休暇", "経費精算", "パスワード", "文書", "管理番号", "給与", "password", "policy"]
    with TestClient(app) as client:
        yield World(docs, keys, client, words)


# -- one request, and the check of its response ---------------------------------------------------------------


def request(world: World, key: str, endpoint: str, mode: str, query: str, pick: int) -> tuple[str, str, bytes]:
    """Send one request; returns (what was asked, for the message), the echo to ignore, and the raw body."""
    client, auth = world.client, {"X-API-Key": key}
    target = world.docs[pick % len(world.docs)]
    folder = target.path.rsplit("/", 1)[0] + "/"
    filters = [None, {"path_prefix": folder}, {"tags": target.tags[:1]}][pick % 3]
    if endpoint == "search":
        body = {"query": query, "k": 1 + pick % 20, "mode": mode, "offset": pick % 3, "filters": filters}
        response = client.post("/search", json=body, headers=auth)
    elif endpoint == "answer":
        body = {"question": query, "k": 1 + pick % 10, "extractive": mode == "dense", "filters": filters}
        response = client.post("/answer", json=body, headers=auth)
    elif endpoint == "answer/stream":
        response = client.post("/answer/stream", json={"question": query, "k": 3}, headers=auth)
    elif endpoint == "quiz":
        body = {"query": query, "n": 1, "multiple_choice": mode != "keyword", "filters": filters}
        response = client.post("/quiz", json=body, headers=auth)
    elif endpoint == "quiz/document":
        body = {"document": target.path, "n": 1, "multiple_choice": mode != "keyword"}
        response = client.post("/quiz", json=body, headers=auth)
        return f"quiz {target.path}", target.path, response.content
    elif endpoint == "quiz/export":
        quiz = client.post("/quiz", json={"query": query, "n": 2}, headers=auth)
        questions = quiz.json().get("questions") if quiz.status_code == 200 else None
        body = {"questions": questions or [_dummy_question()]}
        response = client.post("/quiz/export?format=csv", json=body, headers=auth)
        return f"export {query}", query, quiz.content + response.content
    elif endpoint == "documents":
        response = client.get(f"/documents?limit={1 + pick % 50}&offset={pick % 4}", headers=auth)
    elif endpoint == "document":
        response = client.get(f"/documents/{target.id}", headers=auth)
    elif endpoint == "passage":
        response = client.get(f"/passages/{min(target.passage_ids or {1})}", headers=auth)
    elif endpoint == "metrics":
        response = client.get("/metrics", headers=auth)
    elif endpoint == "health":
        response = client.get("/health")
    else:
        response = client.get("/")
    assert response.status_code < 500, (endpoint, response.text)
    return f"{endpoint} {mode} {query!r} pick={pick}", query, response.content


def _dummy_question() -> dict[str, Any]:
    return {
        "question": "q",
        "answer": "a",
        "answer_type": "noun",
        "options": [],
        "passage_id": 1,
        "path": "p",
        "title": "t",
        "start": 0,
        "end": 1,
        "answer_start": 0,
        "answer_end": 1,
    }


def ids_in(raw: bytes) -> set[int]:
    """Every integer under a key naming an id, in a JSON body or in the JSON of Server-Sent Events."""
    found: set[int] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, int) and not isinstance(value, bool) and (key == "id" or key.endswith("_id")):
            found.add(value)

    text = raw.decode("utf-8", "replace")
    chunks = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")] or [text]
    for chunk in chunks:
        try:
            walk(json.loads(chunk))
        except ValueError:
            continue
    return found


def assert_nothing_hidden(world: World, key: str, asked: str, echo: str, raw: bytes) -> None:
    hidden = world.hidden(key)
    text = raw.decode("utf-8", "replace").replace(echo, "") if echo else raw.decode("utf-8", "replace")
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    for doc in hidden:
        for needle in (doc.code, doc.path, f"文書 {doc.code}"):
            if needle in echo:
                continue
            assert needle not in text and needle not in escaped, (asked, needle, text[:2000])
    visible_ids = {i for d in world.visible(key) for i in (d.id, *d.passage_ids)}
    hidden_ids = {i for d in hidden for i in (d.id, *d.passage_ids)} - visible_ids
    leaked = ids_in(raw) & hidden_ids
    assert not leaked, (asked, leaked, text[:2000])


ENDPOINTS = (
    "search",
    "answer",
    "answer/stream",
    "quiz",
    "quiz/document",
    "quiz/export",
    "documents",
    "document",
    "passage",
    "metrics",
    "health",
    "page",
)

MODED = {"search", "answer", "answer/stream", "quiz", "quiz/export"}
"""Endpoints whose request has a mode (search mode; extractive or not; multiple choice or not)."""


def test_the_world_hides_something_from_someone(world: World) -> None:
    assert any(world.hidden(key) for key in world.keys)
    assert not world.hidden(SINGLE_KEY)


@pytest.mark.slow
def test_every_endpoint_and_mode_for_every_identity(world: World) -> None:
    """The whole matrix once: each identity, each endpoint, each mode, for a query naming a hidden document's
    words, and for each document's id, passage and path."""
    for key in world.keys:
        for endpoint in ENDPOINTS:
            by_document = endpoint in {"document", "passage", "quiz/document"}
            for mode in MODES if endpoint in MODED else MODES[:1]:
                for pick in range(len(world.docs) if by_document else 2):
                    query = "有給休暇 文書 管理番号" if pick % 2 else "経費精算 パスワード"
                    asked, echo, raw = request(world, key, endpoint, mode, query, pick)
                    assert_nothing_hidden(world, key, asked, echo, raw)


def test_a_hidden_document_answers_exactly_like_a_missing_one(world: World) -> None:
    for key in world.keys:
        for doc in world.hidden(key):
            auth = {"X-API-Key": key}
            for url, missing in ((f"/documents/{doc.id}", "/documents/999999"),
                                 (f"/passages/{min(doc.passage_ids)}", "/passages/999999")):  # fmt: skip
                hidden, absent = world.client.get(url, headers=auth), world.client.get(missing, headers=auth)
                assert hidden.status_code == absent.status_code == 404
                number = url.rsplit("/", 1)[1]
                assert hidden.content.replace(number.encode(), b"N") == absent.content.replace(b"999999", b"N")


def requests_strategy(world_keys: int) -> st.SearchStrategy[tuple[int, str, str, list[int], int]]:
    return st.tuples(
        st.integers(0, world_keys - 1),
        st.sampled_from(ENDPOINTS),
        st.sampled_from(MODES),
        st.lists(st.integers(0, 10_000), min_size=1, max_size=4),
        st.integers(0, 10_000),
    )


def _check_random(world: World, drawn: tuple[int, str, str, list[int], int]) -> None:
    key_index, endpoint, mode, word_picks, pick = drawn
    key = list(world.keys)[key_index]
    query = " ".join(world.words[i % len(world.words)] for i in word_picks)
    asked, echo, raw = request(world, key, endpoint, mode, query, pick)
    assert_nothing_hidden(world, key, asked, echo, raw)


SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@settings(max_examples=100, derandomize=True, **SETTINGS)
@given(drawn=requests_strategy(6))
def test_random_requests_never_reveal_a_hidden_document(world: World, drawn: Any) -> None:
    _check_random(world, drawn)


@pytest.mark.slow
@settings(max_examples=2000, **SETTINGS)
@given(drawn=requests_strategy(6))
def test_thousands_of_random_requests_never_reveal_a_hidden_document(world: World, drawn: Any) -> None:
    _check_random(world, drawn)
