"""The transformers backend and the generation driver on a tiny random Llama that uses the packaged generator's
tokenizer and chat template: prefix-cached batches equal plain generation, runs are deterministic, a killed run
resumes from its checkpoint, outputs are written atomically."""

from __future__ import annotations

import json

import pytest
import torch

from listdistill.generate import (
    DEFAULT_MODEL,
    GenerateConfig,
    generate_queries,
    read_pool,
    write_outputs,
)
from listdistill.generate.backends import SamplingConfig, TransformersBackend, first_line_stop
from listdistill.generate.catalog import load_type
from listdistill.generate.prompts import PromptBuilder
from listdistill.io import Doc

TEXTS = [
    "an experimental study of a wing in a propeller slipstream was made to find the lift increase .",
    "the boundary layer on a flat plate in supersonic flow was measured with a pitot probe .",
    "heat transfer to a rotating disk in compressible flow is found from the energy equation .",
    "flutter of a cantilever wing was observed in the wind tunnel at high dynamic pressure .",
    "a simple method gives the pressure distribution on slender bodies of revolution .",
    "the buckling load of thin cylindrical shells under axial compression is computed .",
    "vortex shedding behind a circular cylinder was photographed at low reynolds numbers .",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one thread is faster, and much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer random Llama saved with the SmolLM2 tokenizer (real chat template, real vocabulary)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from listdistill.models import materialise, resolve_model

    tok = AutoTokenizer.from_pretrained(materialise(resolve_model(DEFAULT_MODEL)).location)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def backend(tiny_model):
    return TransformersBackend(tiny_model, device="cpu")


@pytest.fixture()
def pool(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text(
        "".join(json.dumps({"doc_id": str(i + 1), "title": "", "text": t}) + "\n" for i, t in enumerate(TEXTS))
    )
    return path


def _prompts(backend, n=5, qtype="questions"):
    builder = PromptBuilder(backend.tokenizer, load_type(qtype), 2, 48, seed=42)
    return [builder.build(Doc(str(i + 1), "", t)) for i, t in enumerate(TEXTS[:n])]


def test_prefix_cached_batch_equals_plain_generate(backend):
    prompts = _prompts(backend)
    assert len({p.prefix_ids for p in prompts}) > 1  # the batch mixes several few-shot prefixes
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0)
    backend._prefix_kv.clear()
    cached = backend.generate(prompts, sampling, seed=0)
    assert set(backend._prefix_kv) == {p.prefix_ids for p in prompts}  # each prefix prefilled once
    backend.prefix_cache = False
    try:
        uncached = backend.generate(prompts, sampling, seed=0)
    finally:
        backend.prefix_cache = True
    tok = backend.tokenizer
    for p, c, u in zip(prompts, cached, uncached, strict=True):
        ids = torch.tensor([p.input_ids])
        out = backend.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=12,
            do_sample=False,
            eos_token_id=backend.eos_ids,
            pad_token_id=tok.pad_token_id,
            stopping_criteria=first_line_stop(tok, ids.shape[1]),
        )
        plain = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        assert c.text == u.text == plain


def test_sampling_is_seeded(backend):
    prompts = _prompts(backend, 3)
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9)
    a = backend.generate(prompts, sampling, seed=1)
    assert a == backend.generate(prompts, sampling, seed=1)
    assert a != backend.generate(prompts, sampling, seed=2)


