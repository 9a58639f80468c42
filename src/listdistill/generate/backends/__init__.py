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

One module per backend: :mod:`~listdistill.generate.backends.hf` (``transformers``),
:mod:`~listdistill.generate.backends.ct2` (``ctranslate2``) and :mod:`~listdistill.generate.backends.vllm_backend`
(``vllm``); what they share (the sampling config, the completion record, the protocol, device and tokenizer
helpers, the early stops) is in :mod:`~listdistill.generate.backends.common`.
"""

from __future__ import annotations

from listdistill.generate.backends.common import Backend, Completion, SamplingConfig
from listdistill.generate.backends.ct2 import CTranslate2Backend
from listdistill.generate.backends.hf import TransformersBackend
from listdistill.generate.backends.vllm_backend import VLLMBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "CTranslate2Backend",
    "Completion",
    "SamplingConfig",
    "TransformersBackend",
    "VLLMBackend",
    "load_backend",
]

BACKENDS = ("transformers", "ctranslate2", "vllm")


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
