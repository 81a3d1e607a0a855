"""Who receives a bulk's events: the one place that answers "where do these go"."""

from __future__ import annotations

from dataclasses import dataclass, field

from bulk.statuses import UserType


@dataclass(frozen=True)
class Subscriber:
    """One receiver of an event: the global endpoint (`integration_id` None) or an integration's own."""

    url: str
    integration_id: int | None = None


@dataclass(frozen=True)
class Subscriptions:
    """The event types sent (BULK_WEBHOOK_EVENTS) and the global subscriber (BULK_WEBHOOK_URL); an
    integration's own endpoint (`bulk.models.IntegrationEndpoint`) subscribes to its own bulks."""

    url: str | None = None
    event_types: frozenset[str] = field(default_factory=frozenset)

    def wants(self, event_type: str) -> bool:
        """Whether events of this type may have a subscriber: sent to the global endpoint, or to any
        integration's own (the recording transaction finds out which bulks have one)."""
        return event_type in self.event_types

    def subscribers(self, user_type: int | None, user_id: int | None, endpoint: str | None) -> list[Subscriber]:
        """The receivers of the events of a bulk submitted by (`user_type`, `user_id`): the global URL
        (every bulk), and `endpoint`, the submitting integration's own URL, when it has one."""
        found = [Subscriber(self.url)] if self.url is not None else []
        if endpoint is not None and user_type == UserType.INTEGRATION and user_id is not None:
            found.append(Subscriber(endpoint, user_id))
        return found


NO_SUBSCRIPTIONS = Subscriptions()