class Flaky:
    """The real backend, interrupted (as by a kill) after ``fail_after`` batches; counts batches generated."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.fail_after, self.calls = inner, fail_after, 0
        self.name, self.tokenizer = inner.name, inner.tokenizer

    def generate(self, prompts, sampling, seed):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return self.inner.generate(prompts, sampling, seed)


def test_generate_queries_records_are_deterministic(backend, pool):
    config = GenerateConfig("titles", passages=5, batch_size=2, max_new_tokens=8)
    a = generate_queries(config, pool, backend=backend, progress=False)
    b = generate_queries(config, pool, backend=backend, progress=False)
    assert a.rows == b.rows and a.stats == b.stats
    assert a.stats["generated"] == 5 == a.stats["kept"] + a.stats["dropped_total"]
    sources = [r["source_doc_id"] for r in a.rows]
    assert sources == sorted(set(sources), key=int) and set(sources) <= {d.doc_id for d in read_pool(pool)}
    assert [r["query_id"] for r in a.rows] == [f"titles-{s}" for s in sources]
    for q in a.queries:
        assert set(q) == {"query_id", "text", "query_type", "source_doc_id"}
        assert q["query_id"] == f"titles-{q['source_doc_id']}" and q["query_type"] == "titles" and q["text"]


def test_killed_run_resumes_from_checkpoint(backend, pool, tmp_path):
    config = GenerateConfig("questions", passages=6, batch_size=2, max_new_tokens=8)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        generate_queries(config, pool, checkpoint_dir=ckpt, backend=Flaky(backend, fail_after=2), progress=False)
    assert len((ckpt / "questions.jsonl").read_text().splitlines()) == 2
    resumed_backend = Flaky(backend)
    resumed = generate_queries(config, pool, checkpoint_dir=ckpt, backend=resumed_backend, progress=False)
    assert resumed_backend.calls == 1  # 3 batches, 2 already done
    fresh = generate_queries(config, pool, backend=backend, progress=False)
    assert resumed.rows == fresh.rows
    # other params: the checkpoint's batches do not match and are not reused
    other = Flaky(backend)
    generate_queries(GenerateConfig("questions", passages=6, batch_size=2, max_new_tokens=9), pool, ckpt, other, False)
    assert other.calls == 3
    out = tmp_path / "out"
    write_outputs(resumed, out / "q.jsonl", out / "q.json", sample=out / "q.tsv", dropped=out / "dropped" / "q.jsonl")
    assert not (ckpt / "questions.jsonl").exists()  # removed once the outputs are written


def test_write_outputs(backend, pool, tmp_path):
    result = generate_queries(GenerateConfig("keywords", passages=4, max_new_tokens=8), pool, backend=backend)
    write_outputs(result, tmp_path / "k.jsonl", tmp_path / "k.json", tmp_path / "k.tsv", tmp_path / "d.jsonl")
    kept = [json.loads(line) for line in (tmp_path / "k.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert kept == result.queries and len(kept) + len(dropped) == 4
    assert all(d["status"] in result.stats["dropped"] for d in dropped)
    stats = json.loads((tmp_path / "k.json").read_text())
    assert stats["kept"] == len(kept) and stats["dropped_total"] == len(dropped) and stats["passages"] == 4
    table = (tmp_path / "k.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["query_id", "source_doc_id", "status", "text", "raw"] and len(table) == 5
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


# --- ctranslate2: the packaged SmolLM2 itself, converted to int8 (a real generation on a few passages) ---


@pytest.fixture(scope="module")
def ct2():
    from listdistill.generate.backends import CTranslate2Backend, load_backend

    backend = load_backend("ctranslate2", DEFAULT_MODEL, device="cpu")
    assert isinstance(backend, CTranslate2Backend)
    return backend


def test_ctranslate2_conversion_is_cached_and_complete(ct2):
    from listdistill.generate.backends import ctranslate2_model
    from listdistill.models import materialise, resolve_model

    assert (ct2.path / "model.bin").is_file() and (ct2.path / "config.json").is_file()
    assert ctranslate2_model(materialise(resolve_model(DEFAULT_MODEL))) == ct2.path  # no second conversion
    assert not list(ct2.path.parent.glob(f"{ct2.path.name}.tmp*"))  # nothing half-written left behind
    assert ct2.tokenizer.convert_tokens_to_ids("<|im_end|>") in ct2.eos_ids
    newline = ct2.tokenizer.encode("a\nb", add_special_tokens=False)
    assert any(i in ct2.end_ids for i in newline)  # decoding stops at the first newline
    assert ct2.tokenizer.encode(" question", add_special_tokens=False)[0] not in ct2.end_ids


@pytest.mark.parametrize("qtype", ["questions", "keywords"])
def test_ctranslate2_queries_pass_cleaning_and_id_rules(ct2, pool, qtype):
    config = GenerateConfig(qtype, backend="ctranslate2", passages=4, batch_size=4, max_new_tokens=24, temperature=0)
    a = generate_queries(config, pool, backend=ct2, progress=False)
    b = generate_queries(config, pool, backend=ct2, progress=False)
    assert a.rows == b.rows and a.queries == b.queries  # greedy: deterministic across runs
    assert a.stats["generated"] == 4 == a.stats["kept"] + a.stats["dropped_total"]
    sources = [r["source_doc_id"] for r in a.rows]
    assert sources == sorted(set(sources), key=int) and set(sources) <= {d.doc_id for d in read_pool(pool)}
    assert [r["query_id"] for r in a.rows] == [f"{qtype}-{s}" for s in sources]
    for r in a.rows:
        assert "\n" not in r["raw"].strip()  # stopped at the end of the first line (or the type's early stop)
        assert r["status"] == "kept" or r["status"] in a.stats["dropped"]
    if qtype == "questions":  # the real model: one question per passage (the tiny pool's vocabulary drops some)
        assert all(r["raw"].strip().endswith("?") and r["finished"] for r in a.rows), [r["raw"] for r in a.rows]
    else:
        assert a.queries, [r["raw"] for r in a.rows]
    for q in a.queries:
        assert set(q) == {"query_id", "text", "query_type", "source_doc_id"}
        assert q["query_id"] == f"{qtype}-{q['source_doc_id']}" and q["query_type"] == qtype and q["text"]
        assert q["text"] == " ".join(q["text"].split())  # cleaned: one line, whitespace collapsed


def test_ctranslate2_prefix_groups_give_the_whole_prompts_outputs(ct2):
    prompts = _prompts(ct2, 5)
    assert len({p.prefix_ids for p in prompts}) > 1
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0)
    grouped = ct2.generate(prompts, sampling, seed=0)
    ct2.prefix_groups = False
    try:
        whole = ct2.generate(prompts, sampling, seed=0)
    finally:
        ct2.prefix_groups = True
    assert [c.text for c in grouped] == [c.text for c in whole]
    assert all(c.text.strip() for c in grouped)


def test_ctranslate2_sampling_is_seeded(ct2):
    prompts = _prompts(ct2, 3)
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9)
    a = ct2.generate(prompts, sampling, seed=1)
    assert a == ct2.generate(prompts, sampling, seed=1)
    assert a != ct2.generate(prompts, sampling, seed=2)
