"""The immutable routing snapshot: what every Predict looks up, swapped by one assignment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.brief import brief, brief_list
from gateway.errors import ModelNotServedError, NotReadyError
from gateway.routing import Strategy, key_hash
from gateway.serving.model import LoadedModel


@dataclass(frozen=True, slots=True)
class Routed:
    """The answer to a routing question: which loaded version, as which arm."""

    model: LoadedModel
    arm: str
    experiment_id: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentArms:
    """A running experiment's two arms and its allocation strategy.

    The strategy is the one mutable part of a snapshot: it learns from outcomes, and it
    is carried over from snapshot to snapshot while the experiment runs.
    """

    id: int
    key: str  # str(id): the experiment_id in responses and the sticky-hash salt
    control: Routed
    treatment: Routed
    strategy: Strategy

    def choose(self, routing_key: str) -> Routed:
        """Pick an arm; a routing key makes random/weighted assignment sticky."""
        hashed = key_hash(routing_key, self.key) if routing_key else None
        return self.treatment if self.strategy.choose(hashed) else self.control


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """Routing for one model name: production, a running experiment, every loaded version."""

    production: Routed | None
    versions: Mapping[str, LoadedModel]
    experiment: ExperimentArms | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the hot path needs, frozen; a swap replaces the whole object.

    >>> Snapshot.empty().route("alpha")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gateway.errors.NotReadyError: the gateway is starting ...
    """

    event_id: int
    routes: Mapping[str, ModelRoute] = field(default_factory=dict)
    # False only for the placeholder a gateway holds before its first reconcile.
    loaded: bool = True
    # Whether NOT_FOUND names the served models and versions; off when tokens are set,
    # so a caller without the admin token learns nothing of what else is served.
    disclose: bool = True

    @classmethod
    def empty(cls) -> Snapshot:
        """The placeholder of a gateway that has not read the registry yet."""
        return cls(event_id=0, routes={}, loaded=False)

    def route(self, name: str, routing_key: str = "", version: str = "") -> Routed:
        """Pick the version that serves this request.

        Args:
            name: the model name.
            routing_key: sticky-assignment key for random/weighted experiments (bandits
                ignore it: their allocation must follow what they learn).
            version: a pinned version; bypasses routing.

        Returns:
            The loaded version and the arm it serves as.
        """
        route = self.routes.get(name)
        if route is None:
            if not self.loaded:
                raise NotReadyError(
                    "the gateway is starting and has not read the registry yet; retry shortly"
                )
            served = f"; served models: {brief_list(sorted(self.routes))}" if self.disclose else ""
            raise ModelNotServedError(f"model {brief(name)} is not served{served}")
        if version:
            model = route.versions.get(version)
            if model is None:
                loaded = (
                    f"; loaded versions: {brief_list(sorted(route.versions))}"
                    if self.disclose
                    else ""
                )
                raise ModelNotServedError(
                    f"version {brief(version)} of model {brief(name)} is not loaded{loaded}"
                )
            return Routed(model=model, arm="pinned")
        if route.experiment is not None:
            return route.experiment.choose(routing_key)
        if route.production is None:
            raise ModelNotServedError(f"model {brief(name)} has no production version")
        return route.production
