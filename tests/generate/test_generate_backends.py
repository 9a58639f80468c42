"""The transformers backend and the generation driver on a tiny random Llama that uses the packaged generator's
tokenizer and chat template: prefix-cached batches equal plain generation, runs are deterministic, a killed run
resumes from its checkpoint, outputs are written atomically."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
from factories import GENERATOR, generate_config

from listdistill.generate import (
    generate_queries,
    read_pool,
    write_outputs,
)
from listdistill.generate.backends import SamplingConfig, TransformersBackend
from listdistill.generate.backends.hf import first_line_stop
from listdistill.generate.catalog import load_type
from listdistill.generate.prompts import PromptBuilder
from listdistill.records import Doc, GeneratedQuery

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

    tok = AutoTokenizer.from_pretrained(materialise(resolve_model(GENERATOR)).location)
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
    return TransformersBackend(tiny_model, "cpu", "auto")


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
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0, top_p=0.9)
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
    config = generate_config("titles", passages=5, batch_size=2, max_new_tokens=8, samples_per_passage=1, top_k=0)
    a = generate_queries(config, pool, backend=backend, progress=False)
    b = generate_queries(config, pool, backend=backend, progress=False)
    assert a.rows == b.rows and a.stats == b.stats
    assert a.stats["generated"] == 5 == a.stats["kept"] + a.stats["dropped_total"]
    sources = [r["source_doc_id"] for r in a.rows]
    assert sources == sorted(set(sources), key=int) and set(sources) <= {d.doc_id for d in read_pool(pool)}
    assert [r["query_id"] for r in a.rows] == [f"titles-{s}" for s in sources]
    for q in a.queries:
        assert isinstance(q, GeneratedQuery)
        assert q.query_id == f"titles-{q.source_doc_id}" and q.query_type == "titles" and q.text


def test_killed_run_resumes_from_checkpoint(backend, pool, tmp_path):
    config = generate_config("questions", passages=6, batch_size=2, max_new_tokens=8, samples_per_passage=1, top_k=0)
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
    generate_queries(
        generate_config("questions", passages=6, batch_size=2, max_new_tokens=9, samples_per_passage=1, top_k=0),
        pool,
        ckpt,
        other,
        False,
    )
    assert other.calls == 3
    out = tmp_path / "out"
    write_outputs(resumed, out / "q.jsonl", out / "q.json", sample=out / "q.tsv", dropped=out / "dropped" / "q.jsonl")
    assert not (ckpt / "questions.jsonl").exists()  # removed once the outputs are written


def test_write_outputs(backend, pool, tmp_path):
    result = generate_queries(
        generate_config("keywords", passages=4, max_new_tokens=8, samples_per_passage=1, top_k=0), pool, backend=backend
    )
    write_outputs(result, tmp_path / "k.jsonl", tmp_path / "k.json", tmp_path / "k.tsv", tmp_path / "d.jsonl")
    kept = [json.loads(line) for line in (tmp_path / "k.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert kept == [asdict(q) for q in result.queries] and len(kept) + len(dropped) == 4
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

    backend = load_backend("ctranslate2", GENERATOR, "cpu", "auto")
    assert isinstance(backend, CTranslate2Backend)
    return backend


def test_ctranslate2_conversion_is_cached_and_complete(ct2):
    from listdistill.generate.backends.ct2 import ctranslate2_model
    from listdistill.models import materialise, resolve_model

    assert (ct2.path / "model.bin").is_file() and (ct2.path / "config.json").is_file()
    assert ctranslate2_model(materialise(resolve_model(GENERATOR))) == ct2.path  # no second conversion
    assert not list(ct2.path.parent.glob(f"{ct2.path.name}.tmp*"))  # nothing half-written left behind
    assert ct2.tokenizer.convert_tokens_to_ids("<|im_end|>") in ct2.eos_ids
    newline = ct2.tokenizer.encode("a\nb", add_special_tokens=False)
    assert any(i in ct2.end_ids for i in newline)  # decoding stops at the first newline
    assert ct2.tokenizer.encode(" question", add_special_tokens=False)[0] not in ct2.end_ids


@pytest.mark.parametrize("qtype", ["questions", "keywords"])
def test_ctranslate2_queries_pass_cleaning_and_id_rules(ct2, pool, qtype):
    config = generate_config(
        qtype,
        backend="ctranslate2",
        passages=4,
        batch_size=4,
        max_new_tokens=24,
        temperature=0,
        samples_per_passage=1,
        top_k=0,
    )
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
        assert isinstance(q, GeneratedQuery)
        assert q.query_id == f"{qtype}-{q.source_doc_id}" and q.query_type == qtype and q.text
        assert q.text == " ".join(q.text.split())  # cleaned: one line, whitespace collapsed


def test_ctranslate2_prefix_groups_give_the_whole_prompts_outputs(ct2):
    prompts = _prompts(ct2, 5)
    assert len({p.prefix_ids for p in prompts}) > 1
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0, top_p=0.9)
    grouped = ct2.generate(prompts, sampling, seed=0)
    ct2.prefix_groups = False
    try:
        whole = ct2.generate(prompts, sampling, seed=0)
    finally:
        ct2.prefix_groups = True
    same = sum(a.text == b.text for a, b in zip(grouped, whole, strict=True))
    # int8 kernels give slightly different numbers for a cached prefix than for the whole prompt on some CPUs (AMX
    # here), which can flip one greedy token of one output; a broken grouping would change most of them
    assert same >= len(prompts) - 1, [(a.text, b.text) for a, b in zip(grouped, whole, strict=True)]
    assert all(c.text.strip() for c in grouped)


def test_ctranslate2_sampling_is_seeded(ct2):
    prompts = _prompts(ct2, 3)
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9)
    a = ct2.generate(prompts, sampling, seed=1)
    assert a == ct2.generate(prompts, sampling, seed=1)
    assert a != ct2.generate(prompts, sampling, seed=2)


# --- several samples per passage (samples_per_passage): one prefill, k independent samples, documented ids ---


def test_samples_need_sampling():
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(max_new_tokens=8, temperature=0.0, top_p=1.0, samples=2)
    with pytest.raises(ValueError, match="temperature"):
        generate_config("questions", temperature=0.0, samples_per_passage=2)
    with pytest.raises(ValueError, match=">= 1"):
        generate_config("questions", samples_per_passage=0)
    with pytest.raises(ValueError, match="top_k"):
        generate_config("questions", top_k=-1)


def test_top_k_one_is_greedy(backend, ct2):
    """Sampling from the single most likely token is greedy decoding, in both CPU backends."""
    for b in (backend, ct2):
        prompts = _prompts(b, 3)
        greedy = b.generate(prompts, SamplingConfig(max_new_tokens=10, temperature=0.0, top_p=0.9), seed=0)
        top1 = b.generate(prompts, SamplingConfig(max_new_tokens=10, temperature=1.0, top_k=1, top_p=0.9), seed=5)
        assert [c.text for c in top1] == [c.text for c in greedy]


def test_batch_key_of_one_sample_is_unchanged():
    """A one-sample batch keeps the checkpoint key it had before ``samples`` existed (old checkpoints resume)."""
    import hashlib
    from dataclasses import asdict

    from listdistill.generate import batch_key
    from listdistill.generate.prompts import Prompt

    config = generate_config("questions", samples_per_passage=1, top_k=0)
    sampling = config.sampling(load_type("questions"))
    batch = [Prompt("7", "text", (0, 1), (1, 2), (3,))]
    old = {k: v for k, v in asdict(sampling).items() if k not in ("samples", "top_k")}
    payload = {"model": config.model, "backend": config.backend, "device": config.device, "dtype": config.dtype}
    payload |= {"sampling": old, "seed": 5, "prompts": [["7", [1, 2, 3]]]}
    assert (
        batch_key(config, sampling, 5, batch)
        == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    )
    two = generate_config("questions", samples_per_passage=2)
    assert batch_key(two, two.sampling(load_type("questions")), 5, batch) != batch_key(config, sampling, 5, batch)


def test_transformers_samples_are_seeded_and_prompt_major(backend):
    prompts = _prompts(backend, 3)
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9, samples=3)
    a = backend.generate(prompts, sampling, seed=1)
    assert len(a) == 9 and a == backend.generate(prompts, sampling, seed=1)
    assert a != backend.generate(prompts, sampling, seed=2)
    assert all(len({c.text for c in a[i * 3 : i * 3 + 3]}) > 1 for i in range(3))  # independent draws


def _sample_ids(qtype, rows, k):
    """The documented ids: <type>-<doc> for a passage's first sample, <type>-<doc>-<j> for sample j = 2..k."""
    docs = list(dict.fromkeys(r["source_doc_id"] for r in rows))
    return [f"{qtype}-{d}" if j == 1 else f"{qtype}-{d}-{j}" for d in docs for j in range(1, k + 1)]


