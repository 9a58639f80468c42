"""Query generation without a model: catalog, prompts, cleaning and drop rules, ids, sampling, pool schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import GENERATOR

from listdistill.generate import (
    plan_batches,
    query_id,
    read_pool,
    select_passages,
)
from listdistill.generate.catalog import UnknownQueryTypeError, available_types, load_type
from listdistill.generate.clean import (
    MIN_DOMAIN_WORDS,
    CleanConfig,
    clean_generation,
    clean_output,
    domain_vocabulary,
    drop_foreign_items,
    drop_reason,
    longest_common_run,
    prompt_texts,
    vocabulary,
    words,
)
from listdistill.generate.prompts import PromptBuilder, build_messages, sample_examples, truncate_passage
from listdistill.io import FormatError
from listdistill.records import Doc

PAPER_TYPES = {"questions", "claims", "titles", "keywords", "search", "random"}
PASSAGE = (
    "experimental investigation of the aerodynamics of a wing in a slipstream . an experimental study of a wing "
    "in a propeller slipstream was made in order to determine the spanwise distribution of the lift increase due "
    "to slipstream at different angles of attack of the wing and at different free stream to slipstream velocity "
    "ratios ."
)


@pytest.fixture(scope="module")
def tokenizer():
    """The packaged generator's tokenizer (the GGUF is converted once into .cache/models)."""
    from transformers import AutoTokenizer

    from listdistill.models import materialise, resolve_model

    return AutoTokenizer.from_pretrained(materialise(resolve_model(GENERATOR)).location)


# --- catalog -------------------------------------------------------------------------------------------------


def test_catalog_has_the_paper_types_each_with_instruction_and_examples():
    assert set(available_types()) >= PAPER_TYPES
    for name in available_types():
        qt = load_type(name)
        if qt.kind == "extract":  # cut from the passage, no model: tested in test_generate_extract.py
            continue
        assert qt.name == name and qt.instruction and qt.request
        assert len(qt.examples) >= 4, name
        assert all(e.passage and e.output for e in qt.examples)
    assert load_type("keywords").max_items == 5
    assert load_type("search").lowercase


def test_unknown_type_is_a_clear_error():
    with pytest.raises(UnknownQueryTypeError, match=r"unknown query type 'faq'.*available: claims, keywords"):
        load_type("faq")


# --- prompts -------------------------------------------------------------------------------------------------


def test_examples_are_sampled_per_passage_deterministically():
    draws = {d: sample_examples("questions", d, 2, 5, seed=42) for d in map(str, range(40))}
    assert draws == {d: sample_examples("questions", d, 2, 5, seed=42) for d in map(str, range(40))}
    assert all(len(set(ex)) == 2 and list(ex) == sorted(ex) and max(ex) < 5 for ex in draws.values())
    assert len(set(draws.values())) > 5  # passages see different examples
    other_seed = {d: sample_examples("questions", d, 2, 5, seed=7) for d in draws}
    assert other_seed != draws
    other_type = {d: sample_examples("claims", d, 2, 5, seed=42) for d in draws}
    assert other_type != draws
    assert sample_examples("questions", "3", 9, 5, seed=42) == (0, 1, 2, 3, 4)  # capped at what exists


def test_messages_hold_instruction_examples_and_passage_last():
    qt = load_type("questions")
    msgs = build_messages(qt, (1, 3), "the passage")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == qt.instruction
    assert msgs[2]["content"] == qt.examples[1].output and msgs[4]["content"] == qt.examples[3].output
    assert msgs[-1]["content"] == f"Passage: the passage\n\n{qt.request}"


def test_passage_is_truncated_to_max_tokens(tokenizer):
    long = " ".join([PASSAGE] * 5)
    cut = truncate_passage(tokenizer, long, 32)
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= 32
    assert long.startswith(cut) and len(cut) < len(long)
    assert truncate_passage(tokenizer, "short text", 32) == "short text"
    assert truncate_passage(tokenizer, long, 0) == long


