"""Cleaning raw generations into queries, and the reasons a generation is dropped.

Cleaning (:func:`clean_output`): keep the first non-empty line; strip Markdown emphasis, list markers,
answer labels ("Question:", "Search query -", the type's own labels), and wrapping quotes; collapse
whitespace; apply the type's post-processing (lower-case; for sentence types such as claims, the first
sentence; for list types, the distinct comma-separated items, at most ``max_items``, without a trailing item
cut off by the token limit); cap at ``max_words`` words, or at the type's own cap (8 for terse search
queries) without trailing function words.

Drops (:func:`drop_reason`), checked in this order, the first that applies is recorded:

* ``empty``: nothing is left after cleaning;
* ``unfinished``: generation hit ``max_new_tokens`` before ending its first line, and the cut falls inside
  the kept text (a sentence type keeps a complete first sentence; a list type its complete items; a type
  with its own word cap the words before the cut when there are more than the cap);
* ``repetitive``: a degenerate loop: some four words in a row occur twice ("the validity of the validity
  of the validity"), a word or word pair repeats at once ("free-flowing free-flowing"), or a content word
  occurs three times ("stability on stability on roll and stability"); list types: only the first rule;
* ``repeats_prompt``: the output repeats the prompt rather than the passage: it shares a run of at least
  ``prompt_copy_run`` words (default :data:`PROMPT_COPY_RUN`; all of its words when shorter, from 3 words)
  with the instruction, the request or a shown few-shot example (an echoed instruction, a copied example
  answer), or it borrows from them a content-word pair that the passage does not contain, or a word that
  no passage of the pool contains, plurals folded (small models write "the physics of sourdough breads"
  about a wind-tunnel report); list types lose such items instead ("honeybee, eddy viscosity");
* ``copies_passage``: the longest run of consecutive words shared with the passage (lower-cased word tokens,
  punctuation ignored) is at least ``max_copy_run`` words, i.e. the model copied a span instead of writing
  a query;
* ``duplicate``: the same words (case and punctuation ignored) were already kept for this type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from listdistill.generate.catalog import QueryType

DROP_REASONS = ("empty", "unfinished", "repetitive", "repeats_prompt", "copies_passage", "duplicate")
MAX_COPY_RUN = 8  # words copied in a row from the passage that make an output a copy
PROMPT_COPY_RUN = 5  # words in a row shared with the instruction or an example that make an output an echo
MAX_WORDS = 32

# Function words ignored when looking for borrowed content-word pairs.
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but not no nor is are was were be been being it its this "  # noqa: SIM905
    "that these those what which who whom whose when where why how do does did can could should would will may "
    "might must has have had than then there their they them he she his her we our you your i as into over under "
    "about between after before during more most less least very much many some any each other such only also up "
    "down out so if per one two three".split()
)
_GENERIC_LABELS = ("answer", "output", "response", "query", "here is the query", "here is a query")
_WORD = re.compile(r"\w+")
# A sentence end: '.', '!' or '?' after a word of 3+ letters (not an initial such as "a. m."), then a space.
SENTENCE_END = re.compile(r"(?<=[A-Za-z]{3})[.!?](?=\s)")
_QUOTES = "\"'`“”‘’«»"


@dataclass(frozen=True)
class CleanConfig:
    max_copy_run: int = MAX_COPY_RUN
    prompt_copy_run: int = PROMPT_COPY_RUN
    max_words: int = MAX_WORDS


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped."""
    return _WORD.findall(text.lower())


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run of consecutive tokens that ``a`` and ``b`` share (O(len(a) * len(b)))."""
    if not a or not b:
        return 0
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def _label_pattern(labels: Iterable[str]) -> re.Pattern[str]:
    names = sorted({*(lab.lower() for lab in labels), *_GENERIC_LABELS}, key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    # "Question:", "Search query -", "Keywords (5):", "Question 1:" at the start of the line
    return re.compile(rf"^(?:{alt})(?:\s*\d+|\s*\([^)]*\))?\s*(?::|[-–—]\s)\s*", re.IGNORECASE)


def _first_line(raw: str) -> str:
    for line in raw.splitlines():
        if line.strip():
            return line
    return ""


def _strip_quotes(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if text.count('"') == 1 or text.count("“") + text.count("”") == 1:  # a lone opening or closing quote
        text = text.strip('"“”').strip()
    return text


def clean_output(raw: str, qtype: QueryType, max_words: int = MAX_WORDS, finished: bool = True) -> str:
    """The query in a raw generation, or "" when none is left (see the module docstring)."""
    return clean_generation(raw, qtype, max_words, finished)[0]


def clean_generation(raw: str, qtype: QueryType, max_words: int = MAX_WORDS, finished: bool = True) -> tuple[str, bool]:
    """The cleaned query and whether it is complete: generation ``finished``, or it was cut off by the token
    limit but the kept text ends before the cut (a list type's complete items; a type's word cap)."""
    text = _first_line(raw)
    text = re.sub(r"[*_]{2,}|#+\s", " ", text).strip()  # **bold**, __bold__, "## heading"
    text = re.sub(r"^(?:[-*•]\s+|\d+[.)]\s+)", "", text)  # list markers
    label = _label_pattern(qtype.labels)
    for _ in range(3):  # "Query: Question: ..." or a label inside quotes
        text = _strip_quotes(label.sub("", text.strip()))
    text = " ".join(text.split())
    if qtype.lowercase:
        text = text.lower().rstrip(".")
    complete = finished
    if qtype.first_sentence:
        end = SENTENCE_END.search(text)
        if end is not None:  # a complete first sentence, whatever follows (or was cut off)
            text, complete = text[: end.start() + 1], True
    if qtype.max_items:
        items = list_items(text, qtype.max_items, finished)
        text, complete = ", ".join(items), finished or bool(items)
    tokens = text.split()
    cap = qtype.max_words or max_words  # the type's own cap, else the global one
    if len(tokens) > cap:
        tokens = tokens[:cap]
        if qtype.max_words:  # the type's own cap: a terse query, and the cut-off tail is gone
            while len(tokens) > 1 and tokens[-1].lower().strip(",:;") in STOPWORDS:
                tokens.pop()
            text, complete = " ".join(tokens).rstrip(",:;"), True
        else:
            text = " ".join(tokens)
    return text.strip(), complete


def list_items(text: str, max_items: int, finished: bool = True) -> list[str]:
    """The distinct comma/semicolon-separated items of ``text`` (first ``max_items``); when the generation was
    cut off, its last item is incomplete and left out."""
    items = [i.strip(" .") for i in re.split(r"[,;]", text)]
    if not finished:
        items = items[:-1]
    seen: set[str] = set()
    out = []
    for item in items:
        if item and item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out[:max_items]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_bigrams(w: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent pairs of content words (no stopword), plurals folded ("breads" ~ "bread")."""
    return {
        (_singular(a), _singular(b))
        for a, b in zip(w, w[1:], strict=False)
        if a not in STOPWORDS and b not in STOPWORDS
    }


