"""Statistics agree with statsmodels (an independent implementation) and behave at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as st
from statsmodels.stats import proportion as smp
from statsmodels.stats.gof import chisquare as sm_chisquare
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from clarion.analytics import stats

CASES = [(0, 10), (1, 10), (5, 10), (10, 10), (37, 1000), (512, 100_000), (3, 7)]


@pytest.mark.parametrize(("k", "n"), CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_wilson_interval_matches_statsmodels(k: int, n: int, alpha: float) -> None:
    # given k successes in n; when the Wilson interval is computed; then it matches statsmodels
    got = stats.wilson(k, n, alpha)
    low, high = smp.proportion_confint(k, n, alpha=alpha, method="wilson")
    assert got.low == pytest.approx(low, abs=1e-12)
    assert got.high == pytest.approx(high, abs=1e-12)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2"),
    [(120, 1000, 100, 1000), (30, 500, 45, 520), (5, 50, 5, 50), (900, 10_000, 1000, 10_000)],
)
def test_two_proportion_z_matches_statsmodels(k1: int, n1: int, k2: int, n2: int) -> None:
    z, p = stats.two_proportion_z(k1, n1, k2, n2)
    ref_z, ref_p = smp.proportions_ztest([k1, k2], [n1, n2])
    assert z == pytest.approx(ref_z, rel=1e-10)
    assert p == pytest.approx(ref_p, rel=1e-9)


def test_chi_square_across_variants_matches_statsmodels() -> None:
    counts, nobs = [120, 100, 140], [1000, 1010, 990]
    chi2, p = stats.chi_square(counts, nobs)
    ref_chi2, ref_p, _ = smp.proportions_chisquare(np.array(counts), np.array(nobs))
    assert chi2 == pytest.approx(ref_chi2, rel=1e-10)
    assert p == pytest.approx(ref_p, rel=1e-9)


@pytest.mark.parametrize(("method", "ref"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_corrections_match_statsmodels(method: str, ref: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12)))
        expected = multipletests(p, method=ref)[1]
        assert stats.adjust(list(p), method) == pytest.approx(list(expected), abs=1e-12)


def test_newcombe_difference_matches_statsmodels() -> None:
    for k1, n1, k2, n2 in [(60, 1000, 40, 1000), (3, 40, 9, 45), (0, 100, 4, 100)]:
        d = stats.proportion_difference(k1, n1, k2, n2)
        low, high = smp.confint_proportions_2indep(k1, n1, k2, n2, method="newcomb")
        assert (d.low, d.high) == pytest.approx((low, high), abs=1e-10)
        assert d.estimate == pytest.approx(k1 / n1 - k2 / n2)


def test_welch_from_sums_matches_statsmodels_on_the_raw_data() -> None:
    # given revenue per recipient: mostly zero, a few orders (a skewed, realistic shape)
    rng = np.random.default_rng(11)
    a = np.where(rng.random(4000) < 0.05, rng.gamma(2.0, 40.0, 4000), 0.0)
    b = np.where(rng.random(1000) < 0.03, rng.gamma(2.0, 40.0, 1000), 0.0)
    # when the difference is computed from SQL-style sums (sum, sum of squares, n)
    m1, v1 = stats.summary(float(a.sum()), float((a * a).sum()), len(a))
    m2, v2 = stats.summary(float(b.sum()), float((b * b).sum()), len(b))
    got = stats.welch_difference(m1, v1, len(a), m2, v2, len(b))
    # then it equals statsmodels' Welch interval and test on the raw values
    cm = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    low, high = cm.tconfint_diff(usevar="unequal")
    _, p, _ = cm.ttest_ind(usevar="unequal")
    assert (got.low, got.high) == pytest.approx((low, high), rel=1e-9)
    assert got.p == pytest.approx(p, rel=1e-8)


def test_srm_flags_a_broken_split_and_passes_a_fair_one() -> None:
    fair = stats.sample_ratio_mismatch([4_980, 5_020], [0.5, 0.5])
    broken = stats.sample_ratio_mismatch([4_700, 5_300], [0.5, 0.5])
    ref = sm_chisquare([4_700, 5_300], [5_000, 5_000])
    assert not fair.mismatch and broken.mismatch
    assert broken.statistic == pytest.approx(ref[0]) and broken.p == pytest.approx(ref[1])


def test_winner_only_when_significant_after_correction() -> None:
    # given B clearly ahead of A and C
    comps, winner = stats.compare_variants({"A": (100, 2000), "B": (180, 2000), "C": (105, 2000)})
    assert winner == "B"
    # and three variants that differ by noise: no winner
    _, none = stats.compare_variants({"A": (100, 2000), "B": (112, 2000), "C": (104, 2000)})
    assert none is None
    # and a difference significant alone but not after Holm over three pairs: no winner
    raw = stats.two_proportion_z(100, 2000, 130, 2000)[1]
    _, held = stats.compare_variants({"A": (100, 2000), "B": (130, 2000), "C": (118, 2000)})
    assert raw < 0.05 and held is None
    assert len(comps) == 3 and all(c.p_adjusted >= c.p for c in comps)


def test_thompson_probability_matches_the_exact_posterior_integral() -> None:
    # given two arms with some evidence
    alloc = stats.ThompsonAllocator(["A", "B"], seed=3)
    alloc.update("A", 30, 270)
    alloc.update("B", 22, 278)
    # when the probability that A is best is estimated by sampling
    got = alloc.probabilities(draws=200_000)["A"]
    # then it agrees with P(X_A > X_B) integrated exactly, within Monte Carlo error
    fa, fb = st.beta(31, 271), st.beta(23, 279)
    exact = integrate.quad(lambda x: fa.pdf(x) * fb.cdf(x), 0, 1)[0]
    assert abs(got - exact) < 4 * np.sqrt(exact * (1 - exact) / 200_000)


def test_thompson_sends_most_traffic_to_the_better_arm_as_evidence_grows() -> None:
    # given a simulated send where B converts at 8% and A at 4%
    rng = np.random.default_rng(5)
    alloc = stats.ThompsonAllocator(["A", "B"], seed=9)
    true = {"A": 0.04, "B": 0.08}
    picks: list[str] = []
    for _ in range(40):
        batch = alloc.pick(100)
        picks += batch
        for arm in ("A", "B"):
            n = batch.count(arm)
            k = int(rng.binomial(n, true[arm]))
            alloc.update(arm, k, n - k)
    # then the last quarter of the send went mostly to B
    tail = picks[-1000:]
    assert tail.count("B") > 800
