"""Near matches (store/near.py) against a brute-force edit distance of one, on the sample's real
lines edited at random and on random strings over a small alphabet (where collisions are many)."""

import random

import pytest

from poetry_search.corpus.reader import CorpusReader, poem_lines
from poetry_search.corpus.normalize import to_simplified
from poetry_search.corpus.variants import match_key
from poetry_search.store.near import MIN_LENGTH, TWO_MIN_LENGTH, NearIndex
from conftest import ROOT


def one_edit(a: str, b: str) -> bool:
    """Independent oracle: ``a`` and ``b`` differ by one replaced, left-out or added character."""
    if a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return len(long_) == len(short) + 1 and any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def brute(texts, q):
    return [i for i, t in enumerate(texts) if len(t) >= MIN_LENGTH and one_edit(q, t)]


@pytest.fixture(scope="module")
def sample_keys():
    reader = CorpusReader(ROOT / "data" / "sample")
    norm = reader.normalizer()
    return sorted({match_key(ln.text) for p in reader.poems() for ln in poem_lines(p, norm)})


def edits(text: str, rng: random.Random, alphabet: str):
    i = rng.randrange(len(text))
    c = rng.choice(alphabet)
    return [text[:i] + c + text[i + 1:], text[:i] + text[i + 1:], text[:i] + c + text[i:]]


def test_near_equals_brute_force_on_edited_corpus_lines(sample_keys):
    idx = NearIndex.build(sample_keys)
    rng = random.Random(7)
    alphabet = "".join(sorted(set("".join(sample_keys))))
    queries = [q for t in rng.sample(sample_keys, 150) for q in edits(t, rng, alphabet)]
    assert len(queries) == 450
    kinds = {"replaced": 0, "shorter": 0, "longer": 0}
    for q in queries:
        want = brute(sample_keys, q)
        got = idx.near(q).tolist()
        assert got == want, q
        for i in want:
            kinds["replaced" if len(sample_keys[i]) == len(q) else "longer" if len(sample_keys[i]) > len(q) else "shorter"] += 1
    assert all(n > 20 for n in kinds.values()), kinds  # each kind of edit was found many times


def test_near_equals_brute_force_where_lines_collide():
    rng = random.Random(3)
    alpha = "春花秋月何时了往事知多少"
    texts = sorted({"".join(rng.choice(alpha) for _ in range(rng.randint(3, 9))) for _ in range(2500)})
    idx = NearIndex.build(texts)
    queries = ["".join(rng.choice(alpha + "雪") for _ in range(rng.randint(3, 10))) for _ in range(100)]
    queries += [q for t in rng.sample(texts, 100) for q in edits(t, rng, alpha + "雪")]
    assert len(queries) == 400
    hits = 0
    for q in queries:
        want = brute(texts, q)
        assert idx.near(q).tolist() == want, q
        hits += len(want)
    assert hits > 150  # many queries have several near lines: the verification step is exercised


def test_indels_can_be_left_out():
    texts = ["约略嚬轻笑浅", "远近高低总不同", "远近高低不同"]
    idx = NearIndex.build(texts)
    assert idx.near("约略轻笑浅").tolist() == [0]  # one character left out of the line
    assert idx.near("约略轻笑浅", indels=False).tolist() == []
    assert idx.near("远近高低各不同").tolist() == [1, 2]  # replaced; one too many
    assert idx.near("远近高低各不同", indels=False).tolist() == [1]
    assert idx.near("约略嚬轻笑浅").tolist() == []  # an exact line is not its own near match


def two_in_one_half(a: str, b: str) -> bool:
    """Independent oracle of ``two_replaced``: same length (seven or more), exactly two positions
    differ, both before the middle or both from it on."""
    if len(a) != len(b) or len(a) < TWO_MIN_LENGTH:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    h = len(a) // 2
    return len(diff) == 2 and (all(i < h for i in diff) or all(i >= h for i in diff))