MIN_DOMAIN_WORDS = 3000  # below this many distinct words a pool's vocabulary misses ordinary English words


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts`` (lower-cased, plurals folded): the domain's vocabulary, from the whole pool."""
    return {_singular(x) for text in texts for x in words(text)}


def domain_vocabulary(texts: Iterable[str]) -> set[str] | None:
    """The pool's :func:`vocabulary` for the borrowed-word rule, or None (the rule off) when it holds fewer than
    :data:`MIN_DOMAIN_WORDS` distinct words: too few to tell a word borrowed from the prompt ("sourdough") from an
    ordinary one the pool happens not to use ("happens", "purpose"), so a pool of a few dozen passages (ADI's
    holds about ten) would lose most of its queries to the rule."""
    vocab = vocabulary(texts)
    return vocab if len(vocab) >= MIN_DOMAIN_WORDS else None


def foreign_words(w: Sequence[str], prompt_words: Sequence[Sequence[str]], domain: set[str]) -> set[str]:
    """Words of ``w`` taken from the prompt (instruction, shown examples) that the domain never uses."""
    shown = {_singular(x) for p in prompt_words for x in p}
    return {y for y in map(_singular, w) if len(y) >= 4 and y in shown and y not in domain}


def drop_foreign_items(
    text: str, prompt_words: Sequence[Sequence[str]], domain: set[str], max_items: int | None = None
) -> str:
    """A list type's items without those that borrow words from the prompt (see :func:`foreign_words`)."""
    items = [i.strip() for i in text.split(",")]
    kept = [i for i in items if i and not foreign_words(words(i), prompt_words, domain)]
    return ", ".join(kept[:max_items] if max_items else kept)


def repetitive(w: Sequence[str], list_type: bool = False) -> bool:
    """A degenerate loop (see the module docstring)."""
    grams = list(zip(w, w[1:], w[2:], w[3:], strict=False))
    if len(set(grams)) < len(grams):
        return True
    if list_type:  # items may share words ("inviscid flow, flow separation"); duplicate items are removed
        return False
    if any(w[i] == w[i + 1] for i in range(len(w) - 1)):
        return True
    if any(w[i : i + 2] == w[i + 2 : i + 4] for i in range(len(w) - 3)):
        return True
    counts: dict[str, int] = {}
    for x in w:
        if x not in STOPWORDS and not x.isdigit():
            counts[x] = counts.get(x, 0) + 1
    return max(counts.values(), default=0) >= 3


def prompt_texts(qtype: QueryType, example_ids: Iterable[int]) -> list[list[str]]:
    """Word lists of every part of a prompt except the passage (instruction, request, shown examples)."""
    parts = [qtype.instruction, qtype.request]
    for i in example_ids:
        parts += [qtype.examples[i].passage, qtype.examples[i].output]
    return [words(p) for p in parts]


def drop_reason(
    text: str,
    complete: bool,
    passage_words: Sequence[str],
    prompt_words: Sequence[Sequence[str]],
    seen: set[str],
    config: CleanConfig = CleanConfig(),
    list_type: bool = False,
    domain: set[str] | None = None,
) -> str | None:
    """Why a cleaned output is dropped (one of :data:`DROP_REASONS`), or None to keep it.

    ``seen`` holds the normalised texts kept so far for this type; a kept text is added to it. ``domain``:
    the pool's :func:`vocabulary` (without it, words borrowed from the prompt are not looked for).
    """
    w = words(text)
    if not w:
        return "empty"
    if not complete:
        return "unfinished"
    if repetitive(w, list_type=list_type):
        return "repetitive"
    if len(w) >= 3:
        need = min(config.prompt_copy_run, len(w))
        if any(longest_common_run(w, p) >= need for p in prompt_words):
            return "repeats_prompt"
    borrowed = content_bigrams(w) - content_bigrams(passage_words)
    if borrowed and any(borrowed & content_bigrams(p) for p in prompt_words):
        return "repeats_prompt"
    if domain is not None and foreign_words(w, prompt_words, domain):
        return "repeats_prompt"
    if longest_common_run(w, passage_words) >= config.max_copy_run:
        return "copies_passage"
    key = " ".join(w)
    if key in seen:
        return "duplicate"
    seen.add(key)
    return None
