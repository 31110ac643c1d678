"""Statistics for campaign results: intervals, tests between variants, lift, SRM, bandits.

Everything takes counts or summary statistics (what the report's GROUP BY queries return), so
a million messages cost nothing here. Formulas are the textbook ones, computed with scipy:

- rates: Wilson score interval (good near 0% and at small n, unlike the Wald interval);
- two variants: two-proportion z-test with the pooled standard error; several variants:
  every pair tested, p-values corrected for multiple comparisons (Holm, or Benjamini-Hochberg);
- a winner is named only when its rate beats every other variant with a corrected p-value
  below alpha; otherwise there is no winner;
- holdout lift: difference of proportions (Newcombe's hybrid score interval, built from the two
  Wilson intervals) scaled to incremental conversions; revenue per recipient by Welch's t;
- sample-ratio mismatch: chi-square goodness of fit of the observed group sizes to the plan;
- Thompson sampling: Beta(1 + successes, 1 + failures) posteriors, one draw per arm per pick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats as st

ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its Wilson interval."""

    successes: int
    trials: int
    rate: float
    low: float
    high: float


def wilson(successes: int, trials: int, alpha: float = ALPHA) -> Rate:
    """Return ``successes / trials`` with its Wilson score interval at level ``1 - alpha``."""
    if trials <= 0:
        return Rate(successes, trials, 0.0, 0.0, 0.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} not within 0..{trials}")
    z = float(st.norm.ppf(1 - alpha / 2))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # Rounding can leave an end a hair on the wrong side of p (at p = 0 or 1): clamp it.
    low, high = min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))
    return Rate(successes, trials, p, low, high)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Return (z, two-sided p) for H0: p1 == p2, with the pooled standard error."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / se
    return z, float(2 * st.norm.sf(abs(z)))


def chi_square(successes: Sequence[int], trials: Sequence[int]) -> tuple[float, float]:
    """Return (statistic, p) of the chi-square test that every group has the same rate."""
    table = np.array([[k, n - k] for k, n in zip(successes, trials, strict=True)], dtype=float)
    if len(table) < 2 or (table.sum(axis=0) == 0).any():
        return 0.0, 1.0
    res = st.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue)


