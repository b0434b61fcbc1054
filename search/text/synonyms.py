"""Query-time synonym expansion: the bundled Sudachi synonym dictionary plus the index's own synonyms file.

Employees ask in their words (給料日, ノートパソコン, 有休), documents are written in the company's (給与の支払日,
PC, 年次有給休暇). Expanding at query time, not at index time, means a changed synonyms file takes effect on
the next search without re-indexing, and the expanded terms can weigh less than the typed ones.

Both sources use the Solr / Elasticsearch synonym format, one rule per line:

    有休, 有給休暇, 年休          # equivalent: any of them adds the others
    給料日 => 給与支払日          # explicit: the left side adds the right side
    # comment lines and blank lines are ignored
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from search.errors import SearchError
from search.text import keyword, morphology


@dataclass(frozen=True)
class Expansion:
    """A synonym added to the query: `term` was not typed, `source` was (both normalized)."""

    term: str
    source: str
    origin: str  # "user" (the index's synonyms.txt) or "sudachi" (the bundled dictionary)
    lemmas: tuple[str, ...]
    bigrams: tuple[str, ...]

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "source": self.source, "origin": self.origin}


def expansion_terms(term: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lemmas, bigrams) to search for a synonym: analysed like a query, so 有給休暇 is 有給 + 休暇."""
    words = morphology.words(term)
    lemmas = tuple(w.lemma for w in words if w.content) or tuple(w.lemma for w in words)
    return lemmas, tuple(dict.fromkeys(keyword.tokens(term)))


BUNDLED_SYNONYMS = Path(__file__).parent / "data" / "sudachi_synonyms.txt"
INDEX_SYNONYMS_NAME = "synonyms.txt"
"""The user's synonyms file inside an index folder (copied there by install_synonyms at build time)."""
MAX_PER_WORD = 6
"""Synonyms added per query word: a broad group (休暇 -> バカンス, ホリデー, 休日 ...) must not drown the query
in weak terms; user rules come first, so a company's own jargon always makes it in."""
MAX_SPAN_WORDS = 4


_Found = tuple[str, list[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    triggers: tuple[str, ...]
    targets: tuple[str, ...]


def parse_rules(text: str, source: str) -> list[Rule]:
    """Rules from Solr-format text; a malformed line raises SearchError naming `source` and the line number.

    The whole text is normalized at once (NFKC, lower case), as queries are: ＰＣ and pc are one term."""
    rules: list[Rule] = []
    for number, raw in enumerate(morphology.normalize(text).splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.count("=>") > 1:
            raise SearchError(f"{source}, line {number}: more than one '=>' in {raw.strip()!r}")
        left, arrow, right = line.partition("=>")
        triggers = _terms(left)
        targets = _terms(right) if arrow else triggers
        if not triggers or (arrow and not targets) or (not arrow and len(triggers) < 2):
            raise SearchError(
                f"{source}, line {number}: {raw.strip()!r} is not a synonym rule; write 'a, b, c' "
                "(all equivalent) or 'a, b => c' (a and b add c)"
            )
        rules.append(Rule(triggers, targets))
    return rules


def _terms(side: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in side.split(",") if t.strip()))


def read_rules(path: Path) -> list[Rule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SearchError(f"Cannot read the synonyms file {path}: {exc} (it must be UTF-8 text)") from exc
    return parse_rules(text, str(path))


class Thesaurus:
    """Which terms a query word adds: normalized trigger -> [(target, origin)], earlier layers first."""

    def __init__(self, origin: str, rules: Sequence[Rule]) -> None:
        self.origin = origin
        self._rules = list(rules)
        self._by_trigger: dict[str, list[int]] = {}
        for index, rule in enumerate(self._rules):
            for trigger in rule.triggers:
                self._by_trigger.setdefault(trigger, []).append(index)
        self._layers: tuple[Thesaurus, ...] = ()

    @classmethod
    def layered(cls, *layers: Thesaurus) -> Thesaurus:
        """Several thesauri read in order (the index's own rules before the bundled dictionary)."""
        combined = cls("", [])
        combined._layers = layers
        return combined

    def __len__(self) -> int:
        return len(self._by_trigger) + sum(len(layer) for layer in self._layers)

    def lookup(self, term: str) -> list[tuple[str, str]]:
        """(target, origin) pairs that `term` adds, in rule order, without `term` itself or repeats."""
        out: dict[str, str] = {}
        for layer in self._layers:
            for target, origin in layer.lookup(term):
                out.setdefault(target, origin)
        for index in self._by_trigger.get(term, ()):
            for target in self._rules[index].targets:
                if target != term:
                    out.setdefault(target, self.origin)
        return list(out.items())

    def expand(self, words: Sequence[morphology.Word], typed: Sequence[str]) -> list[Expansion]:
        """Synonyms of the query's content words. The longest span of adjacent words found in the thesaurus
        wins (有給休暇 before 休暇), by surface or by lemma (なくした -> 無くす); typed terms are not added."""
        seen = set(typed) | {morphology.normalize(w.surface) for w in words}
        out: list[Expansion] = []
        i = 0
        while i < len(words):
            found, width = self._longest(words, i)
            if found is not None:
                source, entries = found
                for term, origin in entries[:MAX_PER_WORD]:
                    if term not in seen:
                        seen.add(term)
                        lemmas, bigrams = expansion_terms(term)
                        out.append(Expansion(term, source, origin, lemmas, bigrams))
            i += width
        return out

    def _longest(self, words: Sequence[morphology.Word], i: int) -> tuple[_Found | None, int]:
        for width in range(min(MAX_SPAN_WORDS, len(words) - i), 0, -1):
            span = words[i : i + width]
            if any(b.start != a.end for a, b in itertools.pairwise(span)):
                continue
            surface = "".join(morphology.normalize(w.surface) for w in span)
            keys = [surface] if width > 1 else [surface, span[0].lemma]
            for key in keys:
                entries = self.lookup(key)
                if entries:
                    return (key, entries), width
        return None, 1


@lru_cache(maxsize=1)
def bundled_thesaurus() -> Thesaurus:
    """The Sudachi subset shipped in search/text/data (read once per process: about 25,000 groups)."""
    return Thesaurus("sudachi", read_rules(BUNDLED_SYNONYMS))


def load_thesaurus(user_file: Path | None = None, bundled: bool = True) -> Thesaurus:
    """The bundled dictionary plus, when given, a user file whose rules come first."""
    layers = []
    if user_file is not None:
        layers.append(Thesaurus("user", read_rules(user_file)))
    if bundled:
        layers.append(bundled_thesaurus())
    return Thesaurus.layered(*layers)


def install_synonyms(index_dir: Path, path: Path) -> Path:
    """Check a user's synonyms file and copy it into the index as synonyms.txt (what `indexer build --synonyms
    FILE` does); searches read it from there from their next query on. Raises SearchError on a bad line, before
    anything is copied, so a typo never replaces a working file."""
    read_rules(path)
    index_dir.mkdir(parents=True, exist_ok=True)
    destination = index_dir / INDEX_SYNONYMS_NAME
    temporary = destination.with_name(destination.name + ".tmp")
    shutil.copyfile(path, temporary)
    temporary.replace(destination)
    return destination
