"""Regenerate sudachi_synonyms.txt from SudachiDict's synonyms.txt (see SOURCE.md): `python make_sudachi_subset.py
SRC DEST`.

Keeps what query expansion uses, in the Solr format the user's own synonyms file has: one line per synonym
group; entries that Sudachi marks "never expand" (flag 2) are dropped; entries marked "expanded to, but not a
trigger" (flag 1, e.g. ambiguous 無くす, PC) go to the right of `=>` only.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path


def convert(source: Path, destination: Path) -> int:
    groups: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    with source.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 9 or not row[8].strip():
                continue
            flag = row[2] or "0"
            # Representative forms first, then translations, abbreviations and spelling variants, so that
            # a per-word cap on expansions keeps distinct words (給与, 賃金) before variants (ド忘れ, 度忘れ).
            variant = (row[4] or "0") != "0", (row[5] or "0") != "0", (row[6] or "0") != "0"
            if flag != "2" and "," not in row[8]:
                groups[row[0]].append((sum(variant), row[8].strip(), flag))
    lines = []
    for group in groups.values():
        entries = [(word, flag) for _, word, flag in sorted(group, key=lambda item: item[0])]
        words = list(dict.fromkeys(word for word, _ in entries))
        triggers = list(dict.fromkeys(word for word, flag in entries if flag == "0"))
        if len(words) < 2 or not triggers:
            continue
        if len(triggers) == len(words):
            lines.append(", ".join(words))
        else:
            lines.append(", ".join(triggers) + " => " + ", ".join(words))
    header = "# SudachiDict synonyms (Apache-2.0, see SOURCE.md and LICENSE-2.0.txt), one group per line\n"
    destination.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


if __name__ == "__main__":
    print(convert(Path(sys.argv[1]), Path(sys.argv[2])), "groups")
