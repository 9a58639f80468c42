"""Data-parallel training under ``torchrun`` (PyTorch distributed: gloo on CPU, NCCL on GPU).

One code path for one process and for many: :data:`SINGLE` is the world of one process, in which every collective
below is the identity. Under ``torchrun --nproc_per_node N`` (or any launcher setting ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), :func:`init_from_env` joins the process group and every process
runs the same training loop on the same global batch:

- each process embeds a contiguous 1/N share of the batch's queries and of its distinct passages (no graph);
- the shares are all-gathered, so every process holds the whole batch's embeddings: InfoNCE sees every in-batch
  negative, and the listwise loss (per query, needing no gather) is computed on the same numbers everywhere;
- each process backpropagates the gradient of the whole-batch loss with respect to its own share only (gradient
  caching's third step), so gradients flow to the local shard alone;
- the parameter gradients are summed across processes with one all-reduce, giving exactly the single-process
  gradient of the global batch, and every process takes the same optimizer step.

This is what ``DistributedDataParallel`` does, done by hand: gradient caching runs several backward passes per
step (one per chunk, a number that may differ between processes), which DDP's per-backward hooks do not allow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as td


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` data-parallel processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def part(self, n: int, rank: int | None = None) -> slice:
        """The contiguous share of ``n`` items of process ``rank`` (this one by default): [r*n//N, (r+1)*n//N)."""
        r = self.rank if rank is None else rank
        return slice(r * n // self.size, (r + 1) * n // self.size)

    def gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """All processes' shares (each (n_r, d), from :meth:`part`) stacked in rank order: (n, d). No gradient."""
        if not self.active:
            return local
        sizes = [len(range(n)[self.part(n, r)]) for r in range(self.size)]
        padded = local.new_zeros((max(sizes), *local.shape[1:]))  # all_gather needs equal shapes
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        td.all_gather(parts, padded)
        return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)])

    def sum_gradients(self, model: torch.nn.Module) -> None:
        """Sum every parameter's ``.grad`` over the processes (one flat all-reduce); missing grads count as 0."""
        if not self.active:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        flat = torch.cat([g.reshape(-1) for g in grads])
        td.all_reduce(flat, op=td.ReduceOp.SUM)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_parameters(self, model: torch.nn.Module) -> None:
        """Start every process from rank 0's weights."""
        if not self.active:
            return
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                td.broadcast(t.data, src=0)

    def barrier(self) -> None:
        if self.active:
            td.barrier()


SINGLE = World()


def init_from_env(device: str) -> World:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1), else :data:`SINGLE`.

    The backend is NCCL for a CUDA ``device`` and gloo otherwise; call :func:`local_device` for this process's GPU.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not td.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        td.init_process_group(backend=backend)
    return World(rank=rank, size=size, local_rank=local_rank)


def local_device(device: str, world: World) -> str:
    """``cuda`` becomes ``cuda:<local rank>`` in a multi-process world; anything else is kept."""
    return f"cuda:{world.local_rank}" if world.active and device == "cuda" else device


def shutdown(world: World) -> None:
    if world.active and td.is_initialized():
        td.destroy_process_group()
