"""Measure the attribution rule offline, with the corpus as its own test set.

Every distinct line of the curated editions (唐诗三百首, 宋词三百首, 千家诗) whose poet is known is typed in
simplified without punctuation (its normalised text, through the variant key) and looked up among
all OTHER occurrences: the curated editions are left out of the candidates, so a rule that
prefers them cannot pass by construction. Where the curated editions give one line two poets
(quantangshi's 唐诗三百首 lists 朱斌's 登楼 beside 王之涣's 登鹳雀楼), either is right. Reported: found, and whether the first hit names the
curated poem's poet (aliases folded), with today's rules and with build/attribution.py's:

* today, line hit: the first occurrence in reading order (texts.first_line_id);
* today, ``--poems``: the poem of highest popularity (rank/, shared by author+title), then rowid;
* new: ``cite_rank`` (earliest dynasty, fame, curated, reading order), for both.

The same for whole paragraphs (a couplet typed without its comma), and the issue's named lines
on the whole corpus. Usage: python scripts/attribution_eval.py [--misses 40] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _layout  # noqa: F401
import corpus_cache
import numpy as np

from poetry_search.build.attribution import agreement, attribute, cite_rank, era_of
from poetry_search.build.fame import CURATED_BOOKS, FAME_PRIOR_WEIGHT, corpus_fame, group_ids
from poetry_search.corpus.authors import canonical_author
from poetry_search.corpus.normalize import fold
from poetry_search.corpus.variants import match_key

UNKNOWN_POETS = {"", "无名氏", "佚名", "不详", "失名"}
NAMED = [("二月春风似剪刀", "贺知章"), ("更上一层楼", "王之涣"), ("对酒当歌", "曹操"), ("处处闻啼鸟", "孟浩然"),
         ("飞流直下三千尺", "李白"), ("春风花草香", "杜甫"), ("白日依山尽", "王之涣"), ("夜阑卧听风吹雨", "陆游"),
         ("守着窗儿", "李清照"), ("春花秋月何时了", "李煜")]


def poem_tables(d: dict, corpus: Path) -> dict:
    """Per-poem arrays: era, canonical author, curated, fame (new), popularity (today)."""
    poems = d["poems"]
    n = len(poems)
    t = time.perf_counter()
    authors = [canonical_author(p["author"]) for p in poems]
    titles = [fold(p["title"]) for p in poems]
    raw_authors = [fold(p["author"]) for p in poems]
    era = np.array([era_of(p["dynasty"]) for p in poems], np.int64)
    curated = np.array([p["book"] in CURATED_BOOKS for p in poems])
    lp, pos, tid = d["line_poem"], d["line_pos"], d["line_tid"]
    first = np.full((n, 2), -1, np.int64)
    for k in (0, 1):
        m = pos == k
        first[lp[m], k] = tid[m]
    prep = time.perf_counter() - t
    t = time.perf_counter()
    # --no-curated-evidence: the curated editions' poems join no other poem's editions (their first
    # lines are their own), so neither their membership nor their count as a book reaches fame
    firsts = [(-1, -1) if NO_CURATED_EVIDENCE and c else tuple(x) for x, c in zip(first.tolist(), curated)]
    new_fame, source = corpus_fame([p["source"] for p in poems], [p["position"] for p in poems],
                                   [p["author"] for p in poems], [p["title"] for p in poems], [p["book"] for p in poems],
                                   firsts, corpus / "rank", fold, canonical_author, TITLE_POWER,
                                   () if NO_CURATED_PRIOR or NO_CURATED_EVIDENCE else CURATED_BOOKS, PRIOR_WEIGHT)
    fame_s = time.perf_counter() - t
    # today's popularity: rank/ percentiles, shared with editions of the same (author, title)
    pop = np.full(n, np.nan)
    for i, p in d["rank_pop"].items():
        pop[i] = p
    by_name: dict = {}
    for i in np.flatnonzero(~np.isnan(pop)):
        k = (raw_authors[i], titles[i])
        if raw_authors[i]:
            by_name[k] = max(by_name.get(k, 0.0), pop[i])
    for i in np.flatnonzero(np.isnan(pop)):
        if raw_authors[i] and (raw_authors[i], titles[i]) in by_name:
            pop[i] = by_name[(raw_authors[i], titles[i])]
    anonymous = np.array([a in UNKNOWN_POETS for a in authors])
    poet_ids, book_ids = group_ids(authors), group_ids([p["book"] for p in poems])
    return dict(authors=authors, anonymous=anonymous, poet_ids=poet_ids, book_ids=book_ids, era=era, curated=curated, fame=new_fame, fame_source=source, pop=pop,
                timings=dict(prepare_s=prep, fame_with_rank_reading_s=fame_s))


ERA_WEIGHT = float("inf")
TITLE_POWER = 1.0
PRIOR_WEIGHT = FAME_PRIOR_WEIGHT
NO_CURATED_EVIDENCE = False


AGREEMENT = False
NO_CURATED_PRIOR = False


def rules(occ_poem: np.ndarray, P: dict, occ_key: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The rank of every occurrence under each rule compared."""
    order = np.arange(occ_poem.size)
    agree = None
    if AGREEMENT and occ_key is not None:
        agree = agreement(occ_key, P["poet_ids"][occ_poem], P["book_ids"][occ_poem], ~P["curated"][occ_poem])
    today_pop = np.nan_to_num(P["pop"][occ_poem], nan=-1.0)
    t = time.perf_counter()
    new = cite_rank(P["era"][occ_poem], P["fame"][occ_poem], P["curated"][occ_poem], order, P["anonymous"][occ_poem],
                    ERA_WEIGHT, agree)
    P["timings"]["cite_rank_s"] = time.perf_counter() - t
    poems_today = np.empty(order.size, np.int64)
    poems_today[np.lexsort((occ_poem, -today_pop))] = order
    return {"today": order, "today --poems": poems_today, "new": new}


