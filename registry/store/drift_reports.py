"""Registry drift report methods, each one transaction over ``registry.sql.drift_reports``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from registry.entities import DriftReport
from registry.rules.health import (
    check_count,
    check_details,
    check_drift_kinds,
    check_message,
    check_page,
)
from registry.sql import drift_reports
from registry.store.transactions import Store


class DriftReportStore(Store):
    """Record and read drift reports; each method is one transaction."""

    async def record_drift_report(
        self,
        *,
        model: str,
        version: str,
        drift: bool,
        kinds: Iterable[str],
        live_rows: int,
        outcomes: int,
        summary: str,
        details: Mapping[str, Any] | None,
    ) -> DriftReport:
        """Store one drift check of a registered version.

        Args:
            model: the model name.
            version: the version checked.
            drift: whether any check decided drift; True exactly when ``kinds`` is not empty.
            kinds: the checks that decided drift ("data", "performance", "concept", ...),
                distinct, lower snake case, at most 16.
            live_rows: inputs in the live window (>= 0).
            outcomes: outcome errors in the live window (>= 0).
            summary: for a person, at most 2,000 characters.
            details: the statistics, a JSON object of at most 256 KiB (None: {}).

        Returns:
            The stored report.

        Raises:
            InvalidArgumentError: a value out of bounds, or ``drift`` disagreeing with
                ``kinds`` (nothing is written).
            ModelNotFoundError, VersionNotFoundError: unknown model or version.
        """
        names = check_drift_kinds(kinds, drift)
        live_rows = check_count(live_rows, "live_rows")
        outcomes = check_count(outcomes, "outcomes")
        summary = check_message(summary, "drift summary")
        document = check_details(details, "drift report details")
        async with self._write() as session:
            row = await drift_reports.record(
                session,
                model=model,
                version=version,
                drift=drift,
                kinds=names,
                live_rows=live_rows,
                outcomes=outcomes,
                summary=summary,
                details=document,
            )
            return row.to_entity()

    async def get_drift_report(self, report_id: int) -> DriftReport:
        """Return one drift report.

        Raises:
            DriftReportNotFoundError: no report has that id.
            InvalidArgumentError: ``report_id`` is not an integer.
        """
        async with self._read() as session:
            return (await drift_reports.get(session, report_id)).to_entity()

    async def list_drift_reports(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        drift_only: bool = False,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[DriftReport]:
        """Return drift reports newest first (by id).

        Args:
            model: only this model's reports.
            version: only this version's reports (needs ``model``).
            drift_only: only reports that decided drift.
            limit: page size, 1..1000.
            before_id: only reports with a smaller id (the last id of the previous page).

        Raises:
            InvalidArgumentError: a bad limit or ``before_id``, or a version without a model.
            ModelNotFoundError, VersionNotFoundError: unknown model or version.
        """
        limit, before_id = check_page(limit, before_id)
        async with self._read() as session:
            rows = await drift_reports.list_rows(
                session,
                model=model,
                version=version,
                drift_only=drift_only,
                limit=limit,
                before_id=before_id,
            )
            return [r.to_entity() for r in rows]