def adjust(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    """Return p-values corrected for multiple comparisons ("holm" or "bh")."""
    m = len(pvalues)
    if m == 0:
        return []
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
    else:
        raise ValueError(f"unknown correction {method!r}; use 'holm' or 'bh'")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return [float(x) for x in out]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One pair of variants compared on one rate."""

    a: str
    b: str
    diff: float  # rate(a) - rate(b)
    z: float
    p: float
    p_adjusted: float
    significant: bool


def compare_variants(
    groups: dict[str, tuple[int, int]], *, alpha: float = ALPHA, correction: str = "holm"
) -> tuple[list[Comparison], str | None]:
    """Compare every pair of variants' (successes, trials); return the comparisons and the
    winner: the variant whose rate beats every other with a corrected p below ``alpha``."""
    names = [g for g in groups if groups[g][1] > 0]
    pairs = list(combinations(names, 2))
    raw = [two_proportion_z(*groups[a], *groups[b]) for a, b in pairs]
    adjusted = adjust([p for _, p in raw], correction)
    out = [
        Comparison(
            a,
            b,
            groups[a][0] / groups[a][1] - groups[b][0] / groups[b][1],
            z,
            p,
            padj,
            padj < alpha,
        )
        for (a, b), (z, p), padj in zip(pairs, raw, adjusted, strict=True)
    ]
    winner = None
    for name in names:
        beats = [
            (c.significant and ((c.a == name and c.diff > 0) or (c.b == name and c.diff < 0)))
            for c in out
            if name in (c.a, c.b)
        ]
        if beats and all(beats):
            winner = name
    return out, winner


@dataclass(frozen=True, slots=True)
class Difference:
    """An estimated difference with its confidence interval and p-value."""

    estimate: float
    low: float
    high: float
    p: float


def proportion_difference(k1: int, n1: int, k2: int, n2: int, alpha: float = ALPHA) -> Difference:
    """Return p1 - p2 with Newcombe's hybrid score interval (method 10) and the z-test's p."""
    r1, r2 = wilson(k1, n1, alpha), wilson(k2, n2, alpha)
    d = r1.rate - r2.rate
    low = d - math.sqrt((r1.rate - r1.low) ** 2 + (r2.high - r2.rate) ** 2)
    high = d + math.sqrt((r1.high - r1.rate) ** 2 + (r2.rate - r2.low) ** 2)
    return Difference(d, low, high, two_proportion_z(k1, n1, k2, n2)[1])


def welch_difference(
    mean1: float,
    var1: float,
    n1: int,
    mean2: float,
    var2: float,
    n2: int,
    alpha: float = ALPHA,
) -> Difference:
    """Return mean1 - mean2 with Welch's t interval (unequal variances) and p-value.

    Variances are sample variances (ddof=1).
    """
    if n1 < 2 or n2 < 2:
        return Difference(mean1 - mean2, -math.inf, math.inf, 1.0)
    a, b = var1 / n1, var2 / n2
    se = math.sqrt(a + b)
    d = mean1 - mean2
    if se == 0:
        return Difference(d, d, d, 1.0 if d == 0 else 0.0)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    t = float(st.t.ppf(1 - alpha / 2, df))
    p = float(2 * st.t.sf(abs(d / se), df))
    return Difference(d, d - t * se, d + t * se, p)


def summary(total: float, total_sq: float, n: int) -> tuple[float, float]:
    """Return (mean, sample variance) from a sum and a sum of squares (SQL aggregates)."""
    if n <= 0:
        return 0.0, 0.0
    mean = total / n
    if n < 2:
        return mean, 0.0
    return mean, max(0.0, (total_sq - n * mean * mean) / (n - 1))


@dataclass(frozen=True, slots=True)
class Srm:
    """Sample-ratio-mismatch check: do group sizes fit the planned split?"""

    statistic: float
    p: float
    mismatch: bool


def sample_ratio_mismatch(
    observed: Sequence[int], planned: Sequence[float], *, threshold: float = 0.001
) -> Srm:
    """Chi-square goodness of fit of ``observed`` sizes to the ``planned`` shares.

    The conventional threshold is p < 0.001: a real mismatch (a bug in assignment, a group
    dropped by a filter) is usually glaring, and a looser threshold cries wolf.
    """
    obs = np.asarray(observed, dtype=float)
    shares = np.asarray(planned, dtype=float)
    keep = shares > 0
    if keep.sum() < 2 or obs.sum() == 0:
        return Srm(0.0, 1.0, False)
    expected = shares[keep] / shares[keep].sum() * obs[keep].sum()
    res = st.chisquare(obs[keep], expected)
    p = float(res.pvalue)
    return Srm(float(res.statistic), p, p < threshold)


class ThompsonAllocator:
    """Pick variants during a send by Thompson sampling over Beta posteriors.

    Each pick draws once from every arm's Beta(1 + successes, 1 + failures) and takes the
    largest draw, so arms are chosen as often as they are likely to be the best: exploration
    fades by itself as evidence accumulates.
    """

    def __init__(self, arms: Sequence[str], seed: int | None = None) -> None:
        if not arms:
            raise ValueError("at least one arm")
        self.arms = list(arms)
        self.successes = np.zeros(len(arms))
        self.failures = np.zeros(len(arms))
        self.rng = np.random.default_rng(seed)

    def update(self, arm: str, successes: int, failures: int) -> None:
        """Add observed outcomes for ``arm``."""
        i = self.arms.index(arm)
        self.successes[i] += successes
        self.failures[i] += failures

    def pick(self, n: int = 1) -> list[str]:
        """Return ``n`` arm choices (one posterior draw per arm per choice)."""
        draws = self.rng.beta(1 + self.successes, 1 + self.failures, size=(n, len(self.arms)))
        return [self.arms[i] for i in draws.argmax(axis=1)]

    def probabilities(self, draws: int = 20_000) -> dict[str, float]:
        """Return each arm's posterior probability of being the best (Monte Carlo)."""
        picks = self.rng.beta(
            1 + self.successes, 1 + self.failures, size=(draws, len(self.arms))
        ).argmax(axis=1)
        counts = np.bincount(picks, minlength=len(self.arms))
        return {a: float(c) / draws for a, c in zip(self.arms, counts, strict=True)}
