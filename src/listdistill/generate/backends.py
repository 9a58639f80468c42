"""Generation backends: ``transformers`` (default, CPU or GPU), ``ctranslate2`` (CPU, int8) and ``vllm``
(optional, GPU).

All take the same :class:`~listdistill.generate.prompts.Prompt` token ids and return
``sampling.samples`` :class:`Completion` per prompt (prompt-major: prompt ``i``'s samples are items
``i * samples`` to ``i * samples + samples - 1``), so outputs have the same format whichever runs.

Several samples per prompt (``samples > 1``, sampling only) are independent draws that share one prefill of
the prompt: ``transformers`` prefills each row once and repeats its cache rows before the first token is drawn;
``ctranslate2`` passes ``num_hypotheses`` to ``generate_batch`` (with ``beam_size=1`` its greedy/sampling
search repeats the decoder state, already prefilled with the prompt, once per hypothesis, and returns the
hypotheses sorted by score); ``vllm`` sets ``SamplingParams(n=...)``.

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

``vllm``: ``LLM(model).generate([{"prompt_token_ids": ...}], [SamplingParams(...)])`` with vLLM's automatic
prefix caching; one seed per request. Imported only when selected (``pip install -e ".[vllm]"``, a GPU).

``ctranslate2``: the resolved Hugging Face folder is converted once into a CTranslate2 model with int8 weights,
cached under the model cache (see :func:`ctranslate2_model`), and run with ``Generator.generate_batch`` on the
prompts' token ids. Decoding stops at an end-of-turn token or at any token whose text holds a newline (the
cleaner keeps only the first line), and a per-token callback applies the types' early stops (list items,
first sentence, word cap) as the ``transformers`` backend does. Prefix reuse: CTranslate2 caches the model
state of one ``static_prompt`` per call, so a batch is split into groups sharing a few-shot prefix, and each
group into runs of passages whose lengths differ by at most ``length_spread`` tokens (CTranslate2 prefills a
call's inputs at once only up to the shortest one), each run generated with its prefix as the static prompt
(its state is computed once and kept across calls; with sampling, across the runs of one batch only, see
:meth:`CTranslate2Backend.generate`). The alternative, the whole batch in one call with whole prompts
(``prefix_groups=False``), was 2.9x slower (``bench/bench_generate.py --methods ct2-whole``). Outputs are
close to, not identical with, the float32 ``transformers`` backend's (int8 weights). Sampling: CTranslate2's
sampler (``RandomSampler``: top-k, then temperature, then top-p on the tempered distribution, the same order as
the ``transformers`` backend's), seeded per batch (a fresh generator per batch: CTranslate2 seeds a worker
thread's sampler only once). At the same temperature its sampled queries are worse than the ``transformers``
backend's (round trip 0.72 vs 0.79 for 4 samples per passage at 0.7): the int8 compute type quantises the
activations of every matrix product too (float32 compute on the same int8 weights: 0.81; a float32 model:
0.79; ``int8_float32`` is the same as ``int8`` on CPU), but float32 compute costs 1.7x the CPU time;
a lower temperature restores it instead (0.6 gives the ``transformers`` backend's round trip at 0.7: the
default ``generate.temperature``).
With ``top_k`` 0 CTranslate2's top-p sorts the whole vocabulary (49k tokens
for SmolLM2) for every row at every step; ``top_k=50`` cut a sampled run's CPU time by 20-30% at the same kept,
round-trip and teacher rates (``bench/results/bench_generate.md``).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from listdistill.generate.clean import SENTENCE_END, list_items
from listdistill.generate.prompts import Prompt
from listdistill.models import ResolvedModel, materialise, resolve_model
from listdistill.packaged import model_cache_dir

BACKENDS = ("transformers", "ctranslate2", "vllm")
PREFIX_CACHE_SIZE = 64  # distinct few-shot prefixes whose KV cache is kept (a type has at most C(5, 2) = 10)


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


def load_backend(name: str, model: str, device: str, dtype: str, tensor_parallel_size: int = 1) -> Backend:
    """Load a backend by name (``device`` and ``dtype`` as the params give them, ``auto`` allowed); a model reference
    that names nothing raises FileNotFoundError."""
    if name == "transformers":
        if tensor_parallel_size > 1:
            raise ValueError("tensor_parallel_size > 1 needs backend 'vllm'; the transformers backend uses one device")
        return TransformersBackend(model, device, dtype)
    if name == "ctranslate2":
        if tensor_parallel_size > 1:
            raise ValueError("tensor_parallel_size > 1 needs backend 'vllm'; the ctranslate2 backend uses one device")
        return CTranslate2Backend(model, device, dtype)
    if name == "vllm":
        return VLLMBackend(model, device, dtype, tensor_parallel_size)
    raise ValueError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")


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


CT2_QUANTIZATION = "int8"  # weights; activations follow the compute type (float32 on CPU)
# A call's inputs differ in length by at most this many tokens (CTranslate2 prefills up to the shortest input
# and feeds the rest token by token); measured on 60 Cranfield passages: none 40.2 CPU-s, 2: 35.3, 6: 30.8,
# 12: 30.7 (bench/results/bench_generate.md).
CT2_LENGTH_SPREAD = 8


def _ct2_source(resolved: ResolvedModel, staging: Path) -> str:
    """A folder the CTranslate2 converter accepts. A GGUF model materialised by :func:`materialise` holds
    dequantised float32 weights but keeps ``quantization_config: gguf`` in its config, which the converter
    rejects; it gets a staging copy (links to the weights, the config without that entry)."""
    src = Path(resolved.location)
    config_path = src / "config.json"
    if not config_path.is_file():
        return resolved.location  # a hub id: the converter downloads it (online only)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if (config.get("quantization_config") or {}).get("quant_method") != "gguf":
        return resolved.location
    config.pop("quantization_config")
    staging.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "config.json":
            (staging / f.name).symlink_to(f.resolve())
    (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return str(staging)


def ctranslate2_model(resolved: ResolvedModel, quantization: str = CT2_QUANTIZATION) -> Path:
    """The CTranslate2 conversion of a materialised model (a Hugging Face folder or hub id), made once and
    cached under the model cache, keyed by the source's files (name, size, mtime), the quantization and
    CTranslate2's version. Written to a temporary folder and renamed, so a killed conversion leaves nothing
    that looks finished, and concurrent conversions do not clash."""
    import ctranslate2

    src = Path(resolved.location)
    parts = [resolved.location, quantization, ctranslate2.__version__]
    if src.is_dir():
        parts.append(str(src.resolve()))
        parts += [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(src.iterdir()) if f.is_file()]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    folder = model_cache_dir() / f"{src.name}-ct2-{quantization}-{key}"
    if (folder / "model.bin").is_file():
        return folder
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        source = _ct2_source(resolved, tmp / "source")
        converter = ctranslate2.converters.TransformersConverter(source)
        converter.convert(str(tmp / "model"), quantization=quantization, force=True)
        if not (folder / "model.bin").is_file():  # another process may have finished first
            shutil.rmtree(folder, ignore_errors=True)
            (tmp / "model").replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _length_runs(rows: list[int], inputs: Mapping[int, Sequence[int]], spread: int | None) -> list[list[int]]:
    """Cut rows (sorted by input length) into runs whose lengths differ by at most ``spread`` tokens (None: one
    run). CTranslate2 prefills a batch only up to its shortest input and feeds the rest one step at a time."""
    if spread is None:
        return [rows] if rows else []
    runs: list[list[int]] = []
    for i in rows:
        if runs and len(inputs[i]) - len(inputs[runs[-1][0]]) <= spread:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _release_generator(ref: Any) -> None:
    backend = ref()
    if backend is not None:
        backend.generator = None


def newline_token_ids(tokenizer: Any) -> list[int]:
    """Ids of every vocabulary token whose decoded text holds a newline."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return [i for i, t in enumerate(texts) if "\n" in t]


