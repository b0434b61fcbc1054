"""Crash safety and one writer, proven with real processes.

`test_sigkill_at_random_moments_never_loses_or_corrupts_the_index` kills `indexer build` with SIGKILL until
24 kills have landed (a random kill that comes after the build ended does not count): during its very
first build, at each named step of the commit protocol (see `search.storage.crashpoints`), and after random
delays, anchored either at the start of the build or a few milliseconds after a step, so kills land
inside the FAISS write and the SQLite COMMIT too. Every trial
first changes the corpus (add, edit, delete files; sometimes rewrite a large file, which makes the commit
write megabytes), so the state before and the state after the build differ. After each kill:
- `indexer status --json` reports a consistent index (SQLite and FAISS agree) whose generation, documents
  and passages are exactly the previous state or exactly the new one, never a mixture;
- `indexer search --json` answers, from that same generation;
- the next `indexer build` exits 0 (no stale lock), indexes exactly the corpus as it is now, and leaves
  exactly one FAISS file and no temporary files behind.
Builds run as children of `build_launcher.py` (one warm process that forks `indexer.cli.main`) so the
kills do not wait for torch to import each time; status and search run through `indexer.cli.main` in this
process. Set CRASH_TEST_SEED to replay or vary the random choices.

`test_second_build_is_refused_and_searches_see_the_previous_generation` starts a real
`python -m indexer.cli build` subprocess, holds it just before COMMIT, and runs a second one: it exits
with code 2 at once, with a clear message, without changing a byte of the index, while searches keep
answering from the previous generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tiny_index import build

from indexer.cli import main
from search.errors import IndexLockedError, IndexNotFoundError
from search.ingest.chunk import ChunkSettings, chunk_document
from search.ingest.extract import extract_document
from search.models.encoder import Encoder
from search.storage.crashpoints import MARKER, PAUSE_AT_ENV, PAUSE_SECONDS_ENV, POINTS, RESUME_FILE_ENV
from search.storage.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "build_launcher.py"
SEED = int(os.environ.get("CRASH_TEST_SEED", "6"))
CHUNK = ChunkSettings(max_tokens=32, overlap_tokens=8)
CHUNK_ARGS = ("--chunk-tokens", "32", "--chunk-overlap", "8")
TARGET_KILLS = 24  # trials go on until this many kills landed (a random kill can come after the build ended)
MAX_TRIALS = 150  # a safety net: on a fast machine more random kills come after the build has ended
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

ANCHOR_TEXT = "有給休暇は入社から六か月後に十日付与されます。申請は三日前までに人事部へ提出してください。"
SENTENCES = (
    "経費精算の締め日は毎月二十五日です。",
    "領収書の原本は経理部に提出してください。",
    "パスワードを忘れた場合はヘルプデスクに連絡してください。",
    "在宅勤務の申請は前日までに上長の承認を得てください。",
    "出張の際は事前に旅費規程を確認してください。",
    "会議室の予約は社内ポータルから行います。",
    "新入社員研修は四月の第一週に実施されます。",
    "健康診断は年に一回、全従業員が受診します。",
    "個人情報を含む書類は施錠できる棚に保管してください。",
    "退職の申し出は一か月前までに行ってください。",
    "時間外労働は月四十五時間を上限とします。",
    "VPN に接続できないときは設定を確認してください。",
    "備品の購入は総務部の承認が必要です。",
    "慶弔休暇の日数は就業規則の別表に定めます。",
)


# -- a corpus that changes in every trial ------------------------------------------------------------------


@dataclass
class Corpus:
    root: Path
    rng: random.Random
    counter: int = 0
    files: set[str] = field(default_factory=set)

    def text(self, sentences: int) -> str:
        self.counter += 1
        body = [f"第{self.counter}版の文書です。"] + [self.rng.choice(SENTENCES) for _ in range(sentences)]
        return "\n\n".join("".join(body[i : i + 3]) for i in range(0, len(body), 3))

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files.add(rel)

    def seed(self) -> None:
        self.write("anchor.txt", ANCHOR_TEXT)
        self.write("big/manual.md", "# 社内マニュアル\n\n" + self.text(400))
        for n in range(4):
            self.write(f"dept{n % 2}/doc{n}.txt", self.text(12))

    def mutate(self) -> list[str]:
        """One to three random changes; the anchor file (what searches look for) never changes."""
        done: list[str] = []
        for _ in range(self.rng.randint(1, 3)):
            small = sorted(f for f in self.files if f.startswith("dept"))
            op = self.rng.choice(["add", "add", "edit", "edit", "delete", "big"])
            if op == "delete" and len(small) > 2:
                victim = self.rng.choice(small)
                (self.root / victim).unlink()
                self.files.discard(victim)
            elif op == "edit" and small:
                victim = self.rng.choice(small)
                self.write(victim, self.text(self.rng.randint(3, 20)))
            elif op == "big":  # hundreds of passages: a large SQLite commit and FAISS write
                self.write("big/manual.md", "# 社内マニュアル\n\n" + self.text(self.rng.randint(300, 500)))
            else:
                self.write(f"dept{self.rng.randint(0, 2)}/new{self.counter}.txt", self.text(self.rng.randint(3, 20)))
                op = "add"
            done.append(op)
        return done


# -- index state, read independently of the code under test ------------------------------------------------


@dataclass(frozen=True)
class State:
    generation: int
    docs: dict[str, str]  # path -> content hash
    passages: dict[str, tuple[str, ...]]  # path -> passage texts in order

    def contents(self) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        return self.docs, self.passages


NO_INDEX = State(-1, {}, {})


def read_state(index: Path) -> State:
    """What the index holds for readers (SQLite's committed state); NO_INDEX if nothing ever committed."""
    try:
        store = Store(index)
    except IndexNotFoundError:
        return NO_INDEX
    try:
        with store.read_snapshot():
            generation = store.generation()
            docs = dict(store.conn.execute("SELECT path, content_hash FROM documents"))
            passages: dict[str, list[str]] = {path: [] for path in docs}
            for path, text in store.conn.execute(
                "SELECT d.path, p.text FROM passages p JOIN documents d ON d.id = p.document_id "
                "ORDER BY d.path, p.ordinal"
            ):
                passages[path].append(text)
    finally:
        store.close()
    if generation == 0 and not docs:
        return NO_INDEX  # tables created by a first build that never committed
    return State(generation, docs, {path: tuple(texts) for path, texts in passages.items()})


class Expected:
    """The documents and passages a correct build of the corpus holds, from extraction and chunking alone."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def of(self, corpus: Corpus) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        docs: dict[str, str] = {}
        passages: dict[str, tuple[str, ...]] = {}
        for rel in sorted(corpus.files):
            path = corpus.root / rel
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if (rel, digest) not in self._cache:
                chunks = chunk_document(extract_document(path, rel), self.encoder.count_tokens, CHUNK)
                self._cache[rel, digest] = tuple(p.text for p in chunks)
            docs[rel], passages[rel] = digest, self._cache[rel, digest]
        return docs, passages


# -- processes -------------------------------------------------------------------------------------------


class Launcher:
    """Client of build_launcher.py: fork `indexer` runs, poll them, reap them."""

    def __init__(self) -> None:
        env = {**os.environ, **CHILD_ENV}
        env.pop(PAUSE_AT_ENV, None)
        self.proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=REPO_ROOT, env=env,
        )  # fmt: skip
        assert self._reply(timeout=180) == {"ready": True}

    def _reply(self, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "build launcher did not answer"
        return json.loads(self.proc.stdout.readline())

    def request(self, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout)

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        return int(self.request({"run": argv, "env": env or {}, "log": str(log)})["pid"])

    def poll(self, pid: int) -> int | None:
        reply = self.request({"poll": pid})
        return reply["code"] if reply["done"] else None

    def wait(self, pid: int, timeout: float = 120) -> int:
        return int(self.request({"wait": pid}, timeout=timeout)["code"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def launcher() -> Any:
    client = Launcher()
    yield client
    client.close()


def markers(log: Path) -> list[str]:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line.split()[1] for line in text.splitlines() if line.startswith(MARKER + " ")]


def wait_for_marker(log: Path, point: str, alive: Any, timeout: float = 60) -> bool:
    """True when `point` was announced; False when the process ended first (`alive()` turned False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if point in markers(log):
            return True
        if not alive():
            return point in markers(log)
        time.sleep(0.002)
    raise AssertionError(f"no {point} marker within {timeout} s:\n{log.read_text(errors='replace')}")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def phase(seen: list[str], code: int) -> str:
    """Where the build was when it died, from the last step it announced."""
    if code == 0:
        return "finished before the kill"
    if not seen:
        return "reading/encoding"
    return {
        "encoded": "SQLite writes",
        "sqlite-written": "FAISS write",
        "faiss-temp-written": "FAISS rename",
        "faiss-saved": "SQLite COMMIT",
        "committed": "cleanup",
    }[seen[-1]]


# -- the crash test --------------------------------------------------------------------------------------


def test_sigkill_at_random_moments_never_loses_or_corrupts_the_index(
    tmp_path: Path, tiny_model_dir: Path, tiny_encoder: Encoder, launcher: Launcher, capsys
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    corpus = Corpus(tmp_path / "docs", rng)
    corpus.seed()
    index = tmp_path / "index"
    build_argv = ["build", str(corpus.root), "--index", str(index), "--model", str(tiny_model_dir),
                  "--device", "cpu", "--json", *CHUNK_ARGS]  # fmt: skip
    expected = Expected(tiny_encoder)
    plan: list[tuple[str, str | None, float]] = [("first build", "sqlite-written", 0.0)]
    plan += [("at " + point, point, 0.0) for point in POINTS]
    build_seconds = 2.0  # refined from the recovery builds' own durations
    phases: dict[str, int] = {}
    kills = 0
    trial = 0
    while kills < TARGET_KILLS and trial < MAX_TRIALS:
        if trial < len(plan):
            label, point, delay = plan[trial]
            env = {PAUSE_AT_ENV: point or "", PAUSE_SECONDS_ENV: "60"}
        else:  # random: after a random delay from the start of the build or from a step
            point = rng.choice([None, None, None, "encoded", "sqlite-written", "faiss-saved", "faiss-saved"])
            # After a step only milliseconds of work remain (on a quiet machine the COMMIT after faiss-saved takes
            # 1-3 ms), and noticing the marker takes about as long: a longer delay would rarely land a kill.
            delay = rng.uniform(0, 0.9 * build_seconds) if point is None else rng.uniform(0, 0.004)
            label = f"random {delay * 1000:.0f} ms after {point or 'start'}"
            env = {PAUSE_AT_ENV: "*", PAUSE_SECONDS_ENV: "0"}
        changes = corpus.mutate() if trial else ["first build"]
        context = f"trial {trial} ({label}; changes {changes}; CRASH_TEST_SEED={SEED})"
        before = read_state(index)

        log = tmp_path / f"build-{trial}.log"
        pid = launcher.start(build_argv, log, env)
        launched = time.monotonic()
        finished: list[int] = []

        def alive(pid: int = pid, finished: list[int] = finished) -> bool:
            code = launcher.poll(pid)
            if code is not None:
                finished.append(code)
            return code is None

        try:
            if point is None:
                while time.monotonic() < launched + delay and alive():
                    time.sleep(0.002)
            elif wait_for_marker(log, point, alive):
                time.sleep(delay)
        finally:  # also when waiting failed: never leave a paused build behind
            if not finished:
                os.kill(pid, signal.SIGKILL)  # not yet reaped, so the pid is still this build's
        code = finished[0] if finished else launcher.wait(pid)
        seen = markers(log)
        assert code in (0, -signal.SIGKILL), f"{context}: build ended with {code}:\n{log.read_text()}"
        kills += code == -signal.SIGKILL
        phases[phase(seen, code)] = phases.get(phase(seen, code), 0) + 1

        # What readers see now: exactly the previous state or exactly the new one, consistent, searchable.
        killed = read_state(index)
        status_code, out, err = cli(capsys, "status", "--index", str(index), "--json")
        if killed == NO_INDEX:  # a first build killed before its commit: no index, or an empty one
            if status_code == 2:
                assert "No index" in err and "Traceback" not in err, context
            else:
                status = json.loads(out)
                assert status_code == 0 and status["consistent"], f"{context}: {status}"
                assert (status["generation"], status["documents"], status["passages"]) == (0, 0, 0), context
        else:
            status = json.loads(out)
            assert status_code == 0 and status["consistent"], f"{context}: {status} {err}"
            assert status["generation"] == killed.generation, context
            assert f"vectors.{killed.generation}.faiss" in status["vector_files"], context
            assert (status["documents"], status["passages"]) == (
                len(killed.docs),
                sum(len(p) for p in killed.passages.values()),
            ), context
            search_code, out, err = cli(capsys, "search", "有給休暇", "--index", str(index), "--json", "-k", "5",
                                        "--device", "cpu")  # fmt: skip
            result = json.loads(out)
            assert search_code == 0 and result["generation"] == killed.generation, f"{context}: {err}"
            assert result["results"] and {r["path"] for r in result["results"]} <= set(killed.docs), context

        # The next build completes, cleans up after the killed one and holds exactly the corpus.
        recovery_log = tmp_path / f"recovery-{trial}.log"
        recovery_started = time.monotonic()
        recovery_pid = launcher.start(build_argv, recovery_log)
        assert launcher.wait(recovery_pid) == 0, f"{context}: recovery build failed:\n{recovery_log.read_text()}"
        summary = json.loads(recovery_log.read_text().strip().splitlines()[-1])
        assert summary["files_failed"] == [], context
        if summary["passages_encoded"]:
            build_seconds = (build_seconds + time.monotonic() - recovery_started) / 2
        after = read_state(index)
        assert after.contents() == expected.of(corpus), f"{context}: the index does not hold the corpus"
        leftovers = sorted(p.name for p in index.iterdir() if p.suffix in {".faiss", ".tmp"})
        assert leftovers == [f"vectors.{after.generation}.faiss"], f"{context}: {leftovers}"

        # Nothing lost, nothing mixed: the killed build left the old state or the new one, whole.
        if killed.contents() == after.contents():
            assert killed.generation == after.generation, context
        else:
            assert killed.contents() == before.contents(), f"{context}: a mixture of two states"
            assert killed.generation == before.generation, context
            assert after.generation == (1 if before == NO_INDEX else before.generation + 1), context
        trial += 1

    final = json.loads(cli(capsys, "status", "--index", str(index), "--json")[1])
    assert final["consistent"] and final["passages"] == final["vectors"] > 0
    seconds = time.monotonic() - started
    report = {"trials": trial, "kills_landed": kills, "phases": phases, "seconds": round(seconds, 1), "seed": SEED}
    print(f"\ncrash safety: {json.dumps(report, ensure_ascii=False)}")
    assert kills >= TARGET_KILLS, report
    assert {"SQLite writes", "FAISS write", "FAISS rename", "SQLite COMMIT", "cleanup"} <= set(phases), report


# -- one writer ------------------------------------------------------------------------------------------


def snapshot(index: Path) -> dict[str, tuple[str, int, int]]:
    """Every file in the index folder: content hash, size, mtime."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(index.iterdir())
    }


def test_second_build_is_refused_and_searches_see_the_previous_generation(
    tmp_path: Path, tiny_model_dir: Path, capsys
) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "休暇.txt").write_text(ANCHOR_TEXT, encoding="utf-8")
    build_args = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--device", "cpu"]
    assert cli(capsys, *build_args)[0] == 0
    (docs / "新規.txt").write_text("ペンギンの飼育当番は毎週金曜日に交代します。", encoding="utf-8")

    resume, first_log = tmp_path / "resume", tmp_path / "first.log"
    env = {**os.environ, **CHILD_ENV, PAUSE_AT_ENV: "faiss-saved", PAUSE_SECONDS_ENV: "120",
           RESUME_FILE_ENV: str(resume)}  # fmt: skip
    with open(first_log, "wb") as log:
        first = subprocess.Popen([sys.executable, "-m", "indexer.cli", *build_args], stdout=log, stderr=log, env=env)
    try:
        # Held after its SQLite writes and its FAISS save, before COMMIT: the worst moment to be interrupted.
        assert wait_for_marker(first_log, "faiss-saved", lambda: first.poll() is None, timeout=120)
        before = snapshot(index)
        assert "vectors.2.faiss" in before  # the uncommitted generation's file already exists

        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "indexer.cli", *build_args], capture_output=True, text=True, timeout=60,
            env={**os.environ, **CHILD_ENV},
        )  # fmt: skip
        seconds = time.monotonic() - started
        assert second.returncode == 2, second.stderr
        assert "Another build is writing" in second.stderr and "Traceback" not in second.stderr
        assert seconds < 5, f"the second build took {seconds:.1f} s to give up"
        assert snapshot(index) == before, "the refused build changed the index"

        # Readers are not blocked and see the committed generation only.
        code, out, _ = cli(capsys, "status", "--index", str(index), "--json")
        status = json.loads(out)
        assert code == 0 and status["generation"] == 1 and status["documents"] == 1 and status["consistent"]
        code, out, _ = cli(capsys, "search", "ペンギン 休暇", "--index", str(index), "--json", "--device", "cpu")
        result = json.loads(out)
        assert code == 0 and result["generation"] == 1
        assert [r["path"] for r in result["results"]] and {r["path"] for r in result["results"]} == {"休暇.txt"}
    finally:
        resume.touch()
        first.wait(timeout=60)
    assert first.returncode == 0, first_log.read_text()
    code, out, _ = cli(capsys, "search", "ペンギン", "--index", str(index), "--json", "--mode", "keyword")
    result = json.loads(out)
    assert result["generation"] == 2 and [r["path"] for r in result["results"]] == ["新規.txt"]
    print(f"\none writer: second build refused in {seconds:.2f} s, exit 2, index unchanged")


# -- the pieces the trials rely on -----------------------------------------------------------------------


def test_lock_is_taken_before_the_folder_is_walked(tmp_path: Path, tiny_encoder: Encoder, monkeypatch) -> None:
    """A second build must give up at once, not after walking a whole shared drive first."""
    import search.ingest.build
    from search.storage.writer import write_lock

    def walk(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the folder was walked although another build holds the lock")

    monkeypatch.setattr(search.ingest.build, "discover_files", walk)
    with write_lock(tmp_path / "index"), pytest.raises(IndexLockedError):
        build(tmp_path, tmp_path / "index", tiny_encoder)


def test_unreadable_or_vanishing_faiss_file_is_rebuilt_not_a_traceback(
    tmp_path: Path, tiny_model_dir: Path, tiny_encoder: Encoder, monkeypatch, capsys
) -> None:
    from search.storage.generations import open_vectors
    from search.storage.vectors import VectorIndex, vectors_path

    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "休暇.txt").write_text(ANCHOR_TEXT, encoding="utf-8")
    build_args = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--json"]
    assert cli(capsys, *build_args)[0] == 0
    vectors_path(index, 1).write_bytes(b"not a faiss file")
    code, out, err = cli(capsys, "status", "--index", str(index), "--json")
    assert code == 1 and "missing or unreadable" in json.loads(out)["consistency"] and "Traceback" not in err
    code, out, _ = cli(capsys, "search", "有給休暇", "--index", str(index), "--json", "--mode", "dense")
    assert code == 0 and json.loads(out)["results"]

    # A reader that saw generation 1 while a build committed 2 and deleted vectors.1.faiss under it.
    def deleted_meanwhile(path: Path) -> VectorIndex:
        raise RuntimeError(f"could not open {path} for reading: No such file or directory")

    with monkeypatch.context() as patch:
        patch.setattr(VectorIndex, "load", staticmethod(deleted_meanwhile))
        store = Store(index)
        vectors, generation, repaired = open_vectors(store, index, save_repair=False)
        store.close()
    assert generation == 1 and repaired and len(vectors) > 0

    code, out, _ = cli(capsys, *build_args)
    assert code == 0 and json.loads(out)["vectors_repaired"]
    assert json.loads(cli(capsys, "status", "--index", str(index), "--json")[1])["consistent"]


def test_database_without_tables_is_no_index_yet(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    """What a first build killed between creating the file and creating its tables leaves behind."""
    index = tmp_path / "index"
    index.mkdir()
    (index / "index.sqlite").write_bytes(b"")
    with pytest.raises(IndexNotFoundError):
        Store(index)
    code, _, err = cli(capsys, "status", "--index", str(index))
    assert code == 2 and "No index" in err and "Traceback" not in err
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(ANCHOR_TEXT, encoding="utf-8")
    assert cli(capsys, "build", str(docs), "--index", str(index), "--model", str(tiny_model_dir))[0] == 0
    assert json.loads(cli(capsys, "status", "--index", str(index), "--json")[1])["consistent"]


# -- a Milvus-backed build (issue #13) ------------------------------------------------------------------------

MILVUS_POINTS = ("encoded", "sqlite-written", "faiss-saved", "committed")  # faiss-temp-written is FAISS's alone
MILVUS_RANDOM_KILLS = 3


@pytest.mark.slow
def test_sigkill_of_a_milvus_backed_build_leaves_a_searchable_index_the_next_build_makes_whole(
    tmp_path: Path, tiny_model_dir: Path, tiny_encoder: Encoder, launcher: Launcher, capsys
) -> None:
    """Killed at each step of the write protocol it reaches (and after random delays), a build whose vectors
    live in Milvus Lite leaves SQLite's previous or new state, never a mixture; status names that generation
    and agrees with Milvus, except after the commit, before the deleted rows are removed (readers drop those
    rows, so searches answer from that generation all the same); the next build exits 0, holds exactly the
    corpus and leaves Milvus agreeing with SQLite in one collection."""
    pytest.importorskip("pymilvus", reason="the [milvus] extra is installed by `make test` in CI (.ci/run)")
    rng = random.Random(SEED)
    corpus = Corpus(tmp_path / "docs", rng)
    corpus.seed()
    index = tmp_path / "index"
    build_argv = ["build", str(corpus.root), "--index", str(index), "--model", str(tiny_model_dir),
                  "--device", "cpu", "--json", *CHUNK_ARGS,
                  "--vector-store", "milvus", "--milvus-uri", str(tmp_path / "milvus.db")]  # fmt: skip
    expected = Expected(tiny_encoder)
    plan: list[tuple[str | None, float]] = [("sqlite-written", 0.0), *((p, 0.0) for p in MILVUS_POINTS)]
    plan += [(None, rng.uniform(0.5, 4.0)) for _ in range(MILVUS_RANDOM_KILLS)]
    kills = 0
    for trial, (point, delay) in enumerate(plan):
        changes = corpus.mutate() if trial else ["first build"]
        context = f"milvus trial {trial} (kill at {point or f'{delay:.2f} s'}; changes {changes}; seed {SEED})"
        before = read_state(index)
        log = tmp_path / f"milvus-build-{trial}.log"
        env = {PAUSE_AT_ENV: point or "*", PAUSE_SECONDS_ENV: "60" if point else "0"}
        pid = launcher.start(build_argv, log, env)
        finished: list[int] = []

        def alive(pid: int = pid, finished: list[int] = finished) -> bool:
            code = launcher.poll(pid)
            if code is not None:
                finished.append(code)
            return code is None

        launched = time.monotonic()
        try:
            if point is None:
                while time.monotonic() < launched + delay and alive():
                    time.sleep(0.005)
            else:
                wait_for_marker(log, point, alive)
        finally:
            if not finished:
                os.kill(pid, signal.SIGKILL)
        code = finished[0] if finished else launcher.wait(pid)
        assert code in (0, -signal.SIGKILL), f"{context}: build ended with {code}:\n{log.read_text()}"
        kills += code == -signal.SIGKILL
        seen = markers(log)

        killed = read_state(index)
        if killed != NO_INDEX:
            status_code, out, err = cli(capsys, "status", "--index", str(index), "--json")
            status = json.loads(out)
            assert status["generation"] == killed.generation, f"{context}: {err}"
            assert status["vector_store"] == "milvus" and not list(index.glob("vectors.*.faiss")), context
            assert status["consistent"] or (seen and seen[-1] == "committed"), f"{context}: {status}"
            assert status_code == (0 if status["consistent"] else 1), f"{context}: {err}"
            search_code, out, err = cli(capsys, "search", "有給休暇", "--index", str(index), "--json", "-k", "5",
                                        "--device", "cpu")  # fmt: skip
            result = json.loads(out)
            assert search_code == 0 and result["generation"] == killed.generation, f"{context}: {err}"
            assert result["results"] and {r["path"] for r in result["results"]} <= set(killed.docs), context

        recovery_log = tmp_path / f"milvus-recovery-{trial}.log"
        recovery_pid = launcher.start(build_argv, recovery_log)
        assert launcher.wait(recovery_pid) == 0, f"{context}: recovery build failed:\n{recovery_log.read_text()}"
        after = read_state(index)
        assert after.contents() == expected.of(corpus), f"{context}: the index does not hold the corpus"
        status = json.loads(cli(capsys, "status", "--index", str(index), "--json")[1])
        assert status["consistent"] and status["vectors"] == status["passages"] > 0, f"{context}: {status}"
        assert len(status["milvus_collections"]) == 1, f"{context}: {status['milvus_collections']}"
        if killed.contents() == after.contents():
            assert killed.generation == after.generation, context
        else:
            assert killed.contents() == before.contents(), f"{context}: a mixture of two states"
            assert after.generation == (1 if before == NO_INDEX else before.generation + 1), context
    assert kills >= len(MILVUS_POINTS) + 1, f"only {kills} kills landed"


@pytest.mark.slow
def test_sigkill_of_a_ray_build_leaves_the_previous_or_the_next_generation(
    tmp_path: Path, tiny_model_dir: Path, tiny_encoder: Encoder, launcher: Launcher, capsys
) -> None:
    """A build whose passages a Ray Data job encodes (issue #13) commits through the same protocol: killed after
    the job (nothing written), with the next generation's FAISS file in place, or after the commit, it leaves
    the previous or the next state whole and consistent, and a local build then holds exactly the corpus."""
    pytest.importorskip("ray", reason="the [ray] extra is installed by `make test` in CI (.ci/run)")
    rng = random.Random(SEED)
    corpus = Corpus(tmp_path / "docs", rng)
    corpus.seed()
    index = tmp_path / "index"
    local_argv = ["build", str(corpus.root), "--index", str(index), "--model", str(tiny_model_dir),
                  "--device", "cpu", "--precision", "fp32", "--json", *CHUNK_ARGS]  # fmt: skip
    ray_argv = [*local_argv, "--executor", "ray"]
    ray_env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # its local runtime listens on loopback only
    expected = Expected(tiny_encoder)
    assert launcher.wait(launcher.start(ray_argv, tmp_path / "ray-first.log", ray_env), timeout=300) == 0
    for trial, point in enumerate(("encoded", "faiss-saved", "committed")):
        corpus.mutate()
        context = f"ray trial {trial} (kill at {point}; seed {SEED})"
        before = read_state(index)
        log = tmp_path / f"ray-build-{trial}.log"
        pid = launcher.start(ray_argv, log, {**ray_env, PAUSE_AT_ENV: point, PAUSE_SECONDS_ENV: "120"})
        finished: list[int] = []

        def alive(pid: int = pid, finished: list[int] = finished) -> bool:
            code = launcher.poll(pid)
            if code is not None:
                finished.append(code)
            return code is None

        try:
            assert wait_for_marker(log, point, alive, timeout=300), f"{context}:\n{log.read_text()}"
        finally:
            if not finished:
                os.kill(pid, signal.SIGKILL)
        assert (finished[0] if finished else launcher.wait(pid)) == -signal.SIGKILL, context
        killed = read_state(index)
        assert killed.contents() in (before.contents(), expected.of(corpus)), f"{context}: a mixture"
        status_code, out, err = cli(capsys, "status", "--index", str(index), "--json")
        status = json.loads(out)
        assert status_code == 0 and status["consistent"] and status["generation"] == killed.generation, err
        recovery_log = tmp_path / f"ray-recovery-{trial}.log"
        assert launcher.wait(launcher.start(local_argv, recovery_log)) == 0, recovery_log.read_text()
        assert read_state(index).contents() == expected.of(corpus), f"{context}: the index does not hold the corpus"
