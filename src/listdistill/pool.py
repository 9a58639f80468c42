"""The generation pool: passages eligible for synthetic queries.

Removed, in order: passages that are empty once normalised; exact duplicates after normalisation (case,
accents, punctuation and digits removed; the first in corpus order is kept); passages whose normalised text is
contained in another, longer passage; every passage judged relevant in the test qrels, together with any
passage that duplicates or is contained in one (so no copy of a test-relevant passage can seed a training
query). With ``hold_out`` n > 0 (a collection without judgments), a seeded sample of min(n, half) of the
eligible passages is held out for the label-free evaluation (:mod:`listdistill.evaluate.proxy`) and never enters
the pool; only kept copies are eligible, so no duplicate of a held-out passage can seed a training query either.
The rest may be capped to a seeded random sample.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from listdistill.io import Qrels
from listdistill.records import Doc, Duplicate

SHINGLE = 8  # token window used to find containment candidates without comparing every pair


def normalise(text: str) -> str:
    """Lower-case, strip accents, replace punctuation and digits by spaces, collapse whitespace."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\W\d_]+", " ", text)
    return " ".join(text.split())


@dataclass
class PoolResult:
    pool: list[Doc]
    duplicates: list[Duplicate]
    stats: dict[str, int] = field(default_factory=dict)
    heldout: list[Doc] = field(default_factory=list)  # passages held out for the label-free evaluation


def find_duplicates(docs: list[Doc]) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Map each redundant doc_id to (kept doc_id, reason); also return the ids that are empty.

    Reasons: ``exact`` (same normalised text as an earlier passage), ``contained`` (normalised text is a
    token-aligned substring of a longer passage's).
    """
    norm = {d.doc_id: normalise(d.contents) for d in docs}
    empty = {i for i, t in norm.items() if not t}
    dup: dict[str, tuple[str, str]] = {}
    first: dict[str, str] = {}
    for d in docs:
        t = norm[d.doc_id]
        if not t:
            continue
        if t in first:
            dup[d.doc_id] = (first[t], "exact")
        else:
            first[t] = d.doc_id
    # Containment among the distinct texts: index each text by its first window of tokens, then slide a
    # window over every text and verify candidates with a token-aligned substring test.
    uniq = [(doc_id, t.split()) for t, doc_id in first.items()]
    by_key: dict[tuple[str, ...], list[int]] = defaultdict(list)
    short_lengths: set[int] = set()
    for idx, (_, toks) in enumerate(uniq):
        k = min(SHINGLE, len(toks))
        by_key[tuple(toks[:k])].append(idx)
        if k < SHINGLE:
            short_lengths.add(k)
    sizes = sorted(short_lengths | {SHINGLE})
    contained: dict[int, int] = {}
    for big, (_, toks) in enumerate(uniq):
        padded = f" {' '.join(toks)} "
        for size in sizes:
            for start in range(0, len(toks) - size + 1):
                for small in by_key.get(tuple(toks[start : start + size]), ()):
                    if small == big or small in contained or len(uniq[small][1]) >= len(toks):
                        continue
                    if f" {' '.join(uniq[small][1])} " in padded:
                        contained[small] = big
    for small, big in contained.items():
        while big in contained:  # point at the outermost container
            big = contained[big]
        dup[uniq[small][0]] = (uniq[big][0], "contained")
    # Exact duplicates of a contained text point at its container too.
    for doc_id, (kept, reason) in list(dup.items()):
        if reason == "exact" and kept in dup:
            dup[doc_id] = (dup[kept][0], "exact")
    return dup, empty


def hold_out_units(eligible: list[Doc], n: int, seed: int, unit: Callable[[str], str] | None = None) -> set[str]:
    """The ids of about ``n`` eligible passages (at most half of them), held out whole ``unit`` by whole unit (the
    document of a passage of a chunked corpus, so that no overlapping passage of it seeds a training query): units
    are taken in a seeded random order until ``n`` passages are reached or the next unit would pass half."""
    unit = unit or (lambda doc_id: doc_id)
    members: dict[str, list[str]] = {}
    for d in eligible:
        members.setdefault(unit(d.doc_id), []).append(d.doc_id)
    order = random.Random(f"heldout:{seed}").sample(list(members), len(members))
    target, cap = min(n, len(eligible) // 2), len(eligible) // 2
    held: set[str] = set()
    for u in order:
        if len(held) >= target or len(held) + len(members[u]) > cap:
            break
        held.update(members[u])
    return held


def build_pool(
    docs: list[Doc],
    qrels: Qrels,
    pool_size: int | None = None,
    seed: int = 0,
    hold_out: int = 0,
    unit: Callable[[str], str] | None = None,
) -> PoolResult:
    """Apply the filters in the module docstring and return the pool (and the held-out passages) in corpus order."""
    dup, empty = find_duplicates(docs)
    judged = {d for per_q in qrels.values() for d, rel in per_q.items() if rel > 0}
    # Group every passage with its kept representative, so judging one member taints the whole group.
    group_of = {d.doc_id: dup.get(d.doc_id, (d.doc_id, ""))[0] for d in docs}
    tainted_groups = {group_of[d] for d in judged if d in group_of}
    eligible: list[Doc] = []
    near_judged = 0
    for d in docs:
        if d.doc_id in empty or d.doc_id in dup or d.doc_id in judged:
            continue
        if group_of[d.doc_id] in tainted_groups:
            near_judged += 1
            continue
        eligible.append(d)
    held = hold_out_units(eligible, hold_out, seed, unit) if hold_out > 0 else set()
    heldout = [d for d in eligible if d.doc_id in held]
    pool = [d for d in eligible if d.doc_id not in held]
    if pool_size is not None and 0 < pool_size < len(pool):
        keep = set(random.Random(seed).sample(range(len(pool)), pool_size))
        pool = [d for i, d in enumerate(pool) if i in keep]
    reasons = [r for _, r in dup.values()]
    stats = {
        "docs": len(docs),
        "removed_empty": len(empty),
        "removed_exact_duplicates": reasons.count("exact"),
        "removed_contained": reasons.count("contained"),
        "removed_judged": len(judged & set(group_of)),
        "removed_near_judged": near_judged,
        "eligible": len(eligible),
        "pool": len(pool),
    }
    if hold_out > 0:
        stats["heldout"] = len(heldout)
    duplicates = [Duplicate(i, kept, reason) for i, (kept, reason) in dup.items()]
    order = {d.doc_id: n for n, d in enumerate(docs)}
    duplicates.sort(key=lambda r: order[r.doc_id])
    return PoolResult(pool=pool, duplicates=duplicates, stats=stats, heldout=heldout)
