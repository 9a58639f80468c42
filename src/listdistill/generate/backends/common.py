"""What the generation backends share: the sampling config, the completion record, the backend protocol, device
and dtype resolution, the tokenizer, and the early stops that end a row once cleaning would cut it anyway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from listdistill.generate.clean import SENTENCE_END, list_items
from listdistill.generate.prompts import Prompt


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    stop_items: int = 0  # list types: stop once the first line holds this many distinct complete items (0: off)
    stop_words: int = 0  # types with a word cap: stop once the first line is well past it (0: off)
    stop_sentence: bool = False  # sentence types: stop once the first sentence is complete
    samples: int = 1  # independent completions per prompt, sharing its prefill (> 1 needs temperature > 0)
    top_k: int = 0  # sampling: only the top_k most likely tokens, then top-p among them (0: off)

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.temperature <= 0:
            raise ValueError(
                f"{self.samples} samples per prompt need sampling (temperature > 0, got {self.temperature:g}): greedy "
                "decoding repeats one output"
            )


@dataclass(frozen=True)
class Completion:
    text: str
    finished: bool  # ended (end-of-turn token or end of the first line) before max_new_tokens


class Backend(Protocol):
    name: str
    tokenizer: Any

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig, seed: int) -> list[Completion]:
        """``sampling.samples`` completions per prompt, prompt-major."""
        ...


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto``: bfloat16 on a GPU that supports it (else float16), float32 on CPU."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def _load_tokenizer(location: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(location)
    if tok.pad_token_id is None:  # Llama 3.x has no pad token; padding is masked out anyway
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


class _DecodesCompletions:
    """Turns generated token ids into a :class:`Completion` (shared by the CPU backends)."""

    tokenizer: Any
    eos_ids: list[int]

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _completion(self, new_ids: list[int]) -> Completion:
        text = self._text(new_ids)
        ended = any(i in self.eos_ids for i in new_ids)
        return Completion(text, ended or _first_line_done(text))


def _first_line_done(text: str) -> bool:
    return "\n" in text.lstrip()


def _done(text: str, sampling: SamplingConfig) -> bool:
    """A row can stop: its first line is complete, or the cleaning would cut it anyway."""
    if _first_line_done(text):
        return True
    if sampling.stop_items and len(list_items(text, sampling.stop_items, finished=False)) >= sampling.stop_items:
        return True
    if sampling.stop_sentence and SENTENCE_END.search(text.strip()) is not None:
        return True
    # a margin of 4 words for a label ("Search query:") that cleaning strips
    return sampling.stop_words > 0 and len(text.split()) > sampling.stop_words + 4