PARAGRAPHS: dict = {}


def rescue(lost: list[int], occ_key, occ_poem, rank, cur, poets, texts_of_key, n_keys: int) -> dict:
    """The lines no other occurrence holds exactly, looked up as a search would go on: a longer
    line that contains them (the curated edition split the line elsewhere, e.g. at 、), else a
    line one character off (store/near.py; 5+ characters), else a paragraph that holds them
    across its punctuation (the edition punctuates the couplet elsewhere). The best holder by
    ``rank``; a paragraph's holder is its poem's first line occurrence."""
    from poetry_search.store.near import NearIndex

    allowed = ~cur
    best = attribute(occ_key, rank, n_keys, allowed=allowed)
    keys = [k for k in range(n_keys) if best[k] >= 0]
    texts = [texts_of_key(k) for k in keys]
    joined = "\n".join(texts)
    starts = np.cumsum([0] + [len(t) + 1 for t in texts])
    near = NearIndex.build(texts)
    out = {"containing": 0, "containing_right": 0, "near": 0, "near_right": 0, "paragraph": 0, "paragraph_right": 0,
           "still_missing": []}
    par = PARAGRAPHS.get("joined")
    for q in lost:
        k = int(occ_key[q])
        text = texts_of_key(k)
        cands, at = [], joined.find(text)
        while at >= 0 and len(cands) < 5000:
            cands.append(int(np.searchsorted(starts, at, "right")) - 1)
            at = joined.find(text, at + 1)
        kind = "containing"
        if not cands and len(text) >= 5:
            cands, kind = near.near(text).tolist(), "near"
        if not cands and par is not None:
            at, poems_hit = par.find(text), []
            while at >= 0 and len(poems_hit) < 5000:
                poems_hit.append(PARAGRAPHS["poem"][int(np.searchsorted(PARAGRAPHS["starts"], at, "right")) - 1])
                at = par.find(text, at + 1)
            if poems_hit:
                occ = PARAGRAPHS["first_occ"][np.array(poems_hit)]
                g = occ[np.argmin(rank[occ])]
                out["paragraph"] += 1
                out["paragraph_right"] += int(P_AUTHORS[occ_poem[g]] in poets[k])
                continue
        if not cands:
            out["still_missing"].append(text)
            continue
        occ = best[np.array([keys[c] for c in cands])]
        g = occ[np.argmin(rank[occ])]
        out[kind] += 1
        out[kind + "_right"] += int(P_AUTHORS[occ_poem[g]] in poets[k])
    out["still_missing_count"] = len(out["still_missing"])
    out["still_missing"] = out["still_missing"][:40]
    return out


P_AUTHORS: list[str] = []


