"""Welch's unequal-variance t-test between two arms, from their sufficient statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import stdtr, stdtrit

from gateway.stats.moments import Moments


@dataclass(frozen=True, slots=True)
class WelchResult:
    """The outcome of a fixed-horizon Welch test of treatment against control.

    ``diff`` is mean(treatment) − mean(control); ``ci_low``/``ci_high`` bound it at
    confidence 1 − alpha. ``effect_size`` is Cohen's d: ``diff`` over the pooled standard
    deviation sqrt(((n_c−1)s_c² + (n_t−1)s_t²) / (n_c+n_t−2)), not bias-corrected (not
    Hedges' g). ``defined`` is False when the test cannot be computed (an arm has fewer
    than two values, or both arms have zero variance); then p_value is 1.0, t, dof and
    effect_size are 0.0, se is inf and the interval is (−inf, inf): "no evidence either
    way", never NaN.
    """

    diff: float
    se: float
    dof: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float
    effect_size: float
    n_control: int
    n_treatment: int
    defined: bool = True


def welch_test(control: Moments, treatment: Moments, *, alpha: float = 0.05) -> WelchResult:
    """Two-sided Welch t-test; equals ``scipy.stats.ttest_ind(t, c, equal_var=False)``.

    Args:
        control: moments of the control arm's per-outcome metric.
        treatment: moments of the treatment arm's per-outcome metric.
        alpha: 1 − confidence level of the interval (the test's level).

    Returns:
        The test result; see ``WelchResult`` for the undefined cases.

    >>> r = welch_test(Moments(50, 1.0, 49 * 4.0), Moments(60, 2.0, 59 * 9.0))
    >>> round(r.t, 4), round(r.dof, 2), round(r.p_value, 5), round(r.ci_low, 4)
    (2.0851, 103.33, 0.03952, 0.0489)
    >>> welch_test(Moments(1, 1.0, 0.0), Moments(9, 2.0, 3.0)).p_value
    1.0
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n_c, n_t = control.n, treatment.n
    diff = treatment.mean - control.mean if n_c and n_t else 0.0
    v_c = control.variance / n_c if n_c > 1 else 0.0
    v_t = treatment.variance / n_t if n_t > 1 else 0.0
    var = v_c + v_t
    if n_c < 2 or n_t < 2 or var <= 0.0:
        return WelchResult(
            diff, math.inf, 0.0, 0.0, 1.0, -math.inf, math.inf, 0.0, n_c, n_t, defined=False
        )
    se = math.sqrt(var)
    # Welch–Satterthwaite; a zero-variance arm contributes 0 to both sums.
    dof = var * var / (v_c * v_c / (n_c - 1) + v_t * v_t / (n_t - 1))
    t = diff / se
    p_value = float(min(1.0, 2.0 * stdtr(dof, -abs(t))))
    half = float(stdtrit(dof, 1.0 - alpha / 2.0)) * se
    pooled_sd = math.sqrt((control.m2 + treatment.m2) / (n_c + n_t - 2))
    return WelchResult(
        diff, se, dof, t, p_value, diff - half, diff + half, diff / pooled_sd, n_c, n_t
    )
