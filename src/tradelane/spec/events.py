"""``events:`` on a route (or in tradelane.yaml for every route): which broker hears about a
file's outcome, on which subject, for which outcomes.

The broker is named by its own key (``nats:``, ``rabbitmq:``, ``mqtt:``), as targets are.
Passwords never sit in the YAML or in the ledger: ``password_env`` names the environment
variable holding it.
"""

from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_core import core_schema

from tradelane.registry import Plugin, Registry
from tradelane.spec._base import Duration, Strict

OUTCOMES = ("delivered", "quarantined", "reprocessed")
Outcome = Literal["delivered", "quarantined", "reprocessed"]

#: One plug-in per broker: its spec model and its publisher (``tradelane.events.*``).
BROKERS: Registry[Plugin] = Registry("event broker")


class EventsOptions(Strict):
    """What every broker's events: block shares."""

    kind: str = Field(..., description="The broker, taken from the block's broker key (nats:,"
                      " rabbitmq: or mqtt:); no need to write it.")
    outcomes: list[Outcome] = Field(
        ["delivered", "quarantined", "reprocessed"],
        description="The outcomes that publish an event: delivered, quarantined, reprocessed"
        " (a quarantined file delivered after ops fixed it).")
    username: str | None = Field(None, description="User name at the broker, if it needs one.")
    password_env: str | None = Field(
        None, description="Environment variable holding the broker password (never written in"
        " the YAML, nor kept in the ledger).")
    timeout: Duration = Field(
        timedelta(seconds=5), description="How long a connect or a publish may take before the"
        " event is left in the outbox for a later try.")
    alert_after: Duration = Field(
        timedelta(minutes=5), description="Events still waiting this long raise an alert"
        " (events_waiting), resolved once they flow again.")

    def url(self) -> str:
        return str(getattr(self, str(self.kind)))


def _no_password(value: str) -> str:
    if urlsplit(value).password:
        raise ValueError("the URL holds a password: give it through password_env (the name of"
                         " an environment variable) instead, so it is never stored")
    return value


class NatsEvents(EventsOptions):
    """Events to NATS JetStream; the event id is the ``Nats-Msg-Id`` header, so the stream
    drops a repeat within its duplicate window."""

    kind: Literal["nats"] = "nats"
    nats: str = Field(..., description="Server URL, e.g. nats://127.0.0.1:4222.")
    subject: str = Field("tradelane.{route}.{outcome}", description="Subject template:"
                         " {route}, {outcome}, {file_id}.")
    stream: str | None = Field(None, description="JetStream stream to create if missing, over"
                               " the subject's prefix (left alone when it exists).")

    _url = field_validator("nats")(classmethod(lambda cls, v: _no_password(v)))


class RabbitEvents(EventsOptions):
    """Events to RabbitMQ with publisher confirms (persistent messages, ``mandatory``: a
    message no queue takes is an error, not a silent drop)."""

    kind: Literal["rabbitmq"] = "rabbitmq"
    rabbitmq: str = Field(..., description="AMQP URL, e.g. amqp://127.0.0.1:5672/ (user in"
                          " username, password through password_env).")
    exchange: str = Field("", description="Exchange; '' is the default exchange (routing key ="
                          " queue name).")
    routing_key: str = Field("tradelane.{route}.{outcome}", description="Routing key template:"
                             " {route}, {outcome}, {file_id}.")

    _url = field_validator("rabbitmq")(classmethod(lambda cls, v: _no_password(v)))


class MqttEvents(EventsOptions):
    """Events to an MQTT broker at QoS 1 (acknowledged by the broker)."""

    kind: Literal["mqtt"] = "mqtt"
    mqtt: str = Field(..., description="Broker URL, e.g. mqtt://127.0.0.1:1883.")
    topic: str = Field("tradelane/{route}/{outcome}", description="Topic template: {route},"
                       " {outcome}, {file_id}.")

    _url = field_validator("mqtt")(classmethod(lambda cls, v: _no_password(v)))


BROKERS.register(Plugin("nats", NatsEvents, "tradelane.events.nats:NatsPublisher"))
BROKERS.register(Plugin("rabbitmq", RabbitEvents, "tradelane.events.rabbitmq:RabbitPublisher"))
BROKERS.register(Plugin("mqtt", MqttEvents, "tradelane.events.mqtt:MqttPublisher"))

