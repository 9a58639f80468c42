"""The ``ctranslate2`` generation backend (CPU, int8).

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from listdistill.generate.backends.common import (
    Completion,
    SamplingConfig,
    _DecodesCompletions,
    _done,
    _load_tokenizer,
)
from listdistill.generate.prompts import Prompt
from listdistill.models import ResolvedModel, cache_lock, materialise, resolve_model
from listdistill.packaged import model_cache_dir

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
    that looks finished; concurrent conversions wait for the first (:func:`~listdistill.models.cache_lock`)."""
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
    with cache_lock(folder):
        if (folder / "model.bin").is_file():  # converted by another process meanwhile
            return folder
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            source = _ct2_source(resolved, tmp / "source")
            converter = ctranslate2.converters.TransformersConverter(source)
            converter.convert(str(tmp / "model"), quantization=quantization, force=True)
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
