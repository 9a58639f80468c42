from __future__ import annotations

from factories import dataset_spec

from listdistill.pool import build_pool, find_duplicates, normalise
from listdistill.records import Doc


def test_normalise_case_accents_punctuation_digits():
    assert normalise("Café  Mach-2.5 FLOW, at 300 K!") == "cafe mach flow at k"


DOCS = [
    Doc("1", "Shock waves", "Shock waves in a supersonic nozzle."),
    Doc("2", "", "SHOCK WAVES: shock-waves in a supersonic nozzle 3."),  # exact dup of 1 after normalising
    Doc("3", "", "waves in a supersonic nozzle"),  # contained in 1
    Doc("4", "Boundary layers", "Laminar boundary layer separation on a flat plate at Mach 2."),
    Doc("5", "Heat", "Heat transfer in a hypersonic boundary layer."),
    Doc("6", "Heat", "Heat transfer in a hypersonic boundary layer with ablation and radiation effects."),
    Doc("7", "", "  ... 123 "),  # empty once normalised
    Doc("8", "Wings", "Delta wing vortex lift at high angle of attack."),
    Doc("9", "Wings", "Swept wing flutter in transonic flow."),
]


def test_find_duplicates_exact_and_contained():
    dup, empty = find_duplicates(DOCS)
    assert empty == {"7"}
    assert dup["2"] == ("1", "exact")
    assert dup["3"] == ("1", "contained")
    assert dup["5"] == ("6", "contained")  # a shorter passage inside a longer one goes
    assert "4" not in dup and "8" not in dup and "6" not in dup


def test_pool_removes_judged_and_their_near_duplicates():
    qrels = {"q1": {"6": 1, "9": 0}}  # 6 judged relevant; 9 judged non-relevant stays eligible
    res = build_pool(DOCS, qrels)
    assert [d.doc_id for d in res.pool] == ["1", "4", "8", "9"]
    assert res.stats["removed_judged"] == 1
    assert res.stats["removed_exact_duplicates"] == 1
    assert res.stats["removed_contained"] == 2
    assert res.stats["removed_empty"] == 1
    assert {r.doc_id for r in res.duplicates} == {"2", "3", "5"}


def test_judged_duplicate_taints_its_kept_copy():
    qrels = {"q1": {"2": 1}}  # the dropped copy is judged: its kept twin 1 (and contained 3) must not be in the pool
    pool_ids = [d.doc_id for d in build_pool(DOCS, qrels).pool]
    assert "1" not in pool_ids and "2" not in pool_ids and "3" not in pool_ids
    assert pool_ids == ["4", "6", "8", "9"]


def test_pool_cap_is_seeded_and_in_corpus_order():
    a = [d.doc_id for d in build_pool(DOCS, {}, pool_size=3, seed=7).pool]
    b = [d.doc_id for d in build_pool(DOCS, {}, pool_size=3, seed=7).pool]
    c = [d.doc_id for d in build_pool(DOCS, {}, pool_size=3, seed=8).pool]
    assert a == b and len(a) == 3 and a == sorted(a, key=int)
    assert a != c  # another seed draws another sample


def test_real_cranfield_pool_excludes_every_judged_passage(shared_datasets, tmp_path):
    from listdistill.data import load_collection

    col = load_collection(dataset_spec("cranfield", mirror=str(shared_datasets), cache_dir=str(tmp_path)))
    res = build_pool(col.docs, col.qrels)
    judged = {d for per_q in col.qrels.values() for d, r in per_q.items() if r > 0}
    pool_ids = {d.doc_id for d in res.pool}
    assert not pool_ids & judged
    assert res.stats["pool"] == len(pool_ids) > 300
    texts = [normalise(d.contents) for d in res.pool]
    assert len(set(texts)) == len(texts)
