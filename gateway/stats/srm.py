"""Sample-ratio mismatch: do an experiment's arms hold the traffic its split planned?

A broken router (a sticky hash that favours one arm, a client that retries one arm's
errors, a deployment that routes around the gateway) is the most common way an A/B test
goes wrong, and it biases every number the test reports. The check is the chi-square
goodness-of-fit test of the arm counts against the planned split (1 degree of freedom),
alarming at a strict level (0.001 by default, as experimentation platforms do: it runs on
every monitor pass, and a mismatch this clear is never noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

SRM_ALPHA = 0.001
MIN_EXPECTED = 5.0  # chi-square needs at least this many expected in each arm


@dataclass(frozen=True, slots=True)
class SampleRatio:
    """The check's figures."""

    control: int
    treatment: int
    expected_treatment_share: float
    observed_treatment_share: float
    chi2: float
    p_value: float
    mismatch: bool


def sample_ratio(
    control: int, treatment: int, split: float, *, alpha: float = SRM_ALPHA
) -> SampleRatio | None:
    """Test the arm counts against the planned treatment share ``split``.

    Returns None when there are too few predictions to test (fewer than MIN_EXPECTED
    expected in an arm).

    >>> sample_ratio(5000, 5000, 0.5).mismatch, sample_ratio(7000, 3000, 0.5).mismatch
    (False, True)
    >>> round(sample_ratio(520, 480, 0.5).p_value, 4)  # scipy.stats.chisquare agrees
    0.2059
    """
    if not 0.0 < split < 1.0:
        raise ValueError(f"split must be in (0, 1), got {split}")
    total = control + treatment
    expected_t, expected_c = total * split, total * (1.0 - split)
    if min(expected_t, expected_c) < MIN_EXPECTED:
        return None
    chi2 = (treatment - expected_t) ** 2 / expected_t + (control - expected_c) ** 2 / expected_c
    p_value = float(stats.chi2.sf(chi2, 1))
    return SampleRatio(
        control=control,
        treatment=treatment,
        expected_treatment_share=split,
        observed_treatment_share=treatment / total,
        chi2=chi2,
        p_value=p_value if math.isfinite(p_value) else 0.0,
        mismatch=p_value < alpha,
    )