def evaluate(occ_key: np.ndarray, occ_poem: np.ndarray, P: dict, texts_of_key, misses: int, what: str) -> dict:
    n_keys = int(occ_key.max()) + 1
    cur = P["curated"][occ_poem]
    authors = P["authors"]
    queries = np.flatnonzero(cur & np.array([authors[p] not in UNKNOWN_POETS for p in occ_poem.tolist()]))
    # one query per distinct line of the curated editions; its poets: every poet they give it
    poets: dict[int, set[str]] = {}
    first_q: dict[int, int] = {}
    for q in queries.tolist():
        k = int(occ_key[q])
        poets.setdefault(k, set()).add(authors[occ_poem[q]])
        first_q.setdefault(k, q)
    qs = np.array(list(first_q.values()), np.int64)
    out = {"what": what, "queries": int(qs.size), "lines_with_two_curated_poets": sum(len(v) > 1 for v in poets.values())}
    for name, rank in rules(occ_poem, P, occ_key).items():
        t = time.perf_counter()
        best = attribute(occ_key, rank, n_keys, allowed=~cur)
        took = time.perf_counter() - t
        got = best[occ_key[qs]]
        found = got >= 0
        right = np.array([found[i] and authors[occ_poem[got[i]]] in poets[int(occ_key[q])] for i, q in enumerate(qs.tolist())])
        long = np.array([len(texts_of_key(occ_key[q])) >= 5 for q in qs.tolist()])
        out[name] = {"5+_chars": {"queries": int(long.sum()), "found_pct": round(100 * found[long].mean(), 2),
                                  "poet_right_pct_of_found": round(100 * right[long].sum() / max(1, found[long].sum()), 2)},
                     "found": int(found.sum()), "found_pct": round(100 * found.mean(), 2), "poet_right": int(right.sum()),
                     "poet_right_pct_of_found": round(100 * right.sum() / max(1, found.sum()), 2), "attribute_s": round(took, 2)}
        if name == "new":
            wrong = [(q, int(g)) for q, g, f, r in zip(qs.tolist(), got.tolist(), found, right) if f and not r]
            lost = [q for q, f in zip(qs.tolist(), found) if not f]
            out["new"]["misses"] = [f"{texts_of_key(occ_key[q])}: {'/'.join(sorted(poets[int(occ_key[q])]))} → {authors[occ_poem[g]]} "
                                    f"({P['poems'][occ_poem[g]]['title'][:16]}, {P['poems'][occ_poem[g]]['book']}, "
                                    f"{P['poems'][occ_poem[g]]['dynasty']})" for q, g in wrong[:misses]]
            out["new"]["found_on"] = rescue(lost, occ_key, occ_poem, rank, cur, poets, texts_of_key, n_keys)
            out["new"]["not_found"] = [f"{texts_of_key(occ_key[q])} ({authors[occ_poem[q]]}, "
                                       f"{P['poems'][occ_poem[q]]['title'][:16]})" for q in lost[:misses]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=corpus_cache.DEFAULT_CORPUS)
    ap.add_argument("--cache", type=Path, default=corpus_cache.DEFAULT_CACHE)
    ap.add_argument("--misses", type=int, default=40)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-variants", action="store_true", help="match the normalised text, not the variant key")
    ap.add_argument("--no-dunhao", action="store_true", help="、 does not end a line (read into a second cache)")
    ap.add_argument("--no-curated-prior", action="store_true",
                    help="fame's class prior without curated membership (no information from the test set at all)")
    ap.add_argument("--agreement", action="store_true", help="rank by how many books agree on the poet, before fame")
    ap.add_argument("--title-power", type=float, default=1.0, help="fame's title_power (default: 1)")
    ap.add_argument("--no-curated-evidence", action="store_true",
                    help="fame knows nothing of the curated editions: neither their membership nor their count as a book")
    ap.add_argument("--prior-weight", type=float, default=FAME_PRIOR_WEIGHT,
                    help=f"fame's prior_weight (default: {FAME_PRIOR_WEIGHT})")
    ap.add_argument("--era-weight", type=float, default=float("inf"), help="cite_rank's era_weight (default: inf)")
    args = ap.parse_args()
    global ERA_WEIGHT, TITLE_POWER, AGREEMENT, NO_CURATED_PRIOR, PRIOR_WEIGHT, NO_CURATED_EVIDENCE
    ERA_WEIGHT, TITLE_POWER, AGREEMENT, PRIOR_WEIGHT = args.era_weight, args.title_power, args.agreement, args.prior_weight
    NO_CURATED_PRIOR = args.no_curated_prior
    NO_CURATED_EVIDENCE = args.no_curated_evidence
    d = corpus_cache.load(args.corpus, args.cache, dunhao_splits=not args.no_dunhao)
    P = poem_tables(d, args.corpus)
    P["poems"] = d["poems"]
    P_AUTHORS[:] = P["authors"]
    texts = d["texts"]
    t = time.perf_counter()
    fold_key = (lambda s: s) if args.no_variants else match_key
    text_key = group_ids([fold_key(s) for s in texts])
    key_s = time.perf_counter() - t
    key_text: dict[int, str] = {}
    for i, k in enumerate(text_key.tolist()):
        key_text.setdefault(k, texts[i])
    occ_poem = d["line_poem"].astype(np.int64)
    occ_key = text_key[d["line_tid"]]
    report = {"occurrences": int(occ_poem.size), "poems": len(d["poems"]), "key_s": round(key_s, 1)}
    # paragraphs of the non-curated poems, joined, for the last fallback of rescue()
    lp_all = d["line_poem"].astype(np.int64)
    first_occ = np.full(len(d["poems"]), -1, np.int64)
    first_occ[lp_all[::-1]] = np.arange(lp_all.size)[::-1]
    chunks, owners = [], []
    curp = P["curated"]
    prev = None
    for o, (pi, pa, tid) in enumerate(zip(d["line_poem"].tolist(), d["line_par"].tolist(), d["line_tid"].tolist())):
        if curp[pi]:
            continue
        if (pi, pa) != prev:
            chunks.append([])
            owners.append(pi)
            prev = (pi, pa)
        chunks[-1].append(fold_key(texts[tid]))
    joined = ["".join(c) for c in chunks]
    PARAGRAPHS.update(joined="\n".join(joined), starts=np.cumsum([0] + [len(j) + 1 for j in joined]),
                      poem=np.array(owners, np.int64), first_occ=first_occ)
    report["lines"] = evaluate(occ_key, occ_poem, P, key_text.get, args.misses, "line")
    PARAGRAPHS.clear()  # the paragraph queries below are paragraphs already
    # paragraphs: the lines of one paragraph joined, as a couplet typed without its comma
    par_id = group_ids(list(zip(d["line_poem"].tolist(), d["line_par"].tolist())))
    parts: list[list[str]] = [[] for _ in range(int(par_id.max()) + 1)]
    for p, tid in zip(par_id.tolist(), d["line_tid"].tolist()):
        parts[p].append(texts[tid])
    par_poem = np.zeros(len(parts), np.int64)
    par_poem[par_id] = occ_poem
    multi = np.array([len(x) > 1 for x in parts])
    par_texts = [fold_key("".join(x)) for x in parts]
    par_key = group_ids(par_texts)
    sel = np.flatnonzero(multi)
    pk = group_ids(par_key[sel].tolist())
    first_text = {}
    for k, i in zip(pk.tolist(), sel.tolist()):
        first_text.setdefault(k, par_texts[i])
    report["paragraphs"] = evaluate(pk, par_poem[sel], P, first_text.get, args.misses, "paragraph (2+ lines)")
    # the named lines, on the whole corpus (curated editions included)
    new_rank = cite_rank(P["era"][occ_poem], P["fame"][occ_poem], P["curated"][occ_poem], np.arange(occ_poem.size),
                         P["anonymous"][occ_poem], ERA_WEIGHT)
    best = attribute(occ_key, new_rank, int(occ_key.max()) + 1)
    today = attribute(occ_key, np.arange(occ_poem.size), int(occ_key.max()) + 1)
    key_of = {key_text[k]: k for k in key_text}
    from poetry_search.corpus.normalize import Normalizer

    norm = Normalizer()
    named = []
    for line, poet in NAMED:
        k = key_of.get(match_key(norm.text(line)))
        if k is None:
            named.append(f"{line}: not a line of the corpus")
            continue
        b, t0 = best[k], today[k]
        named.append(f"{line}: new → {P['authors'][occ_poem[b]]}《{d['poems'][occ_poem[b]]['title']}》"
                     f" ({'right' if P['authors'][occ_poem[b]] == poet else 'WRONG'}); today → "
                     f"{P['authors'][occ_poem[t0]]}《{d['poems'][occ_poem[t0]]['title'][:12]}》")
    report["named"] = named
    report["fame"] = {"poems_by_source": {s: int((P["fame_source"] == i).sum()) for i, s in
                                          enumerate(("own rank counts", "another edition", "prior of its class"))},
                      "timings_s": {k: round(v, 2) for k, v in P["timings"].items()}}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    main()
