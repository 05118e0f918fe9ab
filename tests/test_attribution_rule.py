"""build/attribution.py and build/fame.py on small arrays with known answers."""

import numpy as np

from poetry_search.build.attribution import (
    UNKNOWN_ERA,
    attribute,
    cite_rank,
    era_of,
    poems_per_text,
)
from poetry_search.build.fame import (
    edition_counts,
    fame,
    shared_title_counts,
    title_base,
)


def test_eras_follow_history_and_fold_compound_names():
    assert era_of("先秦") < era_of("汉") == era_of("两汉") < era_of("魏晋") < era_of("唐") < era_of("五代") < era_of("宋")
    assert era_of("北宋") == era_of("宋") == era_of("宋代")
    assert era_of("") == era_of(None) == era_of("火星") == UNKNOWN_ERA


def test_the_earliest_dynasty_wins_then_named_poet_then_fame_then_curated_then_order():
    # line 0: a Song 集句 (famous by counts) and a Tang poem; line 1: two Tang poems, fame decides;
    # line 2: equal fame, the curated edition wins; line 3: everything equal, reading order;
    # line 4: an anonymous Tang occurrence yields to a named one
    text = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    era = np.array([13, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    fam = np.array([0.99, 0.5, 0.3, 0.8, 0.6, 0.6, 0.4, 0.4, 0.9, 0.1])
    cur = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool)
    anon = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], bool)
    order = np.arange(10)
    rank = cite_rank(era, fam, cur, order, anon)
    assert sorted(rank.tolist()) == list(range(10))
    best = attribute(text, rank, 5)
    assert best.tolist() == [1, 3, 5, 6, 9]
    # under a filter that drops the winners, the next most citable occurrence answers
    allowed = np.ones(10, bool)
    allowed[[1, 3, 5]] = False
    assert attribute(text, rank, 6, allowed).tolist() == [0, 2, 4, 6, 9, -1]
    # a finite era weight lets a much more famous later poem win
    assert attribute(text, cite_rank(era, fam, cur, order, anon, era_weight=0.1), 5)[0] == 0


def test_today_rule_is_reading_order():
    text = np.array([2, 0, 2, 1, 0])
    assert attribute(text, np.arange(5), 4).tolist() == [1, 3, 0, -1]
    assert poems_per_text(text, np.array([7, 7, 8, 9, 7]), 4).tolist() == [1, 1, 2, 0]


def test_titles_lose_their_numbers_and_shared_titles_split_the_count():
    assert title_base("酒泉子 一") == "酒泉子" and title_base("偈五首  其三") == "偈五首" and title_base("一") == "一"
    author = np.array([0, 0, 0, 1])
    title = np.array([5, 5, 5, 5])
    ranked = np.array([1, 1, 0, 1], bool)
    assert shared_title_counts(author, title, ranked).tolist() == [2.0, 2.0, 2.0, 1.0]
    assert edition_counts(np.array([0, 0, 1, 0]), np.array([3, 4, 3, 3])).tolist() == [2, 2, 1, 2]


def test_fame_splits_shared_counts_and_gives_unranked_poems_their_class_prior():
    nan = np.nan
    # poems 0-1: one author's two 浣溪沙 sharing a count; 2: a single poem with half that count;
    # 3: unranked edition of poem 2; 4-5: unranked, 4 in a curated edition; 6-9 ranked fillers
    counts = np.array([[100.0], [100.0], [60.0], [nan], [nan], [nan], [10.0], [20.0], [30.0], [200.0]])
    shared = np.array([2, 2, 1, 1, 1, 1, 1, 1, 1, 1], float)
    keys = np.array([0, 1, 2, 2, 3, 4, 5, 6, 7, 8])
    editions = np.array([1, 1, 2, 2, 1, 1, 1, 1, 1, 1])
    curated = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0], bool)
    f, src = fame(counts, shared, keys, editions, curated)
    assert f.shape == (10,) and not np.isnan(f).any()
    assert f[2] > f[0] == f[1]  # 60 alone beats 100 shared by two
    assert f[3] == f[2] and src[3] == 1  # another edition's fame
    assert src.tolist().count(2) == 2 and src[4] == src[5] == 2
    ranked_single = f[[0, 1, 6, 7, 8, 9]]  # class (1 edition, not curated)
    assert f[5] == np.median(ranked_single)
    f0, _ = fame(counts, shared, keys, editions, curated, title_power=0.0)
    assert f0[0] > f0[2]  # without the correction the shared count wins
    # prior_weight: each poem's fame moves halfway to its class's prior (the unranked poems of a
    # class have the prior itself: f[5] for one edition, f[2] the only ranked one of two, f[4])
    fb, _ = fame(counts, shared, keys, editions, curated, prior_weight=0.5)
    prior = np.array([f[5], f[5], f[2], f[2], f[4], f[5], f[5], f[5], f[5], f[5]])
    np.testing.assert_allclose(fb, 0.5 * f + 0.5 * prior)
    assert fb[9] < f[9] and fb[6] > f[6]  # the single-edition extremes pulled toward their class


def test_agreement_counts_books_per_line_and_poet():
    from poetry_search.build.attribution import agreement

    text = np.array([0, 0, 0, 0, 1])
    poet = np.array([7, 7, 7, 8, 7])
    book = np.array([1, 2, 2, 1, 1])
    assert agreement(text, poet, book).tolist() == [2, 2, 2, 1, 1]
    allowed = np.array([1, 0, 0, 1, 1], bool)
    assert agreement(text, poet, book, allowed).tolist() == [1, 0, 0, 1, 1]
    rank = cite_rank(np.zeros(5), np.array([0.1, 0.1, 0.1, 0.9, 0.5]), np.zeros(5, bool), np.arange(5),
                     agreement=agreement(text, poet, book))
    assert attribute(text, rank, 2).tolist() == [0, 4]  # two books for poet 7 outweigh poet 8's fame
