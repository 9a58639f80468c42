"""Rules across keys and against the registries, and the device this machine must have."""

from __future__ import annotations

from listdistill.config.params import Params


def check(p: Params) -> list[str]:
    """Rules across keys and against the registries (losses, teacher kinds, query types, retrievers)."""
    from listdistill.generate.catalog import UnknownQueryTypeError, load_type
    from listdistill.index.dense import check_spec
    from listdistill.losses import LOSSES
    from listdistill.mine.candidates import parse_retrievers

    problems = []
    if p.loss not in LOSSES:
        problems.append(f"loss: expected one of {', '.join(sorted(LOSSES))}, got {p.loss!r}")
    for i, t in enumerate(p.generate.types):
        try:
            load_type(t)
        except UnknownQueryTypeError as e:
            problems.append(f"generate.types[{i}]: {e}")
    for i, t in enumerate(p.proxy.types):
        try:
            load_type(t)
        except UnknownQueryTypeError as e:
            problems.append(f"proxy.types[{i}]: {e}")
    if p.dataset.chunk_tokens and p.dataset.chunk_overlap >= p.dataset.chunk_tokens:
        problems.append(
            f"dataset.chunk_overlap ({p.dataset.chunk_overlap}) must be below dataset.chunk_tokens "
            f"({p.dataset.chunk_tokens})"
        )
    if bool(p.dataset.queries) != bool(p.dataset.qrels):
        problems.append("dataset.queries and dataset.qrels: give both files (judged queries), or neither")
    known = [*p.generate.types, "real"]
    for t in p.query_mix:
        if t not in known:
            problems.append(f"query_mix: {t!r} is not generated (generate.types) nor 'real'; known: {known}")
    real_arm = p.prepare.real_query_fraction > 0 or bool(p.prepare.real_split)
    if p.query_mix == ["real"] and not real_arm:
        problems.append(
            "query_mix: [real] needs prepare.real_query_fraction > 0 or prepare.real_split (no real training queries)"
        )
    if p.prepare.real_query_fraction > 0 and p.prepare.real_split:
        problems.append("prepare.real_split and prepare.real_query_fraction > 0 exclude each other: use one")
    if p.prepare.real_split and p.prepare.real_split == p.dataset.split:
        problems.append(f"prepare.real_split: {p.prepare.real_split!r} is the test split (dataset.split)")
    first = (p.generate.types or ["questions"])[0]
    for section, build in (("score", p.to_score), ("generate", lambda: p.to_generate(first))):
        try:  # the rules across a section's keys are the library config's (stated there, once)
            build()
        except ValueError as e:
            problems.append(f"{section}: {e}")
    if p.mine.round_trip_depth > p.mine.k:
        problems.append(f"mine.round_trip_depth ({p.mine.round_trip_depth}) must be <= mine.k ({p.mine.k})")
    if p.train.list_length > p.score.depth:
        problems.append(f"train.list_length ({p.train.list_length}) must be <= score.depth ({p.score.depth})")
    try:
        parse_retrievers(p.mine.retrievers)
    except ValueError as e:
        problems.append(f"mine.retrievers: {e}")
    try:
        p.to_teacher()
    except ValueError as e:
        text = str(e)
        key = "ensemble" if "ensemble" in text.split(";")[0] else "normalise" if "normalis" in text else "kind"
        problems.append(f"teacher.{key}: {e}")
    if not _device_ok(p.device):
        problems.append(f"device: expected auto, cpu, cuda or cuda:N, got {p.device!r}")
    for key in ("mine.faiss_index", "evaluate.faiss_index"):
        section, name = key.split(".")
        try:
            check_spec(getattr(getattr(p, section), name))
        except ValueError as e:
            problems.append(f"{key}: {e}")
    return problems


def machine_problems(p: Params) -> list[str]:
    """What the params ask of this machine, checked before a stage starts (by ``load_params(machine=True)``, not by
    default, so that a GPU configuration such as configs/paper.yaml validates anywhere): the device must exist."""
    if not _device_ok(p.device) or p.device in ("auto", "cpu"):
        return []
    import torch

    if p.device == "mps":
        ok = torch.backends.mps.is_available()
        return [] if ok else ["device: 'mps', but torch sees no Apple GPU here; use auto or cpu"]
    if not torch.cuda.is_available():
        return [f"device: {p.device!r}, but torch sees no CUDA GPU here; use auto or cpu"]
    index = int(p.device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        return [f"device: {p.device!r}, but torch sees {n} CUDA GPU(s) here (cuda:0..cuda:{n - 1}); use auto or cuda"]
    return []


def _device_ok(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    head, _, index = device.partition(":")
    return head == "cuda" and index.isdigit()