def test_prompt_splits_into_shared_prefix_and_passage_suffix(tokenizer):
    qt = load_type("claims")
    builder = PromptBuilder(tokenizer, qt, num_examples=2, passage_max_tokens=24, seed=42)
    docs = [Doc(str(i), "", f"{PASSAGE} case {i}") for i in range(30)]
    prompts = [builder.build(d) for d in docs]
    p = prompts[0]
    full = tokenizer.apply_chat_template(
        build_messages(qt, p.example_ids, p.passage), tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.decode(p.input_ids) == full  # prefix + suffix is exactly the chat template's rendering
    prefix_text = tokenizer.decode(p.prefix_ids)
    assert qt.instruction in prefix_text and "slipstream" not in prefix_text
    assert all(qt.examples[i].output in prefix_text for i in p.example_ids)
    assert "slipstream" in tokenizer.decode(p.suffix_ids) and "case 0" not in p.passage  # truncated
    same = [q for q in prompts if q.example_ids == p.example_ids]
    assert len(same) > 1 and all(q.prefix_ids == p.prefix_ids for q in same)
    assert len({q.prefix_ids for q in prompts}) == len({q.example_ids for q in prompts})


def test_batches_are_length_sorted_and_cover_every_prompt(tokenizer):
    builder = PromptBuilder(tokenizer, load_type("questions"), 2, 64, 42)
    prompts = [builder.build(Doc(str(i), "", " ".join(["word"] * (5 + 3 * i)))) for i in range(7)]
    batches = plan_batches(prompts[::-1], 3)
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [p for b in batches for p in b]
    assert sorted(p.doc_id for p in flat) == sorted(p.doc_id for p in prompts)
    assert [len(p.suffix_ids) for p in flat] == sorted(len(p.suffix_ids) for p in flat)


# --- cleaning ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qtype", "raw", "expected"),
    [
        ("questions", 'Question: "What is the effect of compressibility on heat transfer?"\nAnswer: it', None),
        ("questions", "\n\n  What is the effect of compressibility on   heat transfer?  \n", None),
        ("questions", "**Question:** What is the effect of compressibility on heat transfer?", None),
        ("questions", "1. Query - What is the effect of compressibility on heat transfer?", None),
        ("questions", "“What is the effect of compressibility on heat transfer?”", None),
        ("questions", '"What is the effect of compressibility on heat transfer?', None),
        ("titles", "Title: The Flow Over Delta Wings at Low Speeds", "The Flow Over Delta Wings at Low Speeds"),
        ("search", "Search query: Delta Wing Vortex Lift.", "delta wing vortex lift"),
        ("claims", "query-based methods underestimate wave drag.", "query-based methods underestimate wave drag."),
        (
            "keywords",
            "Keywords: Roll, stability, roll, instability; missiles",
            "roll, stability, instability, missiles",
        ),
        ("questions", "Question:", ""),
        ("questions", "   \n  ", ""),
    ],
)
def test_clean_output(qtype, raw, expected):
    expected = "What is the effect of compressibility on heat transfer?" if expected is None else expected
    assert clean_output(raw, load_type(qtype)) == expected


def test_clean_caps_length_and_list_items():
    qt = load_type("questions")
    assert len(clean_output(" ".join(["word"] * 50) + "?", qt, max_words=32).split()) == 32
    kw = load_type("keywords")
    raw = "heat transfer, laminar flow, heat transfer, pressure gradient, friction, flow dynamics, friction, ai"
    # cut off by the token limit: the last item is incomplete and left out; duplicates go; at most five
    assert (
        clean_output(raw, kw, finished=False)
        == "heat transfer, laminar flow, pressure gradient, friction, flow dynamics"
    )
    # complete: the kept text ends before the cut (list items; a type's own word cap), else "unfinished"
    assert clean_generation(raw, kw, finished=False)[1]
    assert clean_generation("heat transf", kw, finished=False) == ("", False)
    assert clean_generation(raw, load_type("questions"), finished=False) == (raw, False)
    search = load_type("search")
    assert search.max_words == 8
    cut = "Search query: Compressible Flow and heat transfer about a rotating disk: viscos"
    assert clean_generation(cut, search, finished=False) == (
        "compressible flow and heat transfer about a rotating",
        True,
    )
    assert clean_generation("delta wing vort", search, finished=False) == ("delta wing vort", False)
    assert (
        clean_output("boundary layer theory on mixing of two of the streams", search)
        == "boundary layer theory on mixing"
    )
    claims = load_type("claims")
    two = "The flow over delta wings separates at the leading edge. A low speed study of a 40 degree wing was"
    assert clean_generation(two, claims, finished=False) == (
        "The flow over delta wings separates at the leading edge.",
        True,
    )
    assert clean_output("Stability follows from the a. m. lyapunov theory. More", claims).endswith("lyapunov theory.")


def test_longest_common_run():
    assert longest_common_run(words("a b c d"), words("x b c d y")) == 3
    assert longest_common_run(words("a b"), words("c d")) == 0
    assert longest_common_run([], ["a"]) == 0
    assert words("Mach-number, 2.5 flow!") == ["mach", "number", "2", "5", "flow"]


def _reason(text: str, qtype: str = "questions", finished: bool = True, seen: set[str] | None = None, **kw):
    qt = load_type(qtype)
    context = (words(PASSAGE), prompt_texts(qt, (0, 1)), set() if seen is None else seen)
    return drop_reason(text, finished, *context, list_type=bool(qt.max_items), **kw)


