"""Content screening: normalisation, positions in the original text, URL rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.compliance.screening import (
    Screener,
    Term,
    build_screener,
    normalise,
    normalise_with_map,
)

CN = build_screener(("global", "cn"), (), "block", (), False)
US = build_screener(("global", "us"))


def test_normalisation_folds_full_width_drops_zero_width_and_lowers_ascii() -> None:
    assert normalise("ＣＡＳＩＮＯ\u200b Night　ｂｉｔ．ｌｙ") == "casino night bit.ly"
    text, starts, ends = normalise_with_map("a\u200bＢ")
    assert text == "ab" and starts == [0, 2] and ends == [1, 3]


def test_a_term_split_by_a_zero_width_space_is_found_at_its_original_position() -> None:
    # given a Chinese message hiding 博彩 behind a zero-width space
    text = "【好店】周末博\u200b彩优惠，回T退订"
    # when it is screened under the Chinese lists
    result = CN.screen(text)
    # then it is blocked, naming the term, its category and where it is in the ORIGINAL text
    assert result.verdict == "block"
    hit = result.hits[0]
    assert (hit.term, hit.category, hit.code) == ("博彩", "gambling", "term")
    assert text[hit.start : hit.end] == "博\u200b彩"


def test_full_width_latin_is_matched_and_mapped_back() -> None:
    text = "Tonight: ＣＡＳＩＮＯ party, reply STOP to opt out"
    hit = US.screen(text).hits[0]
    assert hit.category == "gambling"
    assert text[hit.start : hit.end] == "ＣＡＳＩＮＯ"


def test_compatibility_characters_map_back_to_the_characters_they_came_from() -> None:
    # "ﬁ" (one ligature character) normalises to "fi": the hit still covers the ligature
    s = Screener([Term("firearm", "firearms", "block", "us")])
    text = "New ﬁrearm deals"
    hit = s.screen(text).hits[0]
    assert text[hit.start : hit.end] == "ﬁrearm"


def test_latin_terms_match_whole_words_only() -> None:
    assert US.screen("Join the wine tasting").verdict == "warn"
    assert US.screen("Sweet twine and swine").verdict == "ok"
    assert US.screen("Grapevine news").verdict == "ok"


def test_warn_only_terms_give_a_warning_not_a_block() -> None:
    result = CN.screen("【好店】新款白酒到店，回T退订")
    assert result.verdict == "warn"
    assert [(h.category, h.action) for h in result.hits] == [("alcohol", "warn")]


def test_public_shorteners_are_blocked_even_written_full_width() -> None:
    text = "Deals at ｂｉｔ．ｌｙ/abc today"
    result = US.screen(text)
    assert result.verdict == "block"
    hit = result.hits[0]
    assert hit.code == "url_shortener" and hit.term == "bit.ly"
    assert text[hit.start : hit.end] == "ｂｉｔ．ｌｙ/abc"
    assert US.screen("Deals at https://tinyurl.com/x").blocked


def test_domain_allow_list_blocks_other_domains_only() -> None:
    s = build_screener(("global",), (), "block", ("acme.com",))
    assert s.screen("See https://shop.acme.com/sale").verdict == "ok"
    result = s.screen("See https://shop.acme.com/sale or www.evil.com/x.")
    assert [(h.code, h.term) for h in result.hits] == [("url_not_allowed", "www.evil.com")]


def test_links_inside_variables_are_blocked_where_the_policy_forbids_them() -> None:
    # given a template whose variable rendered to a link
    text = "【好店】您的专属链接 https://acme.cn/x 回T退订"
    result = CN.screen(text, variable_values=["https://acme.cn/x"])
    assert [h.code for h in result.hits] == ["link_in_variable"]
    assert text[result.hits[0].start : result.hits[0].end] == "https://acme.cn/x"
    # and a fixed link whose path is built from a variable
    src = "【好店】查看 https://acme.cn/o/{{ order }} 回T退订"
    hits = CN.screen("【好店】查看 https://acme.cn/o/12 回T退订", template_source=src).hits
    assert [(h.code, h.source) for h in hits] == [("link_in_variable", "template")]
    # where links in variables are allowed, nothing fires
    assert (
        US.screen("Hi https://acme.com/x", variable_values=["https://acme.com/x"]).verdict == "ok"
    )


def test_workspace_terms_extend_the_lists_and_block_beats_warn() -> None:
    own = (Term("白酒", "own_rule", "block", "workspace"), Term("flash sale", "own", "warn", "x"))
    s = build_screener(("cn",), own)
    hit = s.screen("【店】白酒").hits[0]
    assert (hit.action, hit.source) == ("block", "workspace")
    assert s.screen("FLASH SALE now").verdict == "warn"


def test_a_batch_gives_one_verdict_per_message_in_order() -> None:
    texts = ["hello", "博彩", "", "Casino", "a\u200bb 中奖", "fine"]
    got = [r.verdict for r in build_screener(("global", "cn", "us")).screen_many(texts)]
    assert got == ["ok", "block", "ok", "block", "block", "ok"]


ALPHABET = "aAbBsStToOpP 博彩中奖加qQ，。！　ａＢｃ\u200b\u00ad\u0301éﬁ①.:/-bit.lywww．／：hcmn"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=30), min_size=1, max_size=8))
def test_the_batch_fast_path_finds_exactly_what_the_exact_path_finds(texts: list[str]) -> None:
    # given terms with punctuation, spaces, Chinese and Latin, and any mix of tricky characters
    s = Screener(
        [
            Term("博彩", "gambling", "block", "cn"),
            Term("中奖", "prizes", "block", "cn"),
            Term("加qq", "diversion", "block", "cn"),
            Term("stop", "x", "warn", "us"),
            Term("ab. c", "x", "block", "us"),
            Term("fi", "x", "warn", "us"),
        ]
    )
    # when screened as a batch and one by one on the exact, normalising path
    batch = s.screen_many(texts)
    single = [s._screen_one(t) for t in texts]
    # then both give the same verdicts, hits and positions
    assert batch == single


URL_TOKENS = [
    "http://", "https://", "www.", "bit.ly", "ok.com", "shop.ok.com", "evil.cn", "/path", ".", "/",
    " ", "\t", "\n", "\x1c", "\u3000", "，", "：", "ｗｗｗ", "a", "Z", "博彩", "stop", "-", "..",
]  # fmt: skip
#: One screener for every example, so its cache of URL words carries over between batches.
ALLOW = Screener([Term("stop", "x", "warn", "us")], allowed_domains=["ok.com"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(URL_TOKENS), max_size=12), min_size=1, max_size=6))
def test_known_good_urls_skip_parsing_without_changing_any_verdict(
    token_lists: list[list[str]],
) -> None:
    # given messages made of URL pieces, allowed and not, with odd separators around them
    texts = ["".join(tokens) for tokens in token_lists]
    # when screened twice as a batch (the second time from the URL-word cache) and one by one
    first = ALLOW.screen_many(texts)
    second = ALLOW.screen_many(texts)
    single = [ALLOW._screen_one(t) for t in texts]
    # then all three agree, hits and positions included
    assert first == single
    assert second == single


def test_an_ascii_text_maps_one_to_one_and_agrees_with_the_general_path() -> None:
    # given an ASCII text, and the same text with one non-ASCII character appended
    from clarion.compliance.screening import normalise_with_map

    text = "Acme SALE: Visit HTTP://Bit.ly/X now!"
    # when both are normalised with their position maps
    fast = normalise_with_map(text)
    general = normalise_with_map(text + "\u00e9")
    # then the ASCII one is lower-cased character for character
    assert fast == (text.lower(), list(range(len(text))), list(range(1, len(text) + 1)))
    # and the general path says the same about the shared prefix
    assert general[0][: len(text)] == fast[0]
    assert general[1][: len(text)] == fast[1] and general[2][: len(text)] == fast[2]