class _ByBroker:
    """Pydantic hook: validate ``events:`` with the model of the broker it names. Hashable
    (unlike ``Registry.annotation()``), so the field can be optional."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.no_info_plain_validator_function(
            BROKERS.validate, json_schema_input_schema=core_schema.dict_schema())


EventsSpec = Annotated[EventsOptions, _ByBroker()]

__all__ = ["BROKERS", "OUTCOMES", "EventsOptions", "EventsSpec", "MqttEvents", "NatsEvents",
           "RabbitEvents"]


# ---------------------------------------------------------------------------------------------
# Targets: a file's records published to a broker, one JSON message each


def _target_models() -> None:
    """Registered here (not in spec/targets.py) so that the broker code stays in one place;
    imported with the route spec."""
    from tradelane.registry import TARGETS, TargetPlugin
    from tradelane.spec.targets import TargetOptions

    class _BrokerTarget(TargetOptions):
        username: str | None = Field(None, description="User name at the broker.")
        password_env: str | None = Field(
            None, description="Environment variable holding the broker password.")
        timeout: Duration = Field(timedelta(seconds=10), description="How long a connect or"
                                  " the confirmation of a batch of messages may take.")

    class NatsTarget(_BrokerTarget):
        """Each record one message to NATS JetStream, acknowledged by the stream;
        ``Nats-Msg-Id`` derives from the file's content and the record number, so a retry of
        the file is dropped by the stream instead of repeated."""

        kind: Literal["nats"] = "nats"
        nats: str = Field(..., description="Server URL, e.g. nats://127.0.0.1:4222.")
        subject: str = Field("{route}.records", description="Subject template: {route},"
                             " {file_id}.")
        stream: str | None = Field(None, description="Stream to create if missing.")
        _url = field_validator("nats")(classmethod(lambda cls, v: _no_password(v)))

    class RabbitTarget(_BrokerTarget):
        """Each record one persistent message to RabbitMQ, with publisher confirms; the
        message_id lets consumers drop the repeats a retry of the file sends."""

        kind: Literal["rabbitmq"] = "rabbitmq"
        rabbitmq: str = Field(..., description="AMQP URL, e.g. amqp://127.0.0.1:5672/.")
        exchange: str = Field("", description="Exchange; '' is the default exchange.")
        routing_key: str = Field("{route}.records", description="Routing key template.")
        _url = field_validator("rabbitmq")(classmethod(lambda cls, v: _no_password(v)))

    class MqttTarget(_BrokerTarget):
        """Each record one message to an MQTT broker at QoS 1."""

        kind: Literal["mqtt"] = "mqtt"
        mqtt: str = Field(..., description="Broker URL, e.g. mqtt://127.0.0.1:1883.")
        topic: str = Field("{route}/records", description="Topic template.")
        _url = field_validator("mqtt")(classmethod(lambda cls, v: _no_password(v)))

    for kind, model in (("nats", NatsTarget), ("rabbitmq", RabbitTarget),
                        ("mqtt", MqttTarget)):
        TARGETS.register(TargetPlugin(kind, model, "tradelane.events.records:RecordsTarget",
                                      writes_files=False))


_target_models()


# ---------------------------------------------------------------------------------------------
# Sources: messages of a NATS JetStream stream or a RabbitMQ queue, in batches, as JSON Lines
# files


def _source_model() -> None:
    from tradelane.registry import SOURCES, SourcePlugin
    from tradelane.spec.sources import SourceOptions

    class NatsSourceSpec(SourceOptions):
        """Messages of a JetStream stream, taken ``batch`` at a time (or what arrived within
        ``wait``) and processed as one JSON Lines file; acknowledged once the file's outcome
        is recorded."""

        kind: Literal["nats"] = "nats"
        nats: str = Field(..., description="Server URL, e.g. nats://127.0.0.1:4222.")
        stream: str = Field(..., description="The JetStream stream to read.")
        subject: str = Field(..., description="Subject filter, e.g. 'orders.>'.")
        consumer: str | None = Field(None, description="Durable consumer name; default"
                                     " tradelane-<route>.")
        batch: int = Field(1000, ge=1, le=100_000, description="Messages per file at most.")
        wait: Duration = Field(timedelta(seconds=2), description="How long a poll waits for"
                               " messages before it makes a file of what came.")
        username: str | None = Field(None, description="User name at the broker.")
        password_env: str | None = Field(
            None, description="Environment variable holding the broker password.")
        min_age: Duration = Field(timedelta(0), description="Batches are complete when"
                                  " written: no age needed.")
        _url = field_validator("nats")(classmethod(lambda cls, v: _no_password(v)))

    SOURCES.register(SourcePlugin("nats", NatsSourceSpec,
                                  "tradelane.sources.broker:NatsSource", local=True))

    class RabbitSourceSpec(SourceOptions):
        """Messages of a RabbitMQ queue, taken ``batch`` at a time (or what arrived within
        ``wait``) and processed as one JSON Lines file; acknowledged once the file's outcome
        is recorded (unacknowledged ones go back to the queue when the poll ends)."""

        kind: Literal["rabbitmq"] = "rabbitmq"
        rabbitmq: str = Field(..., description="AMQP URL, e.g. amqp://127.0.0.1:5672/ (user in"
                              " username, password through password_env).")
        queue: str = Field(..., description="The queue to read (it must exist).")
        batch: int = Field(1000, ge=1, le=65_535, description="Messages per file at most.")
        wait: Duration = Field(timedelta(seconds=2), description="How long a poll waits for"
                               " the next message before it makes a file of what came.")
        username: str | None = Field(None, description="User name at the broker.")
        password_env: str | None = Field(
            None, description="Environment variable holding the broker password.")
        min_age: Duration = Field(timedelta(0), description="Batches are complete when"
                                  " written: no age needed.")
        _url = field_validator("rabbitmq")(classmethod(lambda cls, v: _no_password(v)))

    SOURCES.register(SourcePlugin("rabbitmq", RabbitSourceSpec,
                                  "tradelane.sources.rabbitmq:RabbitSource", local=True))


_source_model()