def _check_sampled(result, qtype, k, passages):
    rows = result.rows
    assert result.stats["generated"] == k * passages == result.stats["kept"] + result.stats["dropped_total"]
    assert result.stats["passages"] == passages
    sources = [r["source_doc_id"] for r in rows]
    assert sources == sorted(sources, key=int) and len(set(sources)) == passages
    assert [r["query_id"] for r in rows] == _sample_ids(qtype, rows, k)
    kept = [q.text for q in result.queries]
    assert len(kept) == len(set(kept))  # the duplicate rule drops repeats across samples and passages
    for q in result.queries:
        assert isinstance(q, GeneratedQuery)
        assert q.query_id.startswith(f"{qtype}-{q.source_doc_id}") and q.query_type == qtype
        assert q.text == " ".join(q.text.split()) and q.text


def test_samples_per_passage_records_checkpoint_and_shards(backend, pool, tmp_path):
    from listdistill.generate import generate_part, merge_parts
    from listdistill.shard import Shard

    config = generate_config("questions", passages=6, batch_size=2, max_new_tokens=8, samples_per_passage=3)
    whole = generate_queries(config, pool, backend=backend, progress=False)
    _check_sampled(whole, "questions", 3, 6)
    assert generate_queries(config, pool, backend=backend, progress=False).rows == whole.rows  # deterministic
    # a killed run resumes from its checkpoint and gives the same rows
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        generate_queries(config, pool, checkpoint_dir=ckpt, backend=Flaky(backend, fail_after=2), progress=False)
    resumed_backend = Flaky(backend)
    resumed = generate_queries(config, pool, checkpoint_dir=ckpt, backend=resumed_backend, progress=False)
    assert resumed_backend.calls == 1 and resumed.rows == whole.rows
    # shards merge into the whole run's rows; a part made with another sample count is refused
    parts = [tmp_path / f"part{i}" for i in range(2)]
    for i, folder in enumerate(parts):
        generate_part(config, pool, Shard(i, 2), folder, backend=backend, progress=False)
    merged = merge_parts(config, pool, parts)
    assert merged.rows == whole.rows and merged.queries == whole.queries and merged.stats == whole.stats
    from listdistill.shard import ShardError

    with pytest.raises(ShardError, match="samples"):
        merge_parts(
            generate_config("questions", passages=6, batch_size=2, max_new_tokens=8, samples_per_passage=1, top_k=0),
            pool,
            parts,
        )


