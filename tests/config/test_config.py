"""listdistill.config: the one typed, validated params schema every stage reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from listdistill import config
from listdistill.config import ConfigError, Params, describe, load_params

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


# == loading, validation, --set overrides and the resolved device (tests/config/test_config.py, part 1) ================
def test_params_yaml_loads_and_equals_the_defaults():
    assert load_params(PARAMS) == Params()  # the defaults live in config/ and params.yaml agrees with them


def test_params_yaml_sets_every_param_of_the_schema():
    import yaml

    def keys(node: object, prefix: str = "") -> set[str]:
        if not isinstance(node, dict):
            return {prefix.rstrip(".")}
        return set().union(*(keys(v, f"{prefix}{k}.") for k, v in node.items()))

    assert keys(yaml.safe_load(PARAMS.read_text())) == {key for key, _, _ in describe()}


def test_paper_config_loads():
    paper = load_params(ROOT / "configs" / "paper.yaml")
    assert paper != Params() and paper.train.batch_size == 4096


def test_missing_keys_take_the_defaults(tmp_path):
    (tmp_path / "p.yaml").write_text("train:\n  epochs: 3\n")
    p = load_params(tmp_path / "p.yaml")
    assert p.train.epochs == 3 and p.train.lr == Params().train.lr and p.dataset == Params().dataset
    (tmp_path / "empty.yaml").write_text("")
    assert load_params(tmp_path / "empty.yaml") == Params()


BAD = [
    ("train.lr=-1e-4", "train.lr: expected a number > 0"),
    ("train.epochs=0", "train.epochs: expected an integer >= 1, got 0"),
    ("train.epoch=2", "train.epoch: unknown key; did you mean train.epochs?"),
    ("train.batch_size=many", "train.batch_size: expected an integer >= 1, got 'many'"),
    ("loss=kl", "loss: expected one of"),
    ("teacher.kind=gpt", "teacher.kind: unknown teacher kind 'gpt'"),
    ("mine.retrievers=bm25+splade", "mine.retrievers: unknown retriever 'splade'"),
    ("query_mix=[questions, faqs]", "query_mix: 'faqs' is not generated (generate.types) nor 'real'"),
    ("score.norm_low=99", "score: norm_low (99) must be below norm_high (99), both in [0, 100]"),
    ("generate.temperature=0", "generate: 4 samples per prompt need sampling (temperature > 0, got 0)"),
    ("device=gpu", "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("train.teacher_temperature=0", "train.teacher_temperature: expected auto or a number > 0, got 0"),
    ("generate.top_p=0", "generate.top_p: expected a number > 0 and <= 1, got 0"),
    ("train=5", "train: expected a section (a mapping), got 5"),
    ("generate.types=questions", "generate.types: expected a non-empty list of names, got 'questions'"),
    ("score.consistency=maybe", "score.consistency: expected true or false, got 'maybe'"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_a_config_error_naming_the_key(override: str, message: str):
    with pytest.raises(ConfigError) as e:
        load_params(PARAMS, [override])
    assert len(e.value.problems) == 1, e.value.problems
    assert message in e.value.problems[0]
    assert str(e.value).startswith(f"{PARAMS} (with --set): 1 invalid param(s):")


def test_query_mix_must_name_a_generated_type(tmp_path):
    (tmp_path / "p.yaml").write_text("generate:\n  types: [questions]\nquery_mix: [claims]\n")
    with pytest.raises(ConfigError, match=r"query_mix: 'claims' is not generated .*known: \['questions', 'real'\]"):
        load_params(tmp_path / "p.yaml")


def test_invalid_yaml_and_a_missing_or_non_mapping_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("train: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: 1 invalid param\(s\):\n  not valid YAML"):
        load_params(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match=r"none\.yaml: 1 invalid param\(s\):\n  the params file does not exist"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections, got list"):
        load_params(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match=r"--set 'train\.lr': expected section\.key=value"):
        load_params(PARAMS, ["train.lr"])


def test_several_bad_keys_are_reported_at_once(tmp_path):
    (tmp_path / "p.yaml").write_text("seed: x\ntrain:\n  epochs: 0\n  lr: -1\nteacher:\n  knd: bm25\n")
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "p.yaml", ["device=gpu", "score.depth=1"])
    problems = e.value.problems
    for key in ("seed:", "train.epochs:", "train.lr:", "teacher.knd: unknown key; did you mean teacher.kind?",
                "device:", "score.depth:"):  # fmt: skip
        assert sum(p.startswith(key) for p in problems) == 1, (key, problems)
    assert len(problems) == 6 and str(e.value).startswith(f"{tmp_path / 'p.yaml'} (with --set): 6 invalid param(s):")


def test_set_values_are_parsed_as_yaml():
    sets = ["train.lr=1e-4", "query_mix=[questions]", "seed=7", "score.consistency=false",
            "train.teacher_temperature=auto", "teacher.model=", 'student.query_prefix="query: "']  # fmt: skip
    p = load_params(PARAMS, sets)
    assert p.train.lr == 1e-4 and isinstance(p.train.lr, float)  # YAML reads 1e-4 as a string: converted
    assert p.query_mix == ["questions"] and p.seed == 7 and p.score.consistency is False
    assert p.train.teacher_temperature == "auto" and p.teacher.model == ""
    assert p.student.query_prefix == "query: "  # quoted: unquoted, YAML would read a mapping {query: null}
    assert load_params(PARAMS, ["train.epochs=3", "train.epochs=4"]).train.epochs == 4  # the last one wins


def test_every_library_config_carries_the_device():
    p = Params(device="cuda:3")
    assert p.to_encoder().device == "cuda:3"
    assert p.to_teacher().device == "cuda:3" and p.to_teacher("bm25").device == "cuda:3"
    assert p.to_generate("questions").device == "cuda:3"
    cpu = load_params(PARAMS, ["device=cpu"])
    assert cpu.to_encoder().device == cpu.to_teacher().device == cpu.to_generate("claims").device == "cpu"


def test_device_auto_resolves_to_a_gpu_only_when_there_is_one(monkeypatch):
    import torch

    here = "cuda" if torch.cuda.is_available() else "cpu"
    p = load_params(PARAMS)
    assert p.device == "auto" and p.to_encoder().device == p.to_teacher().device == here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert p.to_encoder().device == p.to_generate("questions").device == "cpu"
    assert config.resolve_device("auto") == "cpu" and config.resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert p.to_encoder().device == p.to_teacher().device == p.to_generate("questions").device == "cuda"


# == end of part 1 ==================================================================================================


# == issue 21: keys given twice, lists, faiss specs, the device and caps, all reported with the rest =================
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "seed: 1\ntrain:\n  epochs: 3\n  lr: 1.0e-4\n  epochs: 4\nloss: foo\ntrain:\n  lr: 1\n"
    )
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "p.yaml")
    p = tmp_path / "p.yaml"
    assert e.value.problems[:2] == [
        f"train.epochs: given twice, at {p}:3 and {p}:5; keep one",
        f"train: given twice, at {p}:2 and {p}:7; keep one",
    ]
    assert any(x.startswith("loss: expected one of") for x in e.value.problems)  # all at once


@pytest.mark.parametrize("key", ["query_mix", "generate.types"])
def test_list_params_name_each_item_once(key: str):
    with pytest.raises(ConfigError) as e:
        load_params(PARAMS, [f"{key}=[questions, claims, questions]"])
    assert e.value.problems == [f"{key}: expected a non-empty list of distinct names ('questions' is listed twice), "
                                "got ['questions', 'claims', 'questions']"]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Bogus", "invalid faiss index spec 'Bogus': could not parse index string Bogus"),
        ("IVF,PQ nprobe=x", "'nprobe=x' is not <setting>=<integer>"),
        ("HNSW efsearch=64", "'efsearch=64' is not <setting>=<integer> with a setting among"),
        ("PQ7", "invalid faiss index spec 'PQ7': The dimension of the vector (d) should be a multiple"),
    ],
)
def test_faiss_specs_are_checked_at_load_with_the_rest(spec: str, message: str):
    with pytest.raises(ConfigError) as e:
        load_params(PARAMS, [f"mine.faiss_index={spec}", f"evaluate.faiss_index={spec}", "train.epochs=0"])
    assert [p.split(":")[0] for p in e.value.problems] == ["train.epochs", "mine.faiss_index", "evaluate.faiss_index"]
    assert message in e.value.problems[1] and message in e.value.problems[2]
    for good in ("Flat", "HNSW64", "IVF,PQ nprobe=64", "OPQ48,IVF1024,PQ48", "IVF4096,SQ8"):
        load_params(PARAMS, [f"mine.faiss_index={good}"])


def test_the_device_is_checked_with_the_rest_for_a_stage():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    load_params(PARAMS, ["device=cuda"])  # a GPU configuration validates anywhere ...
    with pytest.raises(ConfigError) as e:  # ... but a stage on this machine refuses it, with every other bad key
        load_params(PARAMS, ["device=cuda:1", "seed=-1"], machine=True)
    assert e.value.problems == ["seed: expected an integer >= 0, got -1",
                                "device: 'cuda:1', but torch sees no CUDA GPU here; use auto or cpu"]  # fmt: skip


def test_every_number_has_an_upper_bound():
    """Every int and float param has a cap (or a range): no value overflows a C integer or a float downstream."""
    import dataclasses
    import typing

    def numeric(cls: type, prefix: str = "") -> list[tuple[str, dict]]:
        out = []
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                out += numeric(hints[f.name], f"{prefix}{f.name}.")
            elif hints[f.name] in (int, float, float | str):
                out.append((f"{prefix}{f.name}", dict(f.metadata)))
        return out

    params = numeric(Params)
    assert len(params) == 56
    unbounded = [k for k, meta in params if meta.get("hi") is None and meta.get("cap") is None]
    assert unbounded == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=1.0e+308", "train.lr: expected a number <= 10, got 1e+308"),
        ("seed=2147483648", "seed: expected an integer <= 2.14748e+09, got 2147483648"),
        ("student.query_max_length=2147483648", "student.query_max_length: expected an integer <= 32768"),
        ("train.batch_size=" + "9" * 400, "train.batch_size: expected an integer <= 1.04858e+06"),
        ("bm25.k1=" + "9" * 400, "bm25.k1: expected a number >= 0, got 999"),  # beyond float: not a number
        ("bm25.k1=.nan", "bm25.k1: expected a number >= 0, got nan"),
        ("train.grad_clip=1.0e+400", "train.grad_clip: expected a number >= 0, got inf"),
    ],
)
def test_extreme_values_are_refused_by_range(override: str, message: str):
    with pytest.raises(ConfigError) as e:
        load_params(PARAMS, [override])
    assert len(e.value.problems) == 1 and e.value.problems[0].startswith(message), e.value.problems


def test_student_dtype_auto_is_bfloat16_only_where_the_cpu_computes_it_natively(monkeypatch):
    import torch

    p = load_params(PARAMS)
    assert p.student.dtype == "auto"
    native = config.native_bf16("cpu")
    assert p.to_encoder().dtype == ("bfloat16" if native else "float32")
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):  # a CPU without AMX or AVX512-BF16
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert not config.native_bf16("cpu") and p.to_encoder().dtype == "float32"
    assert load_params(PARAMS, ["student.dtype=bfloat16"]).to_encoder().dtype == "bfloat16"
    assert load_params(PARAMS, ["student.dtype=float32"]).to_encoder().dtype == "float32"
    assert not config.native_bf16("mps")