def eos_token_ids(location: str, tokenizer: Any) -> list[int]:
    """End-of-turn ids: the generation config's ``eos_token_id`` (one or several) and the tokenizer's EOS."""
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id}
    try:
        eos = GenerationConfig.from_pretrained(location).eos_token_id
        ids |= set(eos if isinstance(eos, list) else [eos])
    except OSError:  # no generation_config.json
        pass
    return sorted(i for i in ids if i is not None)


class CTranslate2Backend(_DecodesCompletions):
    """CTranslate2 with int8 weights, batches grouped by few-shot prefix (see the module docstring)."""

    name = "ctranslate2"

    def __init__(
        self,
        model: str,
        device: str,
        dtype: str,
        threads: int = 0,
        prefix_groups: bool = True,
        quantization: str = CT2_QUANTIZATION,
        length_spread: int | None = CT2_LENGTH_SPREAD,
    ):
        """``threads``: CTranslate2's intra-op threads (0: torch's thread count, which follows
        ``OMP_NUM_THREADS``). ``dtype``: activations (auto: float32 on CPU, float16 on a GPU)."""
        import ctranslate2
        import torch

        resolved = materialise(resolve_model(model))
        self.tokenizer = _load_tokenizer(resolved.location)
        self.path = ctranslate2_model(resolved, quantization)
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        kind, _, index = device.partition(":")
        self.device = device
        if dtype == "auto":
            compute_type = quantization if kind == "cpu" else f"{quantization}_float16"
        else:
            compute_type = f"{quantization}_{dtype}"
        self._generator_args: dict[str, Any] = {
            "device": kind,
            "device_index": int(index or 0),
            "compute_type": compute_type,
            "intra_threads": threads or torch.get_num_threads(),
        }
        self.generator = ctranslate2.Generator(str(self.path), **self._generator_args)
        self.prefix_groups = prefix_groups
        self.length_spread = length_spread
        self.eos_ids = eos_token_ids(resolved.location, self.tokenizer)
        self.end_ids = sorted(set(self.eos_ids) | set(newline_token_ids(self.tokenizer)))
        self._ct2 = ctranslate2
        # Release the model before the interpreter tears down (a generator destroyed during finalisation can
        # abort the process: "terminate called without an active exception", seen once here).
        atexit.register(_release_generator, weakref.ref(self))

    def _tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(list(ids))

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig, seed: int) -> list[Completion]:
        if not prompts:
            return []
        groups: dict[tuple[int, ...], list[int]] = {}
        if self.prefix_groups and all(p.prefix_ids for p in prompts):
            for i, p in enumerate(prompts):
                groups.setdefault(p.prefix_ids, []).append(i)
        else:
            groups[()] = list(range(len(prompts)))
        generator = self.generator
        if sampling.temperature > 0:
            # CTranslate2's sampler is a per-thread generator seeded once, when its worker thread first samples,
            # from the global seed: set_random_seed has no effect on a generator that has sampled before. A
            # fresh generator (new worker thread, about 0.1 s to load) per batch makes a batch's samples depend
            # on its own seed only, as the checkpoints and shards need; it does not keep the prefix states
            # of earlier batches.
            self._ct2.set_random_seed(seed)
            generator = self._ct2.Generator(str(self.path), **self._generator_args)
        k = sampling.samples
        out: list[Completion | None] = [None] * (len(prompts) * k)
        for prefix, rows in groups.items():
            inputs = {i: prompts[i].suffix_ids if prefix else prompts[i].input_ids for i in rows}
            for part in _length_runs(sorted(rows, key=lambda i: len(inputs[i])), inputs, self.length_spread):
                new = self._run(generator, [inputs[i] for i in part], prefix, sampling)
                for i, samples in zip(part, new, strict=True):
                    for j, new_ids in enumerate(samples):
                        out[i * k + j] = self._completion(new_ids)
        return [c for c in out if c is not None]

    def _run(
        self, generator: Any, inputs: Sequence[Sequence[int]], prefix: tuple[int, ...], sampling: SamplingConfig
    ) -> list[list[list[int]]]:
        """Each input's ``sampling.samples`` generated id lists (CTranslate2 returns several hypotheses of one
        input sorted by score)."""
        k = sampling.samples
        kwargs: dict[str, Any] = {
            "max_length": sampling.max_new_tokens,
            "include_prompt_in_result": False,
            "end_token": self.end_ids,
            "return_end_token": True,
        }
        if sampling.temperature > 0:
            kwargs.update(
                sampling_topk=sampling.top_k,  # 0: the whole vocabulary (CTranslate2 then sorts all of it per step)
                sampling_topp=sampling.top_p,
                sampling_temperature=sampling.temperature,
            )
        if k > 1:
            kwargs.update(num_hypotheses=k, beam_size=1)  # the prompt is prefilled once, then its state repeated
        if prefix:
            kwargs.update(static_prompt=self._tokens(prefix), cache_static_prompt=True)
        if sampling.stop_items or sampling.stop_sentence or sampling.stop_words:
            generated: list[list[int]] = [[] for _ in range(len(inputs) * k)]

            def early_stop(step: Any) -> bool:
                row = generated[step.batch_id * k + step.hypothesis_id]
                row.append(step.token_id)
                return _done(self._text(row), sampling)

            kwargs["callback"] = early_stop
        results = generator.generate_batch([self._tokens(ids) for ids in inputs], **kwargs)
        out = [[list(ids) for ids in r.sequences_ids] for r in results]
        if any(len(samples) != k for samples in out):
            raise RuntimeError(f"ctranslate2 returned {[len(s) for s in out]} hypotheses per input, expected {k}")
        return out


