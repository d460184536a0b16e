"""Registry alert methods, each one transaction over ``registry.sql.alerts``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from registry.entities import Alert, AlertSeverity
from registry.errors import InvalidArgumentError
from registry.rules.health import (
    check_details,
    check_duration,
    check_key,
    check_label,
    check_message,
    check_page,
    check_subject,
    parse_severity,
)
from registry.rules.values import MAX_LABEL_CHARS, check_text
from registry.sql import alerts
from registry.store.transactions import Store


class AlertStore(Store):
    """Raise, read and acknowledge alerts; each method is one transaction."""

    async def raise_alert(
        self,
        key: str,
        kind: str,
        severity: AlertSeverity | str,
        message: str,
        *,
        model: str = "",
        version: str = "",
        details: Mapping[str, Any] | None = None,
        cooldown: timedelta,
    ) -> tuple[Alert, bool]:
        """Raise an alert, folding it into the open one of its key seen within ``cooldown``.

        An alert of ``key`` that is not acknowledged and was last seen less than
        ``cooldown`` ago absorbs the repeat: ``count`` + 1, ``last_seen_at`` now, message
        and details replaced by these, severity raised to this one if more urgent (an open
        alert never becomes less urgent). Otherwise a new alert opens (``count`` 1) and an
        ``alert_raised`` event is written. Exactly once across gateways: of registries
        racing to raise one key, one opens the alert and the others fold into it.

        Args:
            key: what makes two alerts the same, 1-200 characters.
            kind: e.g. "drift", "rollback": lower snake case, 1-32 characters.
            severity: an AlertSeverity or its value.
            message: for a person, at most 2,000 characters.
            model: the model it is about ("" for none), at most 128 characters; it need
                not be registered (e.g. a model that failed to register).
            version: the version it is about ("" for none; needs ``model``).
            details: the evidence, a JSON object of at most 256 KiB (None: {}).
            cooldown: how long after its last sighting an open alert still absorbs
                repeats (0: never), up to 36,600 days.

        Returns:
            The alert as stored now, and True when it is new.

        Raises:
            InvalidArgumentError: a value out of bounds (nothing is written).
            ConflictError: the key's alerts kept changing concurrently (retry).
        """
        key = check_key(key)
        kind = check_label(kind, "alert kind")
        level = parse_severity(severity)
        message = check_message(message, "alert message")
        model, version = check_subject(model, version)
        document = check_details(details, "alert details")
        cooldown = check_duration(cooldown, "cooldown")
        async with self._write() as session:
            row, new = await alerts.raise_alert(
                session,
                key=key,
                kind=kind,
                severity=level,
                message=message,
                model=model,
                version=version,
                details=document,
                cooldown=cooldown,
            )
            return row.to_entity(), new

    async def get_alert(self, alert_id: int) -> Alert:
        """Return one alert.

        Raises:
            AlertNotFoundError: no alert has that id.
            InvalidArgumentError: ``alert_id`` is not an integer.
        """
        async with self._read() as session:
            return (await alerts.get(session, alert_id)).to_entity()

    async def list_alerts(
        self,
        *,
        open_only: bool = False,
        model: str | None = None,
        severity: AlertSeverity | str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Alert]:
        """Return alerts newest first (by id).

        Args:
            open_only: only alerts not acknowledged.
            model: only alerts about this model ("" for those about none); unknown
                models simply have none.
            severity: only alerts of this severity.
            limit: page size, 1..1000.
            before_id: only alerts with a smaller id (the last id of the previous page).

        Raises:
            InvalidArgumentError: a bad severity, limit or ``before_id``.
        """
        limit, before_id = check_page(limit, before_id)
        level = None if severity is None else parse_severity(severity)
        async with self._read() as session:
            rows = await alerts.list_rows(
                session,
                open_only=open_only,
                model=model,
                severity=level,
                limit=limit,
                before_id=before_id,
            )
            return [r.to_entity() for r in rows]

    async def acknowledge_alert(self, alert_id: int, *, actor: str, note: str = "") -> Alert:
        """Acknowledge an alert: it stays listed, but a repeat of its key opens a new one.

        Acknowledging an acknowledged alert changes nothing: the first acknowledgement
        (who, when, note) stays, and the alert is returned as stored.

        Args:
            alert_id: the alert.
            actor: who acknowledges, 1-256 characters.
            note: why, or what was done, at most 2,000 characters.

        Returns:
            The alert as stored now.

        Raises:
            AlertNotFoundError: no alert has that id.
            InvalidArgumentError: a bad id, actor or note.
        """
        actor = check_text(actor, "actor", MAX_LABEL_CHARS)
        if not actor:
            raise InvalidArgumentError("actor must name who acknowledges the alert")
        note = check_message(note, "acknowledgement note")
        async with self._write() as session:
            row = await alerts.acknowledge(session, alert_id, actor=actor, note=note)
            return row.to_entity()
