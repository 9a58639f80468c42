"""Expected time and memory per stage of the paper's configuration (configs/paper.yaml), from measured throughput.

    nice -n 10 python bench/paper_estimate.py --out bench/results/paper_estimate.md

1. Measures, on this machine, the encoder throughput of the paper's student shape (BERT-base: 12 layers, 768 wide,
   the shape of BAAI/bge-base-en-v1.5 and of the XLM-R-base cross-encoder's transformer; random weights, since
   throughput does not depend on them) in tokens per CPU-second, forward only and forward + backward, one thread.
2. Converts the measured rate to FLOP/s (2 x non-embedding parameters x tokens forward, 3x that with the backward)
   and sizes each stage of the paper's configuration on SciFact, NFCorpus and FiQA (corpus sizes and passage
   lengths from the BEIR paper; the share of queries kept by generate, mine and score as measured on the default
   Cranfield run) in FLOPs.
3. Prints the time on this CPU (2 cores, from the measured rate) and on one H200-class GPU: the bf16 matrix rate
   measured on this workplace's H200 (788 TFLOP/s) times an assumed model FLOP utilisation (ENCODER_MFU) for the
   encoders; for the 8B generator, prefill at GENERATOR_MFU and decoding bound by memory bandwidth (16 GB of
   bf16 weights read per decoding step of DECODE_BATCH sequences at an assumed DECODE_BW bytes/s).
Memory is computed: weights, optimizer and gradients in fp32 for training; activations per gradient-caching chunk
by the 34 bytes x sequence x width per layer rule for 16-bit training with fused attention (Korthikanti et al.,
2022). The GPU figures are estimates (assumptions named below), to be replaced by bench/gpu_check.py's
measurements when a GPU is at hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click
import torch

H200_BF16_FLOPS = 788e12  # measured on this workplace's H200 (8192^3 bf16 matmul through PyTorch)
ENCODER_MFU = 0.35  # assumed model FLOP utilisation of BERT-base inference/training in bf16 with SDPA
GENERATOR_MFU = 0.5  # assumed prefill utilisation of an 8B decoder in vLLM
DECODE_BW = 3.0e12  # assumed effective HBM read bandwidth while decoding (measured copy rate: 4.3 TB/s)
DECODE_BATCH = 256  # concurrent sequences vLLM decodes per step
CPU_CORES = 2

BERT_BASE_NONEMB = 85.0e6  # non-embedding parameters of BERT-base (and of XLM-R base's transformer)
BERT_BASE_ALL = 109.5e6  # with embeddings (bge-base-en-v1.5)
RERANKER_ALL = 278e6  # XLM-R base (bge-reranker-base), embeddings included
LLAMA_8B = 8.03e9
LAYERS, WIDTH = 12, 768

# corpus size and mean passage length in words (BEIR, Thakur et al., 2021, Table 1); test queries
DATASETS = {"SciFact": (5_183, 213.6, 300), "NFCorpus": (3_633, 232.3, 323), "FiQA": (57_638, 132.3, 648)}
TYPES = 6
KEEP_GENERATE, KEEP_MINE, KEEP_SCORE = 236 / 360, 204 / 236, 123 / 204  # default Cranfield run (README)
TOKENS_PER_WORD = 1.35
PROMPT_OVERHEAD = 350  # instruction + three few-shot examples, in generator tokens (shared prefix)
NEW_TOKENS = 32  # mean generated tokens (max_new_tokens 64)
QUERY_TOKENS = 24  # mean query length in student tokens


@dataclass
class Rate:
    fwd: float  # tokens per CPU-second, forward only
    train: float  # tokens per CPU-second, forward + backward


def measure(seq: int, batch: int, repeats: int) -> Rate:
    """Tokens per CPU-second of a BERT-base shaped encoder (random weights) at ``seq`` x ``batch``, one thread."""
    from transformers import BertConfig, BertModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = BertModel(BertConfig(attn_implementation="sdpa")).eval()  # type: ignore[call-arg]  # **kwargs of PretrainedConfig, absent from the stubs
    ids = torch.randint(1000, 30000, (batch, seq))
    mask = torch.ones_like(ids)

    def cpu_seconds(fn) -> float:
        fn()  # warm-up
        start = time.process_time()
        for _ in range(repeats):
            fn()
        return (time.process_time() - start) / repeats

    def forward() -> None:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)

    def forward_backward() -> None:
        model.train()
        model(input_ids=ids, attention_mask=mask).last_hidden_state.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)
        model.eval()

    tokens = seq * batch
    return Rate(tokens / cpu_seconds(forward), tokens / cpu_seconds(forward_backward))


def fwd_flops(tokens: float, seq: int, params: float = BERT_BASE_NONEMB) -> float:
    """Forward FLOPs: 2 per parameter per token plus attention (4 x layers x seq x width per token)."""
    return tokens * (2 * params + 4 * LAYERS * seq * WIDTH)


def hours(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def estimate(name: str, rate: Rate, seq_measured: int) -> list[tuple[str, str, str, str]]:
    docs, words, test_q = DATASETS[name]
    p_len = min(512, round(words * TOKENS_PER_WORD)) + 2
    gpu_enc = H200_BF16_FLOPS * ENCODER_MFU
    rows = []

    def encoder_row(stage: str, fwd_tokens_by_len: list[tuple[float, int]], backward: bool, memory: str) -> None:
        fwd = sum(fwd_flops(t, s) for t, s in fwd_tokens_by_len)
        measured_tokens = fwd / fwd_flops(1, seq_measured)  # in tokens of the measured length
        # gradient caching: a forward without graph, then a forward + backward, for every text
        cpu = measured_tokens * (1 / rate.fwd + (1 / rate.train if backward else 0)) / CPU_CORES
        rows.append((stage, hours(cpu), hours(fwd * (4 if backward else 1) / gpu_enc), memory))

    queries = TYPES * docs * KEEP_GENERATE
    mined, scored = queries * KEEP_MINE, queries * KEEP_MINE * KEEP_SCORE
    emb_mb = docs * 768 * 4 / 2**20
    encoder_row("index (encode corpus)", [(docs * p_len, p_len)], False,
                f"0.2 GB weights (bf16) + {emb_mb:.0f} MB embeddings")  # fmt: skip
    prefill = TYPES * docs * (p_len + 40) * 2 * LLAMA_8B  # the few-shot prefix is cached once per type
    decode_s = TYPES * docs * NEW_TOKENS / DECODE_BATCH * (2 * LLAMA_8B / DECODE_BW)
    gen_gpu = prefill / (H200_BF16_FLOPS * GENERATOR_MFU) + decode_s
    rows.append(("generate (Llama-3.1-8B, vLLM)", "not run on CPU", hours(gen_gpu),
                 "16 GB weights (bf16) + KV cache: one 40+ GB GPU; vLLM takes 90% of the card"))  # fmt: skip
    encoder_row("mine (encode queries, BM25, faiss)", [(queries * QUERY_TOKENS, QUERY_TOKENS)], False,
                f"0.2 GB + {emb_mb:.0f} MB Flat index; BM25 on CPU")  # fmt: skip
    encoder_row("score (cross-encoder, 20 pairs)", [(mined * 20 * (p_len + QUERY_TOKENS), p_len + QUERY_TOKENS)],
                False, f"{RERANKER_ALL * 2 / 1e9:.1f} GB weights (bf16) + batch 128 x 512 activations")  # fmt: skip
    chunk, epochs = 128, 5
    act_gb = 34 * p_len * chunk * WIDTH * LAYERS / 1e9
    train_mem = (
        f"{BERT_BASE_ALL * 16 / 1e9:.1f} GB fp32 weights+grads+AdamW + {act_gb:.0f} GB activations (chunk {chunk})"
    )
    encoder_row(f"train ({epochs} epochs, L=20, gradient caching)",
                [(epochs * scored * QUERY_TOKENS, QUERY_TOKENS), (epochs * scored * 20 * p_len, p_len)], True,
                train_mem)  # fmt: skip
    encoder_row("evaluate (encode corpus, rerank)", [(docs * p_len, p_len), (test_q * 20 * p_len, p_len)], False,
                "as index")  # fmt: skip
    return rows


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the tables here.")
@click.option("--seq", default=256, help="Sequence length of the measurement.")
@click.option("--batch", default=8)
@click.option("--repeats", default=2)
def main(out: Path | None, seq: int, batch: int, repeats: int) -> None:
    rate = measure(seq, batch, repeats)
    cpu = fwd_flops(rate.fwd, seq)
    lines = [
        f"Measured (BERT-base shape, seq {seq}, batch {batch}, 1 thread): forward {rate.fwd:.0f} tokens/CPU-s "
        f"({cpu / 1e9:.1f} GFLOP/CPU-s), forward+backward {rate.train:.0f} tokens/CPU-s.",
        f"GPU assumptions: {H200_BF16_FLOPS / 1e12:.0f} TFLOP/s bf16 (measured H200) x MFU {ENCODER_MFU} (encoders), "
        f"{GENERATOR_MFU} (8B prefill); decoding {DECODE_BATCH} sequences per step at {DECODE_BW / 1e12:.1f} TB/s.",
        "",
    ]
    for name in DATASETS:
        docs, words, _ = DATASETS[name]
        q = TYPES * docs
        header = "| stage | 2 CPU cores (measured rate) | one H200 (estimate) | memory |"
        lines += [f"**{name}** ({docs:,} passages, {words:.0f} words each; {q:,} generation prompts):", ""]
        lines += [header, "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in estimate(name, rate, seq)] + [""]
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
