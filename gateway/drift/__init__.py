"""Pure drift detectors: live windows, per-feature KS and PSI against a version's
reference profile, Page-Hinkley and DDM on outcome streams, performance against the
recorded baseline, and permutation importance. No I/O, no gRPC, no database."""

from __future__ import annotations

from gateway.drift.ddm import DDM
from gateway.drift.importance import (
    Importance,
    ImportanceChange,
    compare_importance,
    mean_squared_error,
    permutation_importance,
)
from gateway.drift.ks import KsResult, corrected, ks_test
from gateway.drift.page_hinkley import PageHinkley
from gateway.drift.performance import PerformanceResult, performance_test
from gateway.drift.psi import PsiBins, PsiResult, psi_bins, psi_test, psi_value, quantile_table
from gateway.drift.window import ErrorWindow, InputWindow

__all__ = [
    "DDM",
    "ErrorWindow",
    "Importance",
    "ImportanceChange",
    "InputWindow",
    "KsResult",
    "PageHinkley",
    "PerformanceResult",
    "PsiBins",
    "PsiResult",
    "compare_importance",
    "corrected",
    "ks_test",
    "mean_squared_error",
    "performance_test",
    "permutation_importance",
    "psi_bins",
    "psi_test",
    "psi_value",
    "quantile_table",
]
