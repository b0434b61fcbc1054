"""Everyday words for the terms in-house regulations use: 給料 → 給与/賃金, ノートパソコン → PC, なくした → 紛失.

Why: employees ask in their own words, regulations use formal ones. With the bundled English MiniLM (the
encoder on a machine without the Japanese model) the dense half of retrieval knows no Japanese, and the
keyword half and answerability both work on shared character bigrams, so 「給料日はいつですか」 shares nothing
with 「賃金は…翌月25日に…振り込む」 and is called unanswerable. Rewriting the question with the formal term
restores the overlap. Groups hold words that are interchangeable in office Japanese, not merely related
ones: a rewrite must never turn a question into a different question.

The list was written by hand for Japanese office documents (work rules, expense and travel rules, IT help);
it is small on purpose and grows with the questions people actually ask.
"""

from __future__ import annotations

import re
from itertools import islice

# Each group: interchangeable forms. Longer forms first inside a pattern, so 給料日 wins over 給料.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("給料日", "給与の支払日", "賃金の支払日", "支払日"),
    ("給料", "給与", "賃金", "月給"),
    ("ノートパソコン", "PC", "パソコン", "ノートPC"),
    ("なくした", "紛失した", "無くした", "失くした", "落とした"),
    ("なくし", "紛失し", "無くし", "失くし"),
    ("ホテル代", "宿泊料", "宿泊費"),
    ("ホテル", "宿泊施設"),
    ("有給休暇", "年次有給休暇", "有給", "有休"),
    ("休み", "休暇"),
    ("残業", "時間外労働"),
    ("在宅勤務", "テレワーク", "リモートワーク"),
    ("昼休み", "休憩"),
    ("引っ越し", "転居", "引越し"),
    ("結婚式", "結婚"),
    ("葬式", "死亡", "葬儀"),
    ("亡くなった", "死亡した"),
    ("子ども", "子", "子供"),
    ("赤ちゃんが生まれ", "出産"),
    ("飲み会", "飲食", "会食"),
    ("接待", "接待交際費", "交際費"),
    ("健康診断", "定期健康診断", "健診"),
    ("申し込み", "申請", "届出"),
    ("風邪", "病気", "私傷病"),
    ("レシート", "領収書"),
    ("立て替え", "立替え", "経費精算"),
    ("上司", "所属長"),
    ("飛行機", "航空機", "航空券"),
    ("遅刻", "遅れる"),
    ("締め切り", "期限"),
    ("パスワードを忘れ", "パスワードのリセット", "パスワードを再設定"),
    ("ロックされた", "ロックされ"),
    ("社員証", "IDカード", "入館証"),
    ("来客", "お客様", "来訪者"),
    ("駐車場", "駐車スペース"),
    ("無線LAN", "Wi-Fi", "wifi"),
    ("プリンター", "複合機", "印刷"),
    ("ソフト", "ソフトウェア"),
    ("アプリ", "ソフトウェア"),
    ("もらえ", "付与され", "支給され"),
    ("何文字", "文字以上"),
    ("親", "父母"),
    ("マイル", "マイレージ"),
    ("自分で", "個人で"),
    ("戻った", "帰着した"),
    ("何人入れ", "定員"),
    ("行かなかった", "チェックインしない"),
    ("振り込まれ", "支払日", "振り込み"),
    ("another country", "abroad"),
    ("外国", "海外"),
    ("お客さん", "顧客"),
    ("条件", "要件", "ルール"),
    ("出張手当", "日当"),
    ("交通費", "旅費"),
    ("勤務時間", "労働時間", "所定労働時間"),
    ("副業", "兼業"),
    ("食堂", "社員食堂"),
    ("ランチ", "昼食"),
    ("入社日", "入社初日"),
    ("忘れ物", "落とし物"),
    ("保存期間", "保存", "保管"),
    ("ウイルス", "マルウェア"),
    ("怪しいメール", "不審なメール"),
)

MAX_VARIANTS = 6

_PATTERNS = tuple(
    (group, re.compile("|".join(re.escape(w) for w in sorted(group, key=len, reverse=True)))) for group in GROUPS
)


_ENGLISH_PLURAL = re.compile(r"\b([A-Za-z]{3,}?)(?:e?s)\b")


def variants(question: str) -> list[str]:
    """The question, the rewrite of all its everyday terms at once, then each group's forms one at a time.

    Matches are taken longest first (昼休み before 休み), never overlapping. One group at a time keeps each
    rewrite close to the question; the combined rewrite serves questions that paraphrase two terms at once
    (親が亡くなったら → 父母が死亡したら). English questions also get a singular form (passwords → password), as
    the keyword tokens are not stemmed.
    """
    matches = sorted(
        ((m.start(), m.end(), group) for group, pattern in _PATTERNS for m in pattern.finditer(question)),
        key=lambda m: (-(m[1] - m[0]), m[0]),
    )
    chosen: list[tuple[int, int, tuple[str, ...]]] = []
    for start, end, group in matches:
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, group))
    chosen.sort()
    singles: list[str] = []
    combined, shift = question, 0
    for start, end, group in chosen:
        word = question[start:end]
        others = [w for w in group if w != word]
        singles += [question[:start] + w + question[end:] for w in others]
        combined = combined[: start + shift] + others[0] + combined[end + shift :]
        shift += len(others[0]) - len(word)
    singular = _ENGLISH_PLURAL.sub(r"\1", question)
    return list(islice(dict.fromkeys([question, combined, singular, *singles]), MAX_VARIANTS + 1))
