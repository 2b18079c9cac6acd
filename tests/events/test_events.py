"""Events about files' outcomes, published to the real NATS, RabbitMQ and Mosquitto on
127.0.0.1 through the ledger's outbox: what a consumer receives, a broker down and back, and
SIGKILL between the broker's confirmation and the outbox's 'sent'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from events.brokers import Proxy, delete_stream, nats_messages, nats_stream, unique
from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.errors import ConfigError
from tradelane.events.publishing import waiting
from tradelane.ledger.alerts import alerts
from tradelane.ledger.tables import event_outbox

BAD_CSV = "Order;Qty;Price;ShipDate;Status\nPO-9;zero;1;;open\n"


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A JetStream stream of its own: (stream name, subject prefix)."""
    name, prefix = unique("TL"), unique("tl")
    nats_stream(name, [f"{prefix}.>"])
    yield name, prefix
    delete_stream(name)


def _route(events: str) -> str:
    return CSV_ROUTE + f"    events: {events}\n"


def test_delivered_and_quarantined_files_each_publish_one_event(
        project: ProjectDir, stream: tuple[str, str]) -> None:
    name, prefix = stream
    project.route("orders", _route(
        f"{{nats: 'nats://127.0.0.1:4222', subject: '{prefix}.{{route}}.{{outcome}}'}}"))
    project.drop("orders", "good.csv", GOOD_CSV)
    project.drop("orders", "bad.csv", BAD_CSV)
    outcomes = sorted(r.outcome for r in project.run().results)
    assert outcomes == ["delivered", "quarantined"]

    got = {e["name"]: (e, h) for e, h in nats_messages(name)}
    assert sorted(got) == ["bad.csv", "good.csv"]
    good, headers = got["good.csv"]
    assert good["outcome"] == "delivered" and good["records"] == 2
    assert good["route"] == "orders" and good["history"] == f"tradelane history {good['file_id']}"
    assert headers["Nats-Msg-Id"] == good["event_id"]
    assert got["bad.csv"][0]["outcome"] == "quarantined"
    with project.ledger() as ledger:
        assert waiting(ledger) == 0


def test_only_the_outcomes_asked_for_are_published(project: ProjectDir,
                                                   stream: tuple[str, str]) -> None:
    name, prefix = stream
    project.route("orders", _route(
        f"{{nats: 'nats://127.0.0.1:4222', subject: '{prefix}.x', outcomes: [delivered]}}"))
    project.drop("orders", "good.csv", GOOD_CSV)
    project.drop("orders", "bad.csv", BAD_CSV)
    project.run()
    assert [e["name"] for e, _ in nats_messages(name)] == ["good.csv"]


def test_a_password_in_the_broker_url_is_refused(project: ProjectDir) -> None:
    project.route("orders", _route("{rabbitmq: 'amqp://guest:secret@127.0.0.1:5672/'}"))
    with pytest.raises(ConfigError) as refused:
        project.load()
    assert "events.rabbitmq: the URL holds a password" in str(refused.value)
    assert "password_env" in str(refused.value) and "secret" not in str(refused.value)


def test_broker_down_events_wait_with_an_alert_then_flow(project: ProjectDir,
                                                         stream: tuple[str, str]) -> None:
    """The broker is reached through a proxy that is stopped and started again (a restart):
    the file is delivered all the same, its event waits in the outbox with an alert, and
    goes out on a later poll once the broker answers."""
    name, prefix = stream
    proxy = Proxy(4222)
    project.route("orders", _route(
        f"{{nats: 'nats://127.0.0.1:{proxy.port}', subject: '{prefix}.{{outcome}}',"
        " timeout: 1s, alert_after: 0s}"))
    project.drop("orders", "good.csv", GOOD_CSV)
    assert [r.outcome for r in project.run().results] == ["delivered"]
    with project.ledger() as ledger:
        assert waiting(ledger, "orders") == 1
        with ledger.engine.connect() as conn:
            row = conn.execute(select(event_outbox)).one()
            alert = conn.execute(select(alerts).where(alerts.c.kind == "events_waiting")).one()
    assert row.attempts == 1 and "cannot be reached" in row.last_error
    assert alert.resolved_at is None and "1 events wait" in alert.message
    assert nats_messages(name) == []

    proxy.start()
    try:
        time.sleep(2.5)  # the row's backoff (2 s) and this process's pause for the broker
        project.run()
        events = nats_messages(name)
        assert [e["name"] for e, _ in events] == ["good.csv"]
        with project.ledger() as ledger:
            assert waiting(ledger) == 0
            with ledger.engine.connect() as conn:
                alert = conn.execute(select(alerts).where(
                    alerts.c.kind == "events_waiting")).one()
        assert alert.resolved_at is not None

        # the broker restarts (proxy down and up): the next file's event still arrives
        proxy.stop()
        project.drop("orders", "second.csv", GOOD_CSV.replace("PO-1", "PO-7"))
        project.run()
        proxy.start()
        time.sleep(2.5)
        project.run()
        assert [e["name"] for e, _ in nats_messages(name)] == ["good.csv", "second.csv"]
    finally:
        proxy.stop()


