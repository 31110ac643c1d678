"""What a reply means: normalisation, keywords per language, natural-language opt-outs."""

from __future__ import annotations

import pytest

from clarion.inbound import keywords as kw


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("STOP", "en"),
        ("stop", "en"),
        ("  Stop!  ", "en"),
        ("ＳＴＯＰ", "en"),  # full-width letters
        ("opt-out", "en"),
        ("Opt Out", "en"),
        ("UNSUBSCRIBE", "en"),
        ("stop please", "en"),
        ("Cancel.", "en"),
        ("退订", "zh"),
        ("请退订", "zh"),
        ("退订谢谢", "zh"),
        ("T", "zh"),
        ("td", "zh"),
        ("Ｒ", "zh"),
        ("取消", "zh"),
        ("ARRÊT", "fr"),
        ("arret", "fr"),
        ("BAJA", "es"),
        ("Stopp", "de"),
    ],
)
def test_opt_out_keywords_match_in_every_language_whatever_the_case_or_width(
    text: str, language: str
) -> None:
    # when the text is classified
    got = kw.classify(text)
    # then it is an opt-out in the keyword's language
    assert (got.intent, got.language, got.rule) == ("opt_out", language, "keyword")


def test_stopall_revokes_every_purpose_and_stop_only_marketing() -> None:
    assert kw.classify("STOPALL").all_purposes
    assert kw.classify("stop all").all_purposes
    assert not kw.classify("STOP").all_purposes


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "Can you stop sending these?",
        "STOP TEXTING ME!!!",
        "remove me from your list",
        "I want you to stop messaging me",
        "do not text this number again",
        "不要再发了",
        "请别再发短信给我",
        "je veux ne plus recevoir vos sms",
        "no quiero recibir mensajes",
    ],
)
def test_natural_language_opt_outs_are_understood(text: str) -> None:
    got = kw.classify(text)
    assert (got.intent, got.rule) == ("opt_out", "phrase"), text


@pytest.mark.parametrize(
    "text",
    [
        "don't stop the deals coming",
        "please don't stop texting me deals",
        "why did you stop sending coupons?",
        "Never stop sending me these!",
        "Stop by our store tomorrow?",
        "What time do you close?",
        "STOP the price is too high lol",
        "谢谢，这个优惠很好",
        "不要停止发送优惠",
    ],
)
def test_ordinary_replies_are_not_taken_for_opt_outs(text: str) -> None:
    got = kw.classify(text)
    assert got.intent == "reply", (text, got)


def test_help_opt_in_and_confirm_keywords() -> None:
    assert kw.classify("HELP").intent == "help"
    assert kw.classify("info").intent == "help"
    assert (kw.classify("帮助").intent, kw.classify("帮助").language) == ("help", "zh")
    assert kw.classify("AYUDA").language == "es"
    assert kw.classify("START").intent == "opt_in"
    assert kw.classify("unstop").intent == "opt_in"
    yes = kw.classify("Yes!")
    assert (yes.intent, yes.also_opt_in) == ("confirm", True)
    shi = kw.classify("是")
    assert (shi.intent, shi.language, shi.also_opt_in) == ("confirm", "zh", False)


def test_workspace_keywords_come_after_the_built_in_opt_outs() -> None:
    join = kw.CustomKeyword(1, "join", "join", "en")
    # a workspace keyword matches whole messages (politeness words aside)
    assert kw.classify("JOIN", [join]).custom == join
    assert kw.classify("join now please", [join]).custom == join
    assert kw.classify("join the club", [join]).intent == "reply"
    # and cannot shadow an opt-out
    stop = kw.CustomKeyword(2, "stop", "opt_in", "en")
    assert kw.classify("STOP", [stop]).intent == "opt_out"
    assert kw.builtin_keyword("Opt-Out") == "opt_out"


def test_a_workspace_phrase_list_replaces_the_defaults() -> None:
    own = {"en": ["enough already"]}
    assert kw.classify("ok enough already", phrases=own).intent == "opt_out"
    assert kw.classify("please stop texting me", phrases=own).intent == "reply"


def test_the_contact_language_breaks_ties_between_languages_sharing_a_keyword() -> None:
    assert kw.classify("PARAR").language == "es"
    assert kw.classify("PARAR", language="pt").language == "pt"
