"""Chat prompts for query generation, split into a shared prefix and a per-passage suffix.

A prompt is a chat in the model's own template::

    system     the type's instruction
    user       Passage: <example passage 1>  <request>
    assistant  <example output 1>
    ...        (``num_examples`` examples, sampled per passage)
    user       Passage: <passage, truncated to passage_max_tokens>  <request>
    assistant  <- generation starts here

Everything up to the last user turn is the *prefix*; it depends only on the type and on which examples were
drawn, so every passage that drew the same examples shares it and the backend computes its KV cache once.
Examples are drawn without replacement from the type's catalog by a generator seeded with
``(seed, type, doc_id)`` and kept in catalog order, so with 5 examples and 2 per prompt there are at most 10
distinct prefixes per type, and a passage draws the same examples whatever else is in the pool.

The passage goes last rather than first: one query type runs per process (:mod:`.parallel`), so a
passage-first layout would share nothing within a run, while the few-shot prefix is shared by every
passage of the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from listdistill.generate.catalog import QueryType
from listdistill.records import Doc


@dataclass(frozen=True)
class Prompt:
    doc_id: str
    passage: str  # the passage as shown to the model (truncated)
    example_ids: tuple[int, ...]  # indices into the type's examples
    prefix_ids: tuple[int, ...]  # system + few-shot turns (shared)
    suffix_ids: tuple[int, ...]  # this passage's user turn + the assistant cue

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self.prefix_ids + self.suffix_ids


def sample_examples(query_type: str, doc_id: str, num_examples: int, available: int, seed: int) -> tuple[int, ...]:
    """Indices of the few-shot examples for one passage, deterministic in (seed, type, doc_id)."""
    k = min(num_examples, available)
    rng = random.Random(f"{seed}:{query_type}:{doc_id}")  # str seeds hash with sha512: stable across runs
    return tuple(sorted(rng.sample(range(available), k)))


def passage_text(doc: Doc) -> str:
    """Title and body on one line, whitespace collapsed."""
    return " ".join(doc.contents.split())


def user_turn(qtype: QueryType, passage: str) -> str:
    return f"Passage: {passage}\n\n{qtype.request}"


def build_messages(qtype: QueryType, example_ids: tuple[int, ...], passage: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": qtype.instruction}]
    for i in example_ids:
        ex = qtype.examples[i]
        messages.append({"role": "user", "content": user_turn(qtype, ex.passage)})
        messages.append({"role": "assistant", "content": ex.output})
    messages.append({"role": "user", "content": user_turn(qtype, passage)})
    return messages


def truncate_passage(tokenizer: Any, text: str, max_tokens: int) -> str:
    """Cut ``text`` to at most ``max_tokens`` tokens of the generator's tokenizer (0 keeps it whole)."""
    if max_tokens <= 0:
        return text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=True).strip()


def render_split(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of the chat prefix (all but the last turn) and of the rest, rendered with the chat template.

    The two parts are tokenized separately, so their concatenation is exactly what every backend receives.
    If the template does not render the prefix as a textual prefix of the whole chat, the prefix is empty
    (nothing is shared, but the prompt stays correct).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; "
            "query generation needs an instruction-tuned (chat) model"
        )
    full = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = tokenizer.apply_chat_template(messages[:-1], tokenize=False)
    if not full.startswith(head):
        head = ""
    return _encode(tokenizer, head), _encode(tokenizer, full[len(head) :])


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The chat template already holds any BOS token, so no special tokens are added here.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


class PromptBuilder:
    """Builds the prompts of one query type; prefixes are rendered once per distinct example draw."""

    def __init__(self, tokenizer: Any, qtype: QueryType, num_examples: int, passage_max_tokens: int, seed: int):
        self.tokenizer = tokenizer
        self.qtype = qtype
        self.num_examples = num_examples
        self.passage_max_tokens = passage_max_tokens
        self.seed = seed
        self._prefixes: dict[tuple[int, ...], tuple[int, ...]] = {}

    def build(self, doc: Doc) -> Prompt:
        qt = self.qtype
        example_ids = sample_examples(qt.name, doc.doc_id, self.num_examples, len(qt.examples), self.seed)
        passage = truncate_passage(self.tokenizer, passage_text(doc), self.passage_max_tokens)
        prefix, suffix = render_split(self.tokenizer, build_messages(qt, example_ids, passage))
        # Identical draws render identical prefixes; keep one tuple per draw (less memory, cheap grouping).
        shared = self._prefixes.setdefault(example_ids, tuple(prefix))
        if shared != tuple(prefix):  # a template that varies the prefix per passage: do not share
            shared = tuple(prefix)
        return Prompt(doc.doc_id, passage, example_ids, shared, tuple(suffix))
