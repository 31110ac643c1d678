"""A sentiment label for a comment or a reply: positive, neutral or negative, with a score.

Both models run here with nothing downloaded: VADER (``vaderSentiment``), a lexicon and rules
tuned for short social-media English (its lexicon ships inside the package), and SnowNLP's
naive Bayes model for Chinese (trained on product reviews, also shipped inside the package).
Text with Han characters goes to SnowNLP, everything else to VADER. The score is on one scale,
-1 (negative) .. 1 (positive): VADER's compound score as is, SnowNLP's probability of
"positive" mapped as ``2p - 1``. The thresholds are the ones each model's authors recommend
(VADER: ±0.05 on the compound score) or, for SnowNLP, wide enough that a short neutral
sentence (which it scores near but not at 0.5) stays neutral.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regex

Label = Literal["positive", "neutral", "negative"]
VADER_THRESHOLD = 0.05
#: SnowNLP probabilities between these are neutral (after mapping to -1..1: ±0.5).
ZH_THRESHOLD = 0.5
_HAN = regex.compile(r"\p{Han}")
_lock = threading.Lock()
_vader: Any = None


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A label, its score (-1 .. 1) and which model gave it."""

    label: Label
    score: float
    model: str


def _analyzer() -> Any:
    global _vader
    with _lock:
        if _vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _vader = SentimentIntensityAnalyzer()
        return _vader


def _label(score: float, threshold: float) -> Label:
    if score >= threshold:
        return "positive"
    if score <= -threshold:
        return "negative"
    return "neutral"


def analyse(text: str | None) -> Sentiment:
    """Return the sentiment of ``text`` (empty text is neutral)."""
    if not text or not text.strip():
        return Sentiment("neutral", 0.0, "none")
    if _HAN.search(text):
        from snownlp import SnowNLP

        score = round(2.0 * float(SnowNLP(text).sentiments) - 1.0, 4)
        return Sentiment(_label(score, ZH_THRESHOLD), score, "snownlp")
    compound = float(_analyzer().polarity_scores(text)["compound"])
    return Sentiment(_label(compound, VADER_THRESHOLD), round(compound, 4), "vader")


def analyse_many(texts: Sequence[str | None]) -> list[Sentiment]:
    """Return the sentiment of each text, in order."""
    return [analyse(t) for t in texts]