def test_drop_reasons_on_real_looking_bad_outputs():
    assert _reason("") == "empty"
    assert _reason("How does the experimental study of a wing in a propeller", finished=False) == "unfinished"
    # copies 11 passage words in a row
    assert _reason("an experimental study of a wing in a propeller slipstream was made?") == "copies_passage"
    # 7 words in a row is below the default threshold of 8, and the threshold is a parameter
    seven = "how does the spanwise distribution of the lift increase change with slipstream?"
    assert _reason(seven) is None
    assert _reason(seven, config=CleanConfig(max_copy_run=6)) == "copies_passage"
    # echoes the instruction, copies a shown example's answer, or borrows its topic
    assert _reason("Read the passage and write one natural question") == "repeats_prompt"
    assert _reason(load_type("questions").examples[0].output) == "repeats_prompt"
    assert _reason("What did the waggle dance measure in the slipstream?") == "repeats_prompt"
    assert _reason("The Physics of Weathering Steel in a propeller slipstream", "titles") == "repeats_prompt"
    # a word the shown examples use and no passage of the pool does
    domain = vocabulary([PASSAGE, "heat transfer to a rotating disk"])
    assert domain_vocabulary([PASSAGE]) is None  # too few words to tell borrowed ones: the rule is off
    assert domain_vocabulary([" ".join(f"word{i}" for i in range(MIN_DOMAIN_WORDS))]) is not None
    assert _reason("Effect of a slipstream on honeybees", domain=domain) == "repeats_prompt"
    assert _reason("Effect of a slipstream on heat transfer", domain=domain) is None
    shown = prompt_texts(load_type("keywords"), (0, 1))
    assert (
        drop_foreign_items("honeybee, slipstream, heat transfer, rust", shown, domain, 5) == "slipstream, heat transfer"
    )
    # degenerate loops
    assert _reason("The validity of the validity of the validity of the assumptions") == "repetitive"
    assert _reason("How does heat transfer in slipstreams compare with heat transfer in wakes?") is None
    assert _reason("Effect of Roll on Stability and Stability on Stability on Roll", "titles") == "repetitive"
    assert _reason("What is the length of free-flowing free-flowing jets?") == "repetitive"
    assert _reason("viscous flow, inviscid flow, flow separation", "keywords") is None  # lists repeat words
    assert _reason("The Aerodynamics of Airfoil Slew in Weathering Steels", "titles") == "repeats_prompt"
    # duplicates ignore case and punctuation
    seen: set[str] = set()
    assert _reason("Why does lift increase in a slipstream?", seen=seen) is None
    assert _reason("why does lift increase in a slipstream", seen=seen) == "duplicate"


# --- ids, selection, pool ------------------------------------------------------------------------------------


def test_query_ids_are_type_and_source_doc():
    assert query_id("questions", "12") == "questions-12"


def test_passage_sample_is_seeded_and_independent_of_type_and_order():
    docs = [Doc(str(i), "", f"text {i}") for i in range(50)]
    a = select_passages(docs, 10, seed=42)
    assert [d.doc_id for d in a] == [d.doc_id for d in select_passages(docs[::-1], 10, seed=42)]
    assert [d.doc_id for d in a] == sorted((d.doc_id for d in a), key=int)
    assert [d.doc_id for d in select_passages(docs, 10, seed=1)] != [d.doc_id for d in a]
    assert len(select_passages(docs, 0, seed=42)) == 50 and len(select_passages(docs, 80, seed=42)) == 50


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_pool_schema_errors_name_file_and_line(tmp_path):
    good = {"doc_id": "1", "title": "t", "text": "body"}
    assert read_pool(_write(tmp_path / "ok.jsonl", [good, {"doc_id": "2", "text": "x"}]))[1].doc_id == "2"
    with pytest.raises(FormatError, match=r"int\.jsonl:2: expected 'doc_id' to be a non-empty string, got 2"):
        read_pool(_write(tmp_path / "int.jsonl", [good, {"doc_id": 2, "text": "x"}]))
    bad = _write(tmp_path / "missing.jsonl", [good, {"doc_id": "2", "body": "x"}])
    with pytest.raises(FormatError, match=r"missing.jsonl:2: missing key\(s\) \['text'\]"):
        read_pool(bad)
    with pytest.raises(FormatError, match=r"dup\.jsonl:2: expected a unique doc_id, '1' repeats"):
        read_pool(_write(tmp_path / "dup.jsonl", [good, good]))
    with pytest.raises(FormatError, match=r"type\.jsonl:1: expected 'text' to be a non-empty string, got \[\"a\"\]"):
        read_pool(_write(tmp_path / "type.jsonl", [{"doc_id": "1", "text": ["a"]}]))
    with pytest.raises(FormatError, match=r"blank\.jsonl:2: expected 'text' to be a non-empty string, .*U\+200B"):
        read_pool(_write(tmp_path / "blank.jsonl", [good, {"doc_id": "2", "text": "\u200b "}]))  # pool: no blank text
    with pytest.raises(FormatError, match=r"json\.jsonl:1: expected a JSON object, got invalid JSON"):
        read_pool(_write(tmp_path / "json.jsonl", ["{oops"]))
    with pytest.raises(FormatError, match="empty"):
        read_pool(_write(tmp_path / "empty.jsonl", []))
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pool(tmp_path / "absent.jsonl")
