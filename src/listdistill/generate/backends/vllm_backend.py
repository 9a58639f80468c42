"""The ``vllm`` generation backend (optional, GPU).

``vllm``: ``LLM(model).generate([{"prompt_token_ids": ...}], [SamplingParams(...)])`` with vLLM's automatic
prefix caching; one seed per request. Imported only when selected (``pip install -e ".[vllm]"``, a GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

from listdistill.generate.backends.common import Completion, SamplingConfig, _first_line_done, _load_tokenizer
from listdistill.generate.prompts import Prompt
from listdistill.models import materialise, resolve_model


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
