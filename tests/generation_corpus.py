"""Documents for the answer/quiz tests, written only with characters the tiny tokenizers know.

The tiny seq2seq models' SentencePiece vocabulary was trained on tests/fixtures/tokenizer_corpus.txt, so
documents made of its lines are fully readable by them (no <unk>), which keeps the <unk> guard quiet
except where a test wants it to fire.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

DOCUMENTS = {
    "人事/就業規則.txt": (0, 5),  # 就業規則 / 有給休暇 / 申請 / 慶弔休暇 / 勤務時間
    "経理/経費精算.txt": (5, 8),
    "IT/ヘルプデスク.txt": (8, 12),
    "総務/総務.txt": (12, 22),
    "english/handbook.txt": (22, 32),
}


def corpus_lines() -> list[str]:
    return (FIXTURES / "tokenizer_corpus.txt").read_text(encoding="utf-8").splitlines()


def write_documents(root: Path) -> Path:
    """One paragraph per corpus line (blank lines between), grouped into five documents."""
    lines = corpus_lines()
    for path, (first, last) in DOCUMENTS.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n\n".join(lines[first:last]) + "\n", encoding="utf-8")
    return root