def test_two_replacements_in_one_half_equal_brute_force_where_lines_collide():
    rng = random.Random(11)
    alpha = "春花秋月何时了"
    texts = sorted({"".join(rng.choice(alpha) for _ in range(rng.choice((5, 7, 8)))) for _ in range(3000)})
    idx = NearIndex.build(texts)
    queries = []
    for t in rng.sample(texts, 150):  # two characters of one half replaced (some by 雪, in no line)
        q = list(t)
        half = range(len(t) // 2) if rng.random() < 0.5 else range(len(t) // 2, len(t))
        for i in rng.sample(list(half), 2):
            q[i] = rng.choice(alpha + "雪")
        queries.append("".join(q))
    assert len(queries) == 150
    hits = 0
    for q in queries:
        want = [i for i, t in enumerate(texts) if two_in_one_half(q, t)]
        assert idx.two_replaced(q).tolist() == want, q
        hits += len(want)
    assert hits > 100
    assert idx.two_replaced("春花秋月").tolist() == []  # too short to be tried


def test_a_word_spelled_otherwise_is_found_when_nothing_is_one_edit_away():
    def key(t: str) -> str:  # as lines are filed: simplified, then the variant key
        return match_key(to_simplified(t))

    texts = ["楓葉荻花秋索索", "楓葉荻花秋正好", "沈香亭北倚闌干"]
    idx = NearIndex.build([key(t) for t in texts])
    assert idx.near(key("枫叶荻花秋瑟瑟")).tolist() == []  # 瑟瑟 / 索索: two characters
    assert idx.two_replaced(key("枫叶荻花秋瑟瑟")).tolist() == [0, 1]
    assert idx.two_replaced(key("沉香亭北倚栏杆")).tolist() == [2]  # 沉/沈 fold; 栏杆 / 阑干
    assert idx.two_replaced(key("枫叶荻花秋索索")).tolist() == [1]  # an exact line is not its own


def swapped(a: str, b: str) -> bool:
    """Independent oracle of ``transposed``: ``b`` is ``a`` with two neighbouring, different
    characters the other way round."""
    return len(a) == len(b) and any(a[i] != a[i + 1] and b == a[:i] + a[i + 1] + a[i] + a[i + 2:] for i in range(len(a) - 1))


def test_two_neighbours_swapped_equal_brute_force_where_lines_collide():
    rng = random.Random(5)
    alpha = "春花秋月何时了"
    texts = sorted({"".join(rng.choice(alpha) for _ in range(rng.choice((4, 5, 6, 7)))) for _ in range(3000)})
    idx = NearIndex.build(texts)
    queries = []
    for t in rng.sample([t for t in texts if len(t) >= MIN_LENGTH], 150):
        i = rng.randrange(len(t) - 1)  # across the halves as often as anywhere
        queries.append(t[:i] + t[i + 1] + t[i] + t[i + 2:])
    queries += ["".join(rng.choice(alpha) for _ in range(rng.choice((5, 6, 7)))) for _ in range(50)]
    assert len(queries) == 200
    hits = across = 0
    for q in queries:
        want = [i for i, t in enumerate(texts) if len(t) >= MIN_LENGTH and swapped(q, t)]
        assert idx.transposed(q).tolist() == want, q
        hits += len(want)
        h = len(q) // 2
        across += any(texts[i][h - 1:h + 1] != q[h - 1:h + 1] and texts[i][:h - 1] == q[:h - 1]
                      and texts[i][h + 1:] == q[h + 1:] for i in want)
    assert hits > 100 and across > 10  # a swap that straddles the two halves is found too
    assert idx.transposed("春花秋月").tolist() == []  # four characters are not tried


def test_a_four_character_query_finds_only_the_lines_with_one_character_more():
    rng = random.Random(9)
    alpha = "春花秋月何时了"
    texts = sorted({"".join(rng.choice(alpha) for _ in range(rng.choice((4, 5, 6)))) for _ in range(2000)})
    idx = NearIndex.build(texts)
    queries = ["".join(rng.choice(alpha) for _ in range(4)) for _ in range(150)]
    assert len(queries) == 150
    hits = 0
    for q in queries:
        want = [i for i, t in enumerate(texts) if len(t) == 5 and any(t[:j] + t[j + 1:] == q for j in range(5))]
        assert idx.left_out(q).tolist() == want, q
        hits += len(want)
    assert hits > 100
    # 宋词三百首 lost 噀: its four characters find 全宋词's five
    real = NearIndex.build(["香噀西风雨", "香西风雨急", "春西风雨"])
    assert real.left_out("香西风雨").tolist() == [0, 1]
    assert real.left_out("香西雨").tolist() == []  # three characters are not tried
