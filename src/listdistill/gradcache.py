"""Chunked gradient caching (Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited
Setup"): a contrastive or listwise loss over a large batch with the memory of one small chunk.

1. Embed every query and passage chunk by chunk without a graph, saving each chunk's random state.
2. Take the loss over the whole batch's embeddings and its gradient with respect to the embeddings.
3. Re-embed chunk by chunk with the graph (same random state, so the same dropout masks) and backpropagate
   ``(embedding * cached_gradient).sum()``, which accumulates exactly the parameter gradients of the full batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from listdistill.distributed import SINGLE, World
from listdistill.encoder import Encoder


@dataclass
class RandomState:
    """Torch's CPU (and CUDA) random state, to replay one forward pass with identical dropout."""

    cpu: torch.Tensor
    cuda: list[torch.Tensor] | None

    @classmethod
    def capture(cls) -> RandomState:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return cls(torch.get_rng_state(), cuda)

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from this state, then return the generators to where they were."""
        with torch.random.fork_rng(devices=range(len(self.cuda)) if self.cuda else []):
            torch.set_rng_state(self.cpu)
            if self.cuda:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def autocast(device: str, bf16: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on ``device`` when asked for, else a no-op."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def _chunks(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def embed_without_graph(
    encoder: Encoder, texts: Sequence[str], is_query: bool, chunk_size: int, bf16: bool = False
) -> tuple[torch.Tensor, list[RandomState]]:
    """Step 1: embeddings (N, d) in float32 with no graph, and the random state before each chunk."""
    embs, states = [torch.zeros(0, encoder.dim, device=encoder.config.device)], []
    for chunk in _chunks(texts, chunk_size):
        states.append(RandomState.capture())
        with torch.no_grad(), autocast(encoder.config.device, bf16):
            embs.append(encoder.embed(chunk, is_query).float())  # (chunk, d)
    return torch.cat(embs), states


def backward_from_cache(
    encoder: Encoder,
    texts: Sequence[str],
    is_query: bool,
    grads: torch.Tensor,
    states: list[RandomState],
    chunk_size: int,
    bf16: bool = False,
) -> None:
    """Step 3: re-embed chunk by chunk with the graph and push the cached gradients (N, d) into the parameters."""
    for i, (chunk, state) in enumerate(zip(_chunks(texts, chunk_size), states, strict=True)):
        with state.replay(), autocast(encoder.config.device, bf16):
            emb = encoder.embed(chunk, is_query).float()  # (chunk, d)
        (emb * grads[i * chunk_size : i * chunk_size + len(chunk)]).sum().backward()


def cached_step(
    encoder: Encoder,
    queries: Sequence[str],
    passages: Sequence[str],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    chunk_size: int,
    bf16: bool = False,
    world: World = SINGLE,
    frozen_passages: torch.Tensor | None = None,
) -> float:
    """Accumulate into the encoder's ``.grad`` the gradient of ``loss_fn(queries (B, d), passages (P, d))`` over the
    whole batch, holding the graph of at most ``chunk_size`` texts at a time; return the loss value.

    In a multi-process ``world`` every process passes the same global batch, embeds its share, gathers the rest,
    backpropagates through its share only, and the gradients are summed (see :mod:`listdistill.distributed`).

    ``frozen_passages`` (P, d): fixed passage embeddings (query-tower training); ``passages`` are then not
    encoded at all and only the query side receives gradients.
    """
    qs, ps = world.part(len(queries)), world.part(len(passages))
    q_local, q_states = embed_without_graph(encoder, queries[qs], True, chunk_size, bf16)  # (B_r, d)
    q = world.gather_rows(q_local, len(queries)).requires_grad_(True)  # (B, d)
    if frozen_passages is None:
        p_local, p_states = embed_without_graph(encoder, passages[ps], False, chunk_size, bf16)  # (P_r, d)
        p = world.gather_rows(p_local, len(passages)).requires_grad_(True)  # (P, d)
    else:
        p = frozen_passages.to(q.device, torch.float32)  # (P, d), no gradient
    loss = loss_fn(q, p)
    loss.backward()  # step 2: gradients w.r.t. the embeddings only
    assert q.grad is not None
    backward_from_cache(encoder, queries[qs], True, q.grad[qs], q_states, chunk_size, bf16)
    if frozen_passages is None:
        assert p.grad is not None
        backward_from_cache(encoder, passages[ps], False, p.grad[ps], p_states, chunk_size, bf16)
    world.sum_gradients(encoder.model)
    return float(loss.detach())


def plain_step(
    encoder: Encoder,
    queries: Sequence[str],
    passages: Sequence[str],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    bf16: bool = False,
) -> float:
    """Ordinary backpropagation through one graph of the whole batch (the reference for :func:`cached_step`)."""
    with autocast(encoder.config.device, bf16):
        q = encoder.embed(queries, True).float()  # (B, d)
        p = encoder.embed(passages, False).float()  # (P, d)
    loss = loss_fn(q, p)
    loss.backward()
    return float(loss.detach())
