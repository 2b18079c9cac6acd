"""MQTT publisher at QoS 1: a message counts as sent once the broker's PUBACK arrived."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from tradelane.errors import TransientError
from tradelane.events import Message
from tradelane.spec.events import MqttEvents


class MqttPublisher:
    def __init__(self, spec: MqttEvents):
        self.spec = spec

    def __enter__(self) -> MqttPublisher:
        import paho.mqtt.client as mqtt

        spec, url = self.spec, urlsplit(self.spec.mqtt)
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if spec.username:
            self._client.username_pw_set(spec.username,
                                         os.environ.get(spec.password_env or "", ""))
        if url.scheme == "mqtts":
            self._client.tls_set()
        try:
            self._client.connect(url.hostname or "127.0.0.1",
                                 url.port or (8883 if url.scheme == "mqtts" else 1883),
                                 keepalive=60)
        except OSError as exc:
            raise TransientError(f"MQTT broker at {spec.mqtt} cannot be reached"
                                 f" ({exc.strerror or exc})") from exc
        self._client.loop_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, messages: list[Message]) -> list[str | None]:
        infos = [self._client.publish(m.subject, m.body, qos=1) for m in messages]
        seconds = self.spec.timeout.total_seconds() + len(messages) / 1000
        results: list[str | None] = []
        for info in infos:
            try:
                info.wait_for_publish(timeout=seconds)
            except (RuntimeError, ValueError) as exc:
                raise TransientError(f"MQTT broker at {self.spec.mqtt}: {exc}") from exc
            results.append(None if info.is_published() else "no PUBACK from the broker in time")
        return results