def _tradelane(project: ProjectDir, crash_at: str = "") -> int:
    env = {**os.environ, "TRADELANE_CRASH_AT": crash_at}
    env.pop("TRADELANE_LEDGER_URL", None)
    return subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                           str(project.root)], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=120).returncode


@pytest.mark.parametrize("point", ["delivered-committed", "quarantined-committed",
                                   "event-published", "event-marked"])
def test_sigkill_around_publishing_neither_loses_nor_repeats_an_event_on_nats(
        project: ProjectDir, stream: tuple[str, str], point: str) -> None:
    name, prefix = stream
    project.settings("lease: 1s\n")
    project.route("orders", _route(
        f"{{nats: 'nats://127.0.0.1:4222', subject: '{prefix}.{{outcome}}'}}"))
    for i in range(3):
        project.drop("orders", f"good{i}.csv", GOOD_CSV.replace("PO-1", f"PO-1{i}"))
    project.drop("orders", "bad.csv", BAD_CSV)
    assert _tradelane(project, point) == -9
    time.sleep(1.2)  # the killed run's lease runs out
    assert _tradelane(project) in (0, 3, 4)  # ok, a file quarantined, one pending
    assert _tradelane(project) == 0  # nothing left: publishes nothing again
    names = sorted(e["name"] for e, _ in nats_messages(name))
    assert names == ["bad.csv", "good0.csv", "good1.csv", "good2.csv"]
    with project.ledger() as ledger:
        assert waiting(ledger) == 0


def test_rabbitmq_receives_confirmed_persistent_events(project: ProjectDir) -> None:
    import pika

    queue = unique("tradelane-test-")
    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/"))
    channel = conn.channel()
    channel.queue_declare(queue, auto_delete=False)
    try:
        os.environ["TL_TEST_RABBIT_PW"] = "guest"
        project.route("orders", _route(
            f"{{rabbitmq: 'amqp://127.0.0.1:5672/', username: guest, password_env:"
            f" TL_TEST_RABBIT_PW, routing_key: '{queue}'}}"))
        project.drop("orders", "good.csv", GOOD_CSV)
        project.run()
        method, props, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None
        event = json.loads(body)
        assert event["name"] == "good.csv" and event["outcome"] == "delivered"
        assert props.message_id == event["event_id"] and props.delivery_mode == 2
        assert channel.basic_get(queue, auto_ack=True)[0] is None
    finally:
        channel.queue_delete(queue)
        conn.close()


def test_rabbitmq_without_a_queue_for_the_key_keeps_the_event(project: ProjectDir) -> None:
    """mandatory publishing: a message no queue takes is not 'sent'."""
    project.route("orders", _route(
        f"{{rabbitmq: 'amqp://127.0.0.1:5672/', username: guest, password_env:"
        f" TL_TEST_RABBIT_PW, routing_key: '{unique('nobody-')}'}}"))
    os.environ["TL_TEST_RABBIT_PW"] = "guest"
    project.drop("orders", "good.csv", GOOD_CSV)
    assert [r.outcome for r in project.run().results] == ["delivered"]
    with project.ledger() as ledger:
        assert waiting(ledger) == 1
        with ledger.engine.connect() as conn:
            assert "Unroutable" in conn.execute(select(event_outbox.c.last_error)).scalar_one()


def test_mqtt_receives_events_at_qos_1(project: ProjectDir) -> None:
    import paho.mqtt.client as mqtt

    topic = unique("tradelane-test/")
    got: list[dict[str, object]] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.on_subscribe = lambda *a: ready.set()
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.subscribe(f"{topic}/#", qos=1)
    assert ready.wait(5)
    try:
        project.route("orders", _route(
            f"{{mqtt: 'mqtt://127.0.0.1:1883', topic: '{topic}/{{route}}/{{outcome}}'}}"))
        project.drop("orders", "good.csv", GOOD_CSV)
        project.run()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["name"] for e in got] == ["good.csv"]
    finally:
        client.loop_stop()
        client.disconnect()
