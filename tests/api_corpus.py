"""A small Japanese document folder for the API tests, and a helper that indexes it with the tiny model.

Besides a few realistic documents it holds many "filler" passages that all contain 休暇 several times, so
that one long passage under legal/ that mentions 休暇 once ranks far below the keyword leg's top 100 when no
filter is given: a filter applied after ranking would then return nothing, one applied before must not.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

RULES = (
    "就業規則\n\n第1条 この規則は従業員に適用されます。\n\n"
    "第2条 有給休暇は十日付与されます。申請は三日前までに行います。"
)
LEAVE_POLICY = (
    "---\ntitle: 休暇規程\ntags: [人事, 規程]\n---\n# 休暇規程\n\n"
    "## 年次休暇\n\n年次有給休暇は入社六か月後に付与する。\n\n"
    "## 特別休暇\n\n慶弔の際は特別休暇を取得できる。\n"
)
EXPENSE = (
    "# 経費精算\n\n## 締め日\n\n経費精算の締め日は毎月二十五日です。\n\n"
    "## 領収書\n\n領収書の原本を経理部に提出してください。"
)
HELPDESK = (
    "パスワードを忘れた場合は、ITヘルプデスク（内線1234）に連絡してください。\n\n"
    "VPNに接続できないときは設定を確認してください。"
)
CONTRACT = (
    "---\ntags: [法務]\n---\n# 契約管理\n\n"
    "取引先との契約書は法務部が保管し、更新の三十日前に担当者へ通知します。契約期間中の休暇についての定めも確認します。\n"
)
OLD_POLICY = "旧出張規程\n\nこの規程は二〇一九年に廃止されました。"
OLD_MTIME = datetime(2020, 1, 1).timestamp()
FILLER_FILES = 45
FILLER_TEMPLATES = (
    "休暇{n}号の申請は休暇管理システムで行う。休暇の残日数も確認できる。",
    "休暇{n}の取得計画を休暇担当に提出する。休暇の時季変更もある。",
    "休暇{n}番の記録を保存する。休暇中の連絡先を休暇簿に書く。",
)


def write_corpus(root: Path) -> Path:
    """The document folder (returned); old/ gets an mtime in 2020 for the modified-time filters."""
    (root / "人事").mkdir(parents=True)
    (root / "legal").mkdir()
    (root / "old").mkdir()
    (root / "filler").mkdir()
    (root / "人事" / "就業規則.txt").write_bytes(RULES.encode("cp932"))
    (root / "人事" / "休暇規程.md").write_text(LEAVE_POLICY, encoding="utf-8")
    (root / "expense.md").write_text(EXPENSE, encoding="utf-8")
    (root / "helpdesk.txt").write_text(HELPDESK, encoding="utf-8")
    (root / "legal" / "契約.md").write_text(CONTRACT, encoding="utf-8")
    old = root / "old" / "旧出張規程.txt"
    old.write_text(OLD_POLICY, encoding="utf-8")
    os.utime(old, (OLD_MTIME, OLD_MTIME))
    for n in range(FILLER_FILES):
        text = "\n\n".join(t.format(n=n) for t in FILLER_TEMPLATES)
        (root / "filler" / f"f{n:02d}.txt").write_text(text, encoding="utf-8")
    return root
