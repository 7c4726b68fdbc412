"""Who may publish and subscribe what, and amqtt's plugin that enforces it.

A client may publish only to ``Dart/Receive_mqtt/<SN>`` and subscribe only to
``Dart/Send_mqtt/<SN>``, and only for an admitted charger: ``_TopicRules``
gives the verdicts. ``_GatewayPlugin`` is amqtt's auth and topic-filter plugin
that applies them inside the broker: denied subscriptions never exist, and a
denied publish is never broadcast. amqtt reports every publish (allowed or
not), so the plugin checks the topic again before a report goes to the relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from ..protocol.messages import COMMAND_TOPIC_PREFIX, serial_number_from_topic
from .clients import _Clients
from .counters import Drop
from .relay import _Relay

if TYPE_CHECKING:
    from amqtt.session import ApplicationMessage, Session


class _TopicRules:
    """The admitted chargers and the topics their clients may use."""

    def __init__(self) -> None:
        self._serial_numbers: set[str] = set()

    @property
    def serial_numbers(self) -> frozenset[str]:
        """The chargers admitted."""
        return frozenset(self._serial_numbers)

    def admit(self, serial_number: str) -> bool:
        """Admit a charger; ``False`` if it already was."""
        if serial_number in self._serial_numbers:
            return False
        self._serial_numbers.add(serial_number)
        return True

    def withdraw(self, serial_number: str) -> None:
        """Admit a charger no longer."""
        self._serial_numbers.discard(serial_number)

    def publish_verdict(self, topic: str) -> str | None:
        """Why a client may not publish to ``topic``; ``None`` if it may."""
        serial_number = serial_number_from_topic(topic)
        if serial_number is None:
            return Drop.FOREIGN_TOPIC
        if serial_number not in self._serial_numbers:
            return Drop.UNKNOWN_SERIAL
        return None

    def subscription_verdict(self, topic_filter: str) -> str | None:
        """Why a client may not subscribe to ``topic_filter``; ``None`` if it may."""
        serial_number = topic_filter.removeprefix(COMMAND_TOPIC_PREFIX)
        if serial_number == topic_filter or not serial_number.isalnum():
            return Drop.FORBIDDEN_SUBSCRIPTION  # other topics, levels, wildcards
        if serial_number not in self._serial_numbers:
            return Drop.UNKNOWN_SERIAL
        return None


class _GatewayPlugin(BaseAuthPlugin, BaseTopicPlugin):  # type: ignore[misc]  # untyped base
    """amqtt's hooks into the gateway: admission, topic rules and events."""

    @dataclass
    class Config:
        """What the gateway hands the plugin (amqtt builds this from a dict)."""

        rules: Any = None
        clients: Any = None
        relay: Any = None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = self.config
        assert isinstance(config.rules, _TopicRules)
        assert isinstance(config.clients, _Clients)
        assert isinstance(config.relay, _Relay)
        self._rules: _TopicRules = config.rules
        self._clients: _Clients = config.clients
        self._relay: _Relay = config.relay

    async def authenticate(self, *, session: Session) -> bool:
        # Any login gets in: v0.3.6 sends none, and what v0.4.0 sends is
        # disputed; the topic rules keep every client to admitted chargers.
        # Marked anonymous, a session keeps no messages or subscriptions once
        # its client is gone.
        session.is_anonymous = True
        return True

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        """Decide for amqtt's topic filter; a refused subscription is a violation."""
        if not topic:
            return False
        if action == Action.PUBLISH:
            # Counted once, in on_broker_message_received: amqtt reports every
            # publish there, allowed or not.
            return self._rules.publish_verdict(topic) is None
        verdict = self._rules.subscription_verdict(topic)
        if verdict is not None and action == Action.SUBSCRIBE:
            self._clients.violation(session.client_id if session else None, verdict)
        return verdict is None

    async def on_broker_client_connected(
        self, *, client_id: str, client_session: Session
    ) -> None:
        self._clients.client_connected(client_id, client_session)

    async def on_broker_message_received(
        self, *, client_id: str, message: ApplicationMessage | None
    ) -> None:
        """A client published: relay it up if the rules allow it."""
        if message is None:  # pragma: no cover - amqtt reports an empty delivery
            return
        topic: str = message.topic or ""
        if (verdict := self._rules.publish_verdict(topic)) is not None:
            self._clients.violation(client_id, verdict)
            return
        self._relay.relay_up(topic, message.data)


# amqtt imports the plugin by this path, inside the event loop; the broker
# module imports this one (in the executor) before it builds a broker.
_PLUGIN_PATH: Final = f"{__name__}.{_GatewayPlugin.__qualname__}"