class VLLMBackend:
    """vLLM's offline ``LLM.generate`` on the same token ids (GPU; prefix caching is vLLM's own).

    ``tensor_parallel_size`` splits one model copy over that many GPUs (0: every visible GPU). For data
    parallelism, run one shard per GPU or per group of GPUs (``--shard i/N`` with ``CUDA_VISIBLE_DEVICES``, see
    docs/sharding.md): the shards' merged output is the whole run's.
    """

    name = "vllm"

    def __init__(self, model: str, device: str, dtype: str, tensor_parallel_size: int = 1):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError('backend "vllm" needs vLLM and a GPU: pip install -e ".[vllm]"') from e
        if device not in ("auto", "cuda"):
            raise ValueError(f"backend 'vllm' runs on the GPU vLLM picks; got device {device!r} (use auto)")
        resolved = materialise(resolve_model(model))  # a GGUF reference becomes a plain folder first
        self.tokenizer = _load_tokenizer(resolved.location)
        if tensor_parallel_size == 0:
            import torch

            tensor_parallel_size = max(1, torch.cuda.device_count())
        self.llm = LLM(
            model=resolved.location,
            dtype=dtype,
            enable_prefix_caching=True,
            tensor_parallel_size=tensor_parallel_size,
        )

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig, seed: int) -> list[Completion]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
                top_k=sampling.top_k if sampling.top_k > 0 else -1,
                max_tokens=sampling.max_new_tokens,
                n=sampling.samples,
                seed=seed + i,
            )
            for i in range(len(prompts))
        ]
        inputs = [{"prompt_token_ids": list(p.input_ids)} for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        completions = []
        for out in outputs:
            for sample in out.outputs:
                done = sample.finish_reason == "stop" or _first_line_done(sample.text)
                completions.append(Completion(sample.text, done))
        return completions
