"""Registry reads for gateways: the event feed and the desired serving state."""

from __future__ import annotations

from sqlalchemy import select

from registry.entities import DesiredState, Event, ServedVersion, Stage
from registry.errors import InvalidArgumentError
from registry.rules.values import MAX_ID
from registry.schema import EventRow, ModelRow, ModelVersionRow
from registry.sql import experiment_reads
from registry.sql.events import max_event_id
from registry.store.transactions import Store

MAX_EVENTS_PAGE = 10_000


class EventStore(Store):
    """The change feed gateways tail; each method is one read transaction."""

    async def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        """Return events with id > ``after_id``, oldest first, at most ``limit``.

        Page by passing the last returned id as the next ``after_id``. Ids are monotonic
        and, on PostgreSQL too, become visible in id order, so a tailer never skips one.

        Args:
            after_id: the last id already seen (0 for all), at most 2**63 - 1.
            limit: page size, 1..10000.

        Returns:
            Up to ``limit`` events, ordered by id.

        Raises:
            InvalidArgumentError: ``limit`` outside 1..10000 or ``after_id`` outside
                0..2**63 - 1.
        """
        if not 1 <= limit <= MAX_EVENTS_PAGE:
            raise InvalidArgumentError(f"limit must be in 1..{MAX_EVENTS_PAGE}, got {limit}")
        if not 0 <= after_id <= MAX_ID:
            raise InvalidArgumentError(f"after_id must be in 0..{MAX_ID}, got {after_id}")
        async with self._read() as session:
            rows = await session.scalars(
                select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
            )
            return [r.to_entity() for r in rows]

    async def last_event_id(self) -> int:
        """Return the id of the newest event.

        Returns:
            The largest event id, or 0 when there is no event.
        """
        async with self._read() as session:
            return await max_event_id(session)

    async def desired_state(self) -> DesiredState:
        """Return what gateways should serve: each model's production version and running
        experiment, as of the last event id, all read from one snapshot.

        Returns:
            DesiredState(event_id, production={name: ServedVersion},
            experiments={name: ExperimentRoute}) — paused, created and ended experiments
            are not routed.
        """
        async with self._read() as session:
            event_id = await max_event_id(session)
            rows = await session.execute(
                select(ModelRow.name, ModelVersionRow.version, ModelVersionRow.sha256)
                .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
                .where(ModelVersionRow.stage == Stage.PRODUCTION.value)
                .order_by(ModelRow.name)
            )
            production = {
                name: ServedVersion(name=name, version=version, sha256=sha256)
                for name, version, sha256 in rows
            }
            routes = await experiment_reads.running_routes(session)
            return DesiredState(event_id=event_id, production=production, experiments=routes)
