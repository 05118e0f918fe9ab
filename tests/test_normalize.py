from poetry_search.corpus.normalize import Normalizer, fold, to_simplified


def split(p, structures=None):
    return [(s.original, s.text) for s in Normalizer(structures).split(p)]


def test_traditional_folds_to_simplified():
    assert split("春眠不覺曉，處處聞啼鳥。") == [("春眠不覺曉", "春眠不觉晓"), ("處處聞啼鳥", "处处闻啼鸟")]
    assert to_simplified("白日依山盡，黃河入海流") == "白日依山尽，黄河入海流"


def test_simplified_passes_through():
    assert split("浓睡不消残酒。") == [("浓睡不消残酒", "浓睡不消残酒")]


def test_every_sentence_punctuation_splits():
    texts = [t for _, t in split("一，二。三！四？五；六：七,八.九!十?甲;乙:丙")]
    assert texts == list("一二三四五六七八九十甲乙丙")


def test_the_enumeration_comma_stays_inside_a_line():
    # ci use 、 inside a line: 便胜却、人间无数 is one line, embedded without the comma
    assert split("金风玉露一相逢，便胜却、人间无数。") == [("金风玉露一相逢", "金风玉露一相逢"), ("便胜却、人间无数", "便胜却人间无数")]
    assert [t for _, t in split("甲、乙､丙﹑丁")] == ["甲乙丙丁"]


def test_annotations_leave_text_but_stay_in_original():
    # punctuation inside the annotation must not split the line
    assert split("白日依山盡（一作：白日，依山），黃河入海流。") == [
        ("白日依山盡（一作：白日，依山）", "白日依山尽"), ("黃河入海流", "黄河入海流")]
    assert split("鏤玉雕瓊[2]，擬化工[3]而迥巧") == [("鏤玉雕瓊[2]", "镂玉雕琼"), ("擬化工[3]而迥巧", "拟化工而迥巧")]
    assert split("江上〖1〗小堂巢翡翠") == [("江上〖1〗小堂巢翡翠", "江上小堂巢翡翠")]
    assert split("（〖1〗這首詩）") == []


def test_supplied_character_keeps_the_character():
    assert split("[攪]妾心腸間") == [("[攪]妾心腸間", "搅妾心肠间")]


def test_structural_descriptions_are_replaced():
    assert split("{上休下鳥}飛", {"{上休下鳥}": "𪀪"}) == [("{上休下鳥}飛", "𪀪飞")]
    assert split("疲{艹/尔}竟何人") == [("疲{艹/尔}竟何人", "疲□竟何人")]


def test_quotes_and_spaces_dropped():
    assert split("子曰：“學而時習之，不亦說乎？”") == [("子曰", "子曰"), ("“學而時習之", "学而时习之"), ("不亦說乎", "不亦说乎"), ]
    assert [t for _, t in split("千山 萬山如火發。")] == ["千山万山如火发"]


def test_spaces_split_a_paragraph_without_punctuation():
    assert [t for _, t in split("弟子規 聖人訓 首孝弟 次謹信")] == ["弟子规", "圣人训", "首孝弟", "次谨信"]


def test_fold_for_filters():
    assert fold("王之渙") == fold("王之涣") == "王之涣"
    assert fold(" 登鸛雀樓 ") == "登鹳雀楼"
    assert fold(None) == ""


def test_query_normalised_like_corpus():
    n = Normalizer()
    assert n.text("春眠不覺曉，") == n.split("春眠不覺曉，")[0].text == "春眠不觉晓"
    assert n.text("，。！") == ""


def test_full_width_ascii_folds_to_ascii():
    n = Normalizer()
    assert n.text("ａｂｃ") == "abc" == n.text("abc")
    assert n.text("春眠１２３") == "春眠123"
    assert split("白日（一作：白月）依山盡") == [("白日（一作：白月）依山盡", "白日依山尽")]  # annotations still go
