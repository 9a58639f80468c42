"""The ``transformers`` generation backend (default, CPU or GPU).

``transformers``: batched generation with left padding. Each distinct few-shot prefix is prefilled once
(batch 1) and its per-layer keys and values are kept; a batch's cache is stitched from its rows' prefixes,
each left-padded with zeros to the longest, and each row's input is ``[pad][prefix][pad][suffix]`` with the
padding masked out. Position ids follow the attention mask, so every row sees exactly the positions and
keys it would see alone: the same outputs as an unbatched, uncached ``model.generate`` (up to float
rounding; greedy outputs are compared in the tests and the benchmark), while only the suffixes are
prefilled. Decoding is a short loop of our own rather than ``model.generate`` so that a row leaves the
batch (and its cache rows are dropped) as soon as it ends its turn or completes its first line (only the
first line is kept when cleaning). Sampling: temperature, then top-p (nucleus), from a ``torch.Generator``
seeded per batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

from listdistill.generate.backends.common import (
    Completion,
    SamplingConfig,
    _DecodesCompletions,
    _done,
    _first_line_done,
    _load_tokenizer,
    resolve_device,
    resolve_dtype,
)
from listdistill.generate.prompts import Prompt
from listdistill.models import materialise, resolve_model

PREFIX_CACHE_SIZE = 64  # distinct few-shot prefixes whose KV cache is kept (a type has at most C(5, 2) = 10)


class TransformersBackend(_DecodesCompletions):
    """Batched ``model.generate`` reusing the KV cache of each few-shot prefix (see the module docstring)."""

    name = "transformers"

    def __init__(self, model: str, device: str, dtype: str, prefix_cache: bool = True):
        import torch
        from transformers import AutoModelForCausalLM

        resolved = materialise(resolve_model(model))
        self.device = resolve_device(device)
        self.tokenizer = _load_tokenizer(resolved.location)
        kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, self.device)}
        if self.device != "cpu":
            kwargs["device_map"] = self.device  # load straight onto the GPU (an 8B model in bf16 is 16 GB)
        self.model: Any = cast(Any, AutoModelForCausalLM.from_pretrained(resolved.location, **kwargs))
        self.model.to(self.device).eval()
        self.prefix_cache = prefix_cache
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        self.eos_ids = sorted(i for i in eos_ids if i is not None)
        self._prefix_kv: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._torch = torch

    def _kv(self, prefix: tuple[int, ...]) -> list[tuple[Any, Any]] | None:
        """Per-layer (keys, values) of ``prefix`` alone, each (1, heads, P, head_dim); computed once per prefix.

        The longest run of leading tokens shared with a prefix already computed (the system turn, the first
        few-shot example) is reused, so only the rest is prefilled. None when the model's cache is not a plain
        full-attention cache (sliding windows, linear attention), which cannot be stitched into a batch; those
        models generate without prefix reuse.
        """
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        if prefix not in self._prefix_kv:
            torch = self._torch
            shared, base = 0, None
            for known, kv in self._prefix_kv.items():
                n = _common_length(known, prefix)
                if n > shared:
                    shared, base = n, kv
            shared = min(shared, len(prefix) - 1)  # at least one token to run
            seed = [(k[:, :, :shared], v[:, :, :shared]) for k, v in base] if base is not None and shared else None
            cache = DynamicCache(ddp_cache_data=seed) if seed else DynamicCache(config=self.model.config)
            ids = torch.tensor([prefix], device=self.device)  # (1, P)
            with torch.inference_mode():
                self.model(ids[:, shared:] if seed else ids, cache=cache, use_cache=True, logits_to_keep=1)
            if not all(type(layer) is DynamicLayer for layer in cache.layers):
                self.prefix_cache = False
                return None
            self._prefix_kv[prefix] = [
                (layer.keys, layer.values) for layer in cache.layers if isinstance(layer, DynamicLayer)
            ]
            while len(self._prefix_kv) > PREFIX_CACHE_SIZE:
                self._prefix_kv.popitem(last=False)
        self._prefix_kv.move_to_end(prefix)
        return self._prefix_kv[prefix]

    def warm(self, prefixes: Sequence[tuple[int, ...]]) -> None:
        """Compute the KV caches of ``prefixes`` (distinct ones, in the given order) before any batch runs.

        A prefix's cache reuses the longest prefix already computed, so its float rounding depends on which
        prefixes came before it; warming with every prefix of the whole run, in the order the run meets them,
        makes the caches, and so the outputs, the same whichever part of the batches a process generates.
        """
        if not self.prefix_cache:
            return
        for prefix in dict.fromkeys(p for p in prefixes if p):
            if len(self._prefix_kv) >= PREFIX_CACHE_SIZE or self._kv(prefix) is None:
                return

    def _batch_cache(self, heads: Sequence[tuple[int, ...]], width: int) -> Any:
        """A DynamicCache for the batch: each row's prefix KV, left-padded with zeros to ``width`` positions
        (the padding is masked out, like left padding of the prompt)."""
        from transformers import DynamicCache

        torch, F = self._torch, self._torch.nn.functional
        per_row = []
        for head in heads:
            kv = self._kv(head)
            if kv is None:
                return None
            per_row.append(kv)
        layers = []
        for layer in range(len(per_row[0])):
            keys = [F.pad(kv[layer][0], (0, 0, width - kv[layer][0].shape[2], 0)) for kv in per_row]
            values = [F.pad(kv[layer][1], (0, 0, width - kv[layer][1].shape[2], 0)) for kv in per_row]
            layers.append((torch.cat(keys), torch.cat(values)))  # (B, heads, width, head_dim) each
        return DynamicCache(ddp_cache_data=layers)

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig, seed: int) -> list[Completion]:
        torch = self._torch
        if not prompts:
            return []
        reuse = self.prefix_cache and all(p.prefix_ids for p in prompts)
        heads = [p.prefix_ids if reuse else () for p in prompts]
        tails = [p.suffix_ids if reuse else p.input_ids for p in prompts]
        n_head, n_tail = max(len(h) for h in heads), max(len(t) for t in tails)
        # Each row: [pad][prefix][pad][suffix]; pads are masked and position ids follow the mask.
        ids = torch.full((len(prompts), n_head + n_tail), self.tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros_like(ids)  # (B, T)
        for row, (head, tail) in enumerate(zip(heads, tails, strict=True)):
            if head:
                ids[row, n_head - len(head) : n_head] = torch.tensor(head, dtype=torch.long)
                mask[row, n_head - len(head) : n_head] = 1
            ids[row, n_head + n_tail - len(tail) :] = torch.tensor(tail, dtype=torch.long)
            mask[row, n_head + n_tail - len(tail) :] = 1
        if reuse:
            cache = self._batch_cache(heads, n_head)
            if cache is None:  # not stitchable: generate from the whole prompts instead
                return self.generate(prompts, sampling, seed)
        else:
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
        new_ids = self._decode(ids.to(self.device), mask.to(self.device), cache, n_head, sampling, seed)
        return [self._completion(row) for row in new_ids]

    def _decode(
        self, ids: Any, mask: Any, cache: Any, n_cached: int, sampling: SamplingConfig, seed: int
    ) -> list[list[int]]:
        """Prefill ``ids[:, n_cached:]`` on top of ``cache``, then sample token by token. A row leaves the batch
        (and the cache) as soon as it is finished, so short answers do not pay for long ones. With
        ``sampling.samples`` k > 1, each row is prefilled once and then repeated k times (cache, mask, positions
        and the prefill's logits) before the first token is drawn: k independent samples per prompt, returned
        prompt-major."""
        torch = self._torch
        k = sampling.samples
        generator = torch.Generator(device=self.device).manual_seed(seed)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T): positions follow the mask, pads excluded
        rows = list(range(ids.shape[0] * k))  # batch row -> output index (prompt i * k + sample), rows still going
        out: list[list[int]] = [[] for _ in rows]
        step_ids, step_pos = ids[:, n_cached:], positions[:, n_cached:]
        with torch.inference_mode():
            for step in range(sampling.max_new_tokens):
                logits = self.model(
                    input_ids=step_ids, attention_mask=mask, position_ids=step_pos, cache=cache, logits_to_keep=1
                ).logits[:, -1, :]  # (b, V)
                if step == 0 and k > 1:  # one prefill per prompt, then k rows per prompt
                    logits = logits.repeat_interleave(k, dim=0)  # (B * k, V)
                    cache.batch_repeat_interleave(k)
                    mask, step_pos = mask.repeat_interleave(k, dim=0), step_pos.repeat_interleave(k, dim=0)
                token = _sample(logits.float(), sampling, generator)  # (b,)
                done = []
                for i, tok in enumerate(token.tolist()):
                    out[rows[i]].append(tok)
                    done.append(tok in self.eos_ids or _done(self._text(out[rows[i]]), sampling))
                if all(done) or step + 1 == sampling.max_new_tokens:
                    break
                if any(done):
                    keep = torch.tensor([i for i, d in enumerate(done) if not d], device=self.device)
                    cache.batch_select_indices(keep)
                    rows = [rows[i] for i in keep.tolist()]
                    token, mask, step_pos = token[keep], mask[keep], step_pos[keep]
                mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)  # (b, T + 1)
                step_ids, step_pos = token[:, None], step_pos[:, -1:] + 1  # (b, 1) each
        return out


def _sample(logits: Any, sampling: SamplingConfig, generator: Any) -> Any:
    """Next token per row (b,) from logits (b, V): greedy at temperature 0, else temperature, top-k (if set),
    then top-p."""
    import torch

    if sampling.temperature <= 0:
        return logits.argmax(-1)
    if 0 < sampling.top_k < logits.shape[-1]:
        kth = logits.topk(sampling.top_k, dim=-1).values[:, -1:]  # (b, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits / sampling.temperature, dim=-1)  # (b, V)
    if sampling.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)  # (b, V)
        outside = sorted_p.cumsum(-1) - sorted_p > sampling.top_p  # mass before a token already exceeds top_p
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def first_line_stop(tokenizer: Any, start: int) -> Any:
    """A transformers stopping criterion: a row is done once its generated text (from position ``start``)
    has a complete non-empty first line."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class FirstLineStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            return torch.tensor([_first_line_done(t) for t in texts], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([FirstLineStop()])
