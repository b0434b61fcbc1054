"""Document-level access control: rules at build time, identities, and enforcement in every path.

The exhaustive check that nothing of a hidden document ever reaches a response is tests/test_acl_property.py;
here each part is shown to do what a user relies on, with the messages they would read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from acl_setup import KEYS, RULES, SINGLE_KEY, acl_app, build_acl_index, keys_file_text, sha256
from fastapi.testclient import TestClient
from tiny_index import build

from indexer.cli import main
from search import Index
from search.access.audit import AuditLog
from search.access.identities import IdentitiesError, parse_identities
from search.access.rules import AccessRulesError, parse_rules
from search.access.scope import ScopedSearcher
from search.errors import SearchError
from search.models.encoder import Encoder
from search.retrieval.filters import Filters
from search.retrieval.searcher import Searcher
from search.storage.schema import DB_NAME
from search.storage.store import Store

HR_KEY = next(k for k, (_, g) in KEYS.items() if g == "hr")
STAFF_KEY = next(k for k, (_, g) in KEYS.items() if g == "staff")


@pytest.fixture(scope="module")
def acl_index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    return build_acl_index(tmp_path_factory.mktemp("acl"), tiny_encoder)


@pytest.fixture(scope="module")
def client(
    acl_index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    app = acl_app(acl_index, tiny_encoder, tiny_seq2seq_dir, audit_log=str(audit))
    with TestClient(app) as test_client:
        test_client.audit_path = audit  # type: ignore[attr-defined]
        yield test_client


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# -- rules files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[rule]]\nprefix = "a/"\ntag = "x"\ngroups = ["hr"]\n',
            "line 1 (rule 1): give exactly one of prefix, glob or tag",
        ),
        (
            '[[rule]]\nprefix = "a/"\ngroups = ["hr"]\n\n[[rule]]\ngroups = ["hr"]\n',
            "line 5 (rule 2): give exactly one",
        ),
        ('[[rule]]\nprefix = "a/"\n', "line 1 (rule 1): groups must be a non-empty list"),
        ('[[rule]]\nprefix = "a/"\ngroups = []\n', "groups must be a non-empty list"),
        ('[[rule]]\nprefix = "a/"\ngroups = ["h r"]\n', "'h r' is not a group name"),
        ('[[rule]]\nprefix = "a/"\ngroups = ["hr,legal"]\n', "'hr,legal' is not a group name"),
        ('[[rule]]\nprefx = "a/"\ngroups = ["hr"]\n', "unknown key(s) prefx"),
        ('[[rule]]\nprefix = "a/"\ngroups = ["hr"\n', "not valid TOML"),
        ('[[rules]]\nprefix = "a/"\ngroups = ["hr"]\n', "unknown top-level key(s) rules"),
        ('[[rule]]\nprefix = ""\ngroups = ["hr"]\n', "prefix must be a non-empty string"),
    ],
)
def test_a_mistake_in_the_rules_file_names_its_line(text: str, expected: str) -> None:
    with pytest.raises(AccessRulesError) as caught:
        parse_rules(text, "acl.toml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("acl.toml")


def test_a_toml_syntax_error_says_where() -> None:
    with pytest.raises(AccessRulesError, match=r"line 3"):
        parse_rules('[[rule]]\nprefix = "a/"\ngroups = hr\n', "acl.toml")


def test_groups_are_the_union_of_matching_rules_and_all_when_none_matches() -> None:
    rules = parse_rules(
        '[[rule]]\nprefix = "人事/"\ngroups = ["hr"]\n'
        '[[rule]]\nglob = "**/契約/**"\ngroups = ["legal"]\n'
        '[[rule]]\ntag = "confidential"\ngroups = ["security", "hr"]\n'
    )
    assert rules.groups_for("人事/契約/雇用.txt", []) == ["hr", "legal"]
    assert rules.groups_for("経理/契約/2025/a.pdf", []) == ["legal"]
    assert rules.groups_for("IT/incident.md", ["confidential"]) == ["hr", "security"]
    assert rules.groups_for("IT/vpn.md", ["public"]) == ["all"]
    # A reformatted file with the same rules is not a change.
    same = parse_rules(
        '# comment\n[[rule]]\nprefix="人事/"\ngroups=["hr"]\n[[rule]]\nglob="**/契約/**"\ngroups=["legal"]\n'
        '[[rule]]\ntag="confidential"\ngroups=["hr","security"]\n'
    )
    assert same.digest == rules.digest


# -- the index ---------------------------------------------------------------------------------------------


def test_status_counts_documents_per_group(acl_index: Path) -> None:
    assert Index(acl_index).status()["groups"] == {"acct": 1, "all": 3, "hr": 1}


def test_changed_rules_relabel_without_encoding_and_a_build_without_rules_keeps_them(
    tmp_path: Path, tiny_encoder: Encoder
) -> None:
    index = build_acl_index(tmp_path, tiny_encoder)
    docs, rules = tmp_path / "docs", tmp_path / "acl.toml"
    generation = Index(index).status()["generation"]
    rules.write_text('[[rule]]\nprefix = "IT/"\ngroups = ["it"]\n', encoding="utf-8")
    summary = build(docs, index, tiny_encoder, acl=rules)
    assert (summary.passages_encoded, summary.passages_added, summary.files_indexed) == (0, 0, 0)
    assert summary.documents_relabelled == 3  # 人事, 経理 back to all; IT to it
    assert Index(index).status()["groups"] == {"all": 4, "it": 1}
    assert Index(index).status()["generation"] == generation  # same passages, same vectors
    # Forgetting --acl must not widen who sees what: the recorded rules stay in force.
    summary = build(docs, index, tiny_encoder)
    assert (summary.access_rules, summary.documents_relabelled) == (1, 0)
    assert Index(index).status()["groups"] == {"all": 4, "it": 1}
    # A new document is labelled by the recorded rules too.
    (docs / "IT" / "new.txt").write_text("新しい手順\n", encoding="utf-8")
    build(docs, index, tiny_encoder)
    assert Index(index).status()["groups"] == {"all": 4, "it": 2}
    summary = build(docs, index, tiny_encoder, clear_acl=True)
    assert (summary.access_rules, summary.documents_relabelled) == (0, 2)
    assert Index(index).status()["groups"] == {"all": 6}


def test_an_index_from_before_access_control_opens_with_every_document_in_all(
    tmp_path: Path, tiny_encoder: Encoder
) -> None:
    index = build_acl_index(tmp_path, tiny_encoder)
    with sqlite3.connect(index / DB_NAME) as conn:
        conn.execute("ALTER TABLE documents DROP COLUMN groups")
    Store(index).close()
    assert Index(index).status()["groups"] == {"all": 5}


def test_a_request_cannot_set_its_own_groups() -> None:
    with pytest.raises(SearchError, match="unknown key"):
        Filters.from_mapping({"groups": ["hr"]})
    assert Filters(groups=("all", "hr")).restricted_to(("all",)).groups == ("all",)  # narrows, never widens


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_a_search_never_returns_a_document_outside_the_callers_groups(
    acl_index: Path, tiny_encoder: Encoder, mode: str
) -> None:
    searcher = Searcher(acl_index, encoder=tiny_encoder)
    everything = {h.path for h in searcher.search("有給休暇 申請 経費 精算", k=50, mode=mode).hits}
    assert any(p.startswith("人事/") for p in everything), "the query must find the HR document unrestricted"
    for groups, hidden in ((("all",), ("人事/", "経理/")), (("hr",), ("経理/",)), (("acct",), ("人事/",))):
        view = ScopedSearcher(searcher, groups)
        seen = {h.path for h in view.search("有給休暇 申請 経費 精算", k=50, mode=mode).hits}
        assert not any(p.startswith(hidden) for p in seen), (groups, seen)
        # User filters narrow further and never widen.
        filtered = view.search("有給休暇", k=50, mode=mode, filters=Filters(path_prefix="人事/")).hits
        assert "hr" in groups or filtered == []


def test_the_query_cache_is_not_shared_between_groups(acl_index: Path, tiny_encoder: Encoder) -> None:
    searcher = Searcher(acl_index, encoder=tiny_encoder)
    ScopedSearcher(searcher, ["hr"]).search("退職金の計算", mode="dense")
    before = searcher.query_cache.stats()
    ScopedSearcher(searcher, None).search("退職金の計算", mode="dense")
    ScopedSearcher(searcher, []).search("退職金の計算", mode="dense")
    ScopedSearcher(searcher, ["hr"]).search("退職金の計算", mode="dense")
    after = searcher.query_cache.stats()
    assert (after.misses - before.misses, after.hits - before.hits) == (2, 1)


def test_the_command_line_searches_as_a_group(acl_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "有給休暇", "--index", str(acl_index), "--mode", "keyword", "--json"]) == 0
    assert "人事/" in capsys.readouterr().out
    assert main(["search", "有給休暇", "--index", str(acl_index), "--mode", "keyword", "--json", "--as", "acct"]) == 0
    out = capsys.readouterr().out
    assert "人事" not in out and json.loads(out)["mode"] == "keyword"
    assert main(["search", "有給", "--index", str(acl_index), "--as", "bad,name"]) == 2
    assert "--as" in capsys.readouterr().err


def test_build_and_status_on_the_command_line(
    tmp_path: Path, acl_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--index", str(acl_index)]) == 0
    assert "documents per access group: acct 1, all 3, hr 1" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nprefix = "a/"\nglob = "b/**"\ngroups = ["x"]\n', encoding="utf-8")
    assert main(["build", str(tmp_path), "--index", str(tmp_path / "i"), "--acl", str(bad)]) == 2
    assert f"{bad}, line 1 (rule 1): give exactly one of prefix, glob or tag" in capsys.readouterr().err
    assert not (tmp_path / "i").exists(), "a bad rules file must stop the build before anything is written"


# -- identities ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sekret-key jiro hr\n", "line 1: the first field must be the SHA-256"),
        (f"# keys\n\n{sha256('a')} jiro\n", "line 3: expected 3 fields"),
        (f"{sha256('a')} jiro hr,\n", "is not a group name"),
        (f"{sha256('a')} jiro hr\n{sha256('a')} taro hr\n", "line 2: this key hash is already listed"),
        (f"{sha256('a')} jiro hr\n{sha256('b')} jiro hr\n", "line 2: the name jiro is already used"),
        ("# nothing\n", "no keys in it"),
    ],
)
def test_a_mistake_in_the_keys_file_names_its_line(text: str, expected: str) -> None:
    with pytest.raises(IdentitiesError) as caught:
        parse_identities(text, "keys.txt")
    assert expected in str(caught.value)


def test_every_identity_is_in_all() -> None:
    identities = parse_identities(keys_file_text())
    found = identities.find(HR_KEY)
    assert found is not None and found.name == "hanako" and found.groups == ("all", "hr")
    assert identities.find("hr-key-0b1") is None


# -- the API ---------------------------------------------------------------------------------------------------


def document_ids(client: TestClient, key: str) -> dict[str, int]:
    response = client.get("/documents", headers=headers(key), params={"limit": 500})
    assert response.status_code == 200
    return {d["path"]: d["id"] for d in response.json()["documents"]}


def test_documents_lists_only_what_the_caller_may_see(client: TestClient) -> None:
    everything = document_ids(client, SINGLE_KEY)
    assert len(everything) == 5
    staff = client.get("/documents", headers=headers(STAFF_KEY)).json()
    assert staff["total"] == 3 and all(not d["path"].startswith(("人事/", "経理/")) for d in staff["documents"])
    assert set(document_ids(client, HR_KEY)) == {p for p in everything if not p.startswith("経理/")}


def test_a_hidden_document_or_passage_is_a_404_like_one_that_does_not_exist(client: TestClient) -> None:
    hr_document = document_ids(client, SINGLE_KEY)["人事/就業規則.txt"]
    detail = client.get(f"/documents/{hr_document}", headers=headers(SINGLE_KEY)).json()
    hr_passage = detail["passages"][0]["id"]
    assert client.get(f"/documents/{hr_document}", headers=headers(HR_KEY)).status_code == 200
    for url, missing in (
        (f"/documents/{hr_document}", "/documents/999999"),
        (f"/passages/{hr_passage}", "/passages/999999"),
    ):
        hidden = client.get(url, headers=headers(STAFF_KEY))
        absent = client.get(missing, headers=headers(STAFF_KEY))
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["detail"].replace(url.rsplit("/", 1)[1], "N") == absent.json()["detail"].replace(
            "999999", "N"
        )


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_search_answers_and_quizzes_stay_inside_the_callers_groups(client: TestClient, mode: str) -> None:
    body = {"query": "有給休暇の申請", "k": 20, "mode": mode}
    assert any(
        r["path"].startswith("人事/")
        for r in client.post("/search", json=body, headers=headers(HR_KEY)).json()["results"]
    )
    staff = client.post("/search", json=body, headers=headers(STAFF_KEY))
    assert staff.status_code == 200 and "人事" not in staff.text
    answer = client.post(
        "/answer", json={"question": "有給休暇は何日ですか", "extractive": True}, headers=headers(STAFF_KEY)
    )
    assert answer.status_code == 200 and "人事" not in answer.text
    quiz = client.post("/quiz", json={"document": "人事/就業規則.txt", "n": 1}, headers=headers(STAFF_KEY))
    assert quiz.status_code == 400 and "人事" in quiz.json()["detail"]  # the path the caller typed, nothing more
    assert "就業規則" not in quiz.json()["detail"].replace("人事/就業規則.txt", "")


def test_the_trusted_groups_header_is_believed_only_from_the_proxy(
    acl_index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path
) -> None:
    from ipaddress import ip_network

    settings = {
        "trusted_groups_header": "X-Groups",
        "trusted_user_header": "X-User",
        "trusted_proxies": (ip_network("10.0.0.5/32"),),
    }
    app = acl_app(acl_index, tiny_encoder, tiny_seq2seq_dir, **settings)
    body = {"query": "有給休暇の申請", "k": 20, "mode": "keyword"}
    with TestClient(app, client=("10.0.0.5", 4000)) as proxy:
        as_hr = proxy.post("/search", json=body, headers={**headers(SINGLE_KEY), "X-Groups": "hr", "X-User": "sato"})
        assert any(r["path"].startswith("人事/") for r in as_hr.json()["results"])
        as_staff = proxy.post("/search", json=body, headers={**headers(SINGLE_KEY), "X-Groups": "staff"})
        assert as_staff.status_code == 200 and "人事" not in as_staff.text
        # A proxy holding a narrower key cannot widen it with the header.
        narrowed = proxy.post("/search", json=body, headers={**headers(STAFF_KEY), "X-Groups": "hr"})
        assert narrowed.status_code == 200 and "人事" not in narrowed.text
    with TestClient(app, client=("10.0.0.6", 4000)) as direct:
        refused = direct.post("/search", json=body, headers={**headers(SINGLE_KEY), "X-Groups": "hr"})
        assert refused.status_code == 403 and "only from the configured proxies" in refused.json()["detail"]


def test_the_audit_log_says_who_searched_what_and_what_came_back(client: TestClient) -> None:
    path: Path = client.audit_path  # type: ignore[attr-defined]
    response = client.post("/search", json={"query": "経費精算の締め日", "k": 3}, headers=headers(HR_KEY))
    returned = [r["passage_id"] for r in response.json()["results"]]
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    last = [r for r in records if r.get("query") == "経費精算の締め日"][-1]
    assert (last["who"], last["groups"], last["endpoint"], last["passages"]) == (
        "hanako",
        ["all", "hr"],
        "/search",
        returned,
    )
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_audit_log_rotates_by_size(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=2000, backups=2)
    for n in range(100):
        log.record(who="x", query=f"query {n}")
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert '"query 99"' in (tmp_path / "audit.jsonl").read_text(encoding="utf-8")


def test_the_audit_log_can_be_turned_off(acl_index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> None:
    before = sorted(p.name for p in acl_index.iterdir())
    with TestClient(acl_app(acl_index, tiny_encoder, tiny_seq2seq_dir, audit_log="off")) as off:
        assert off.post("/search", json={"query": "申請"}, headers=headers(HR_KEY)).status_code == 200
    assert sorted(p.name for p in acl_index.iterdir()) == before


def test_a_running_searcher_follows_changed_rules_at_once(tmp_path: Path, tiny_encoder: Encoder) -> None:
    """Re-labelling commits no new generation, so nothing cached per generation may keep the old groups: a
    tightened rule hides a document from the very next search of a searcher that is already running."""
    index = build_acl_index(tmp_path, tiny_encoder)
    searcher = Searcher(index, encoder=tiny_encoder)
    staff = ScopedSearcher(searcher, ["staff"])

    def staff_paths() -> set[str]:
        """Keyword hits, and the documents of the passage ids the dense leg would search among."""
        found = {h.path for h in staff.search("休暇 申請 経費 パスワード", k=50, mode="keyword").hits}
        store = searcher.store
        with store.read_snapshot():
            allowed = store.filtered_passage_ids(*Filters(groups=staff.groups).sql())
            return found | {row["path"] for row in store.passage_rows(allowed.tolist()).values()}

    assert "IT/ヘルプデスク.txt" in staff_paths()
    rules = tmp_path / "acl.toml"
    rules.write_text(RULES + '\n[[rule]]\nprefix = "IT/"\ngroups = ["it"]\n', encoding="utf-8")
    summary = build(tmp_path / "docs", index, tiny_encoder, acl=rules)
    assert summary.documents_relabelled == 1 and summary.passages_encoded == 0
    assert "IT/ヘルプデスク.txt" not in staff_paths()
    assert ScopedSearcher(searcher, ["it"]).search("パスワード", k=50, mode="keyword").hits