def test_sample_ids_that_would_clash_raise():
    from listdistill.generate import clean_all
    from listdistill.generate.backends import Completion
    from listdistill.generate.clean import CleanConfig
    from listdistill.generate.prompts import Prompt

    prompts = [Prompt("1", "a passage", (0,), (), ()), Prompt("1-2", "another passage", (0,), (), ())]
    completions = {p.doc_id: [Completion("what is it?", True), Completion("why?", True)] for p in prompts}
    with pytest.raises(ValueError, match="clash"):
        clean_all(load_type("questions"), prompts, completions, CleanConfig())


@pytest.mark.parametrize("qtype", ["questions", "keywords"])
def test_ctranslate2_samples_pass_cleaning_and_id_rules(ct2, pool, qtype):
    """The packaged SmolLM2, 4 passages x 3 samples: deterministic for a seed, documented ids, cleaned records
    (keywords exercise the per-hypothesis early stop)."""
    config = generate_config(
        qtype, backend="ctranslate2", passages=4, batch_size=4, max_new_tokens=24, samples_per_passage=3
    )
    a = generate_queries(config, pool, backend=ct2, progress=False)
    b = generate_queries(config, pool, backend=ct2, progress=False)
    assert a.rows == b.rows and a.queries == b.queries  # deterministic for a seed
    _check_sampled(a, qtype, 3, 4)
    for r in a.rows:
        assert "\n" not in r["raw"].strip()  # each sample stopped at the end of its first line
        assert r["status"] == "kept" or r["status"] in a.stats["dropped"]
    assert len({r["raw"] for r in a.rows}) > 4  # the samples of a passage are not one output repeated
    assert a.queries, [r["raw"] for r in a.rows]


def test_ctranslate2_samples_share_one_prefill(ct2):
    """k samples of a prompt come from one ``generate_batch`` call with ``num_hypotheses=k`` (one prefill), and
    their count and order are as documented (prompt-major)."""
    prompts = _prompts(ct2, 3)
    calls = []
    real = ct2._run

    def spy(generator, inputs, prefix, sampling):
        calls.append(len(inputs))
        return real(generator, inputs, prefix, sampling)

    ct2._run = spy
    try:
        out = ct2.generate(prompts, SamplingConfig(max_new_tokens=12, temperature=0.7, samples=4, top_p=0.9), seed=3)
    finally:
        del ct2._run
    assert len(out) == 12 and sum(calls) == 3  # 3 inputs prefilled in all, 12 completions back
    assert all(c.text.strip() for c in out)
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.7, samples=4, top_p=0.9)
    assert out == ct2.generate(prompts, sampling, seed=3) != ct2.generate(prompts, sampling, seed=4)
