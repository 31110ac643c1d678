"""Post limits: each platform's way of counting, link rules and images, all problems at once."""

from __future__ import annotations

import pytest

from clarion.channels.social.base import (
    PostLimits,
    SocialImage,
    SocialPost,
    check_post,
    graphemes,
    post_length,
    x_weighted_length,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


@pytest.mark.parametrize(
    ("text", "rule", "length"),
    [
        ("hello", "chars", 5),
        (f"{FAMILY}!", "graphemes", 2),  # one family emoji is one grapheme
        ("e\u0301", "graphemes", 1),  # e + combining acute
        ("你好", "x_weighted", 4),  # CJK counts two on X
        (f"hi {FAMILY}", "x_weighted", 5),  # an emoji sequence counts two
        ("see https://example.com/a/very/long/path?q=1", "x_weighted", 4 + 23),
        ("see https://example.com/a/very/long/path", "chars_urls_23", 4 + 23),
    ],
)
def test_length_is_counted_the_platforms_way(text: str, rule: str, length: int) -> None:
    assert post_length(text, rule) == length  # type: ignore[arg-type]


def test_x_counts_280_latin_but_140_chinese() -> None:
    assert x_weighted_length("a" * 280) == 280
    assert x_weighted_length("好" * 140) == 280
    assert graphemes("") == 0


def test_every_problem_is_named_with_its_field_and_value() -> None:
    # given Weibo-like limits: a registered safe domain that every post must link to
    limits = PostLimits(
        max_length=20, link_domains=("shop.example.cn",), link_required=True, max_images=1
    )
    post = SocialPost(
        "Spring sale, 20% off everything today!",
        link="https://bit.ly/x",
        images=(SocialImage(b"x" * 10, "image/png"), SocialImage(b"y", "image/tiff")),
    )
    # when checked
    problems = {(p.field, str(p.value)) for p in check_post(limits, post)}
    # then the length, the foreign link, the missing safe link and both image issues are named
    assert ("text", "55") in problems
    assert ("link", "https://bit.ly/x") in problems
    assert ("link", "None") in problems
    assert ("images", "2") in problems
    assert ("images[1].mime_type", "image/tiff") in problems


def test_a_post_within_limits_has_no_problems_and_the_link_is_appended_once() -> None:
    limits = PostLimits(max_length=300, length_rule="graphemes")
    post = SocialPost("New arrivals", link="https://shop.example.com/new")
    assert check_post(limits, post) == []
    assert post.full_text() == "New arrivals https://shop.example.com/new"
    again = SocialPost(
        "New arrivals https://shop.example.com/new", link="https://shop.example.com/new"
    )
    assert again.full_text() == "New arrivals https://shop.example.com/new"
    assert check_post(PostLimits(100, links_allowed=False), post)[0].field == "link"
    assert check_post(PostLimits(100, needs_title=True), post)[0].field == "title"
