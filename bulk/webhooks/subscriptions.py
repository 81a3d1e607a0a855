"""Who receives a bulk's events: the one place that answers "where do these go"."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Subscriptions:
    """The configured subscribers and the event types they get (BULK_WEBHOOK_URL, BULK_WEBHOOK_EVENTS)."""

    url: str | None = None
    event_types: frozenset[str] = field(default_factory=frozenset)

    def wants(self, event_type: str) -> bool:
        """Whether events of this type are written at all (some subscriber may receive them)."""
        return self.url is not None and event_type in self.event_types

    def subscribers(self, user_type: int | None, user_id: int | None) -> list[str]:
        """The URLs that receive the events of a bulk submitted by (`user_type`, `user_id`).

        Today the global BULK_WEBHOOK_URL; an integration's own endpoint URL joins here (runs inside
        the recording transaction, so it may read the database).
        """
        return [self.url] if self.url is not None else []


NO_SUBSCRIPTIONS = Subscriptions()
