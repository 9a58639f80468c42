"""Long documents cut into passages of at most ``chunk_tokens`` tokens of the student's tokenizer, on sentence
boundaries where the text has them (``dataset.chunk_tokens``, ``dataset.chunk_overlap``; 0 = no chunking).

A document's text is split into sentences (after ``.``, ``!`` or ``?`` followed by white space, and at blank
lines); a sentence longer than ``chunk_tokens`` (a text without punctuation, a table row) is cut at word
boundaries into pieces of at most ``chunk_tokens`` tokens, and counted. Sentences are packed in order into
passages while they fit; the next passage starts with the last sentences of the previous one that fit in
``chunk_overlap`` tokens (none when the last sentence alone is longer than that, or when it would be the whole
passage again). Tokens are counted without the special tokens the encoder adds (``[CLS]``, ``[SEP]``).

Every passage of a chunked corpus is ``Doc("<doc_id>#<k>", <the document's title>, <text>)``, k = 0, 1, ...;
:mod:`listdistill.passages` maps a passage id back to its document (MaxP evaluation, qrels expansion).

A ``chunk_tokens`` smaller than most sentences is a configuration mistake, not a corpus to cut word by word:
:func:`check_chunk_size` raises an error naming the key when it is below the median sentence length.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from listdistill.models import load_checked, resolve_model
from listdistill.passages import SEPARATOR, document_of, expand_qrels
from listdistill.records import Doc

__all__ = ["SEPARATOR", "Chunked", "check_chunk_size", "chunk_corpus", "document_of", "expand_qrels", "sentences"]

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")

Counter = Callable[[Sequence[str]], list[int]]  # token counts of several texts


@dataclass
class Chunked:
    passages: list[Doc]
    stats: dict[str, int] = field(default_factory=dict)


def sentences(text: str) -> list[str]:
    """The text's sentences, whitespace inside each collapsed, empty ones dropped."""
    return [" ".join(s.split()) for s in SENTENCE_END.split(text) if s.strip()]


def cut_words(sentence: str, size: int, count: Counter) -> list[str]:
    """A too-long sentence cut at word boundaries into consecutive pieces of at most ``size`` tokens (a single word
    longer than that is a piece of its own)."""
    words = sentence.split()
    lengths = count(words)
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for word, n in zip(words, lengths, strict=True):
        if current and used + n > size:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(word)
        used += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def pack(units: Sequence[str], lengths: Sequence[int], size: int, overlap: int) -> list[str]:
    """Consecutive units joined into passages of at most ``size`` tokens, each starting with the last units of
    the previous passage that fit in ``overlap`` tokens."""
    passages: list[str] = []
    start = 0
    while start < len(units):
        end, used = start, 0
        while end < len(units) and (end == start or used + lengths[end] <= size):
            used += lengths[end]
            end += 1
        passages.append(" ".join(units[start:end]))
        if end == len(units):
            break
        back, carried = end, 0
        while back - 1 > start and carried + lengths[back - 1] <= overlap:
            back -= 1
            carried += lengths[back]
        start = back
    return passages


def chunk_document(doc: Doc, size: int, overlap: int, count: Counter) -> tuple[list[Doc], int]:
    """The passages of one document and the number of sentences that had to be cut at words."""
    units: list[str] = []
    cut = 0
    sents = sentences(doc.text)
    for sentence, n in zip(sents, count(sents), strict=True):
        if n > size:
            units.extend(cut_words(sentence, size, count))
            cut += 1
        else:
            units.append(sentence)
    texts = pack(units, count(units), size, overlap) if units else [""]
    return [Doc(f"{doc.doc_id}{SEPARATOR}{k}", doc.title, text) for k, text in enumerate(texts)], cut


def chunk_corpus(docs: Sequence[Doc], size: int, overlap: int, count: Counter) -> Chunked:
    """Every document's passages, in corpus order (see the module docstring)."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"chunks need 1 <= chunk_tokens and 0 <= chunk_overlap < chunk_tokens, got {size}, {overlap}")
    passages: list[Doc] = []
    cut = 0
    for doc in docs:
        made, n_cut = chunk_document(doc, size, overlap, count)
        passages.extend(made)
        cut += n_cut
    longest = max((int(p.doc_id.rsplit(SEPARATOR, 1)[1]) + 1 for p in passages), default=0)
    stats = {"documents": len(docs), "passages": len(passages), "sentences_cut": cut, "most_passages": longest}
    return Chunked(passages, stats)


def check_chunk_size(docs: Sequence[Doc], size: int, count: Counter, sample: int = 2000) -> None:
    """Raise ValueError naming ``dataset.chunk_tokens`` when it is below the median sentence length of (the first
    ``sample`` sentences of) the corpus: most passages would then be pieces of sentences."""
    sents: list[str] = []
    for doc in docs:
        sents.extend(sentences(doc.text))
        if len(sents) >= sample:
            break
    if not sents:
        return
    median = statistics.median_low(count(sents[:sample]))
    if size < median:
        raise ValueError(
            f"dataset.chunk_tokens: {size} tokens is smaller than a sentence of this corpus (median {median} tokens "
            f"over {min(len(sents), sample)} sentences): passages would cut most sentences in pieces; expected at "
            f"least {median}, or 0 to keep documents whole"
        )


def tokenizer_counter(model_ref: str) -> Counter:
    """Token counts by the tokenizer of the student model ``model_ref`` (no special tokens)."""
    from transformers import AutoTokenizer

    tokenizer = load_checked(AutoTokenizer, resolve_model(model_ref).location)

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    return count
