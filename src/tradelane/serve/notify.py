"""Alert channels: the log (always), a webhook (JSON POST via httpx), e-mail (smtplib).

Each channel's ``send`` raises ``NotifyFailed`` (with the channel and a secret-free reason)
when it could not deliver; the monitor then retries only that channel later.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from tradelane.errors import NotifyFailed
from tradelane.ledger.alerts import Incident
from tradelane.spec import AlertsSpec, OwnerSpec, SmtpSpec, WebhookSpec

log = logging.getLogger("tradelane.alerts")




class Channel(Protocol):
    name: str

    def send(self, incident: Incident) -> None:
        """Deliver one alert or raise NotifyFailed."""


def payload(incident: Incident) -> dict[str, Any]:
    """The JSON body of a webhook alert ('text' makes it Slack/Teams/Mattermost-friendly)."""
    return {"text": f"[tradelane] {incident.message}", "event": incident.kind,
            **incident.as_dict()}


class LogChannel:
    name = "log"

    def send(self, incident: Incident) -> None:
        log.error("ALERT %s: %s", incident.kind, incident.message,
                  extra={"alert": incident.key, "route": incident.route})


class WebhookChannel:
    name = "webhook"

    def __init__(self, spec: WebhookSpec, client: httpx.Client | None = None):
        self.spec = spec
        self.client = client or httpx.Client(timeout=spec.timeout.total_seconds())

    def send(self, incident: Incident) -> None:
        url = self.spec.url or os.environ.get(self.spec.url_env or "", "")
        if not url:
            raise NotifyFailed(self.name, f"the variable {self.spec.url_env} is not set")
        headers = {}
        for header, value in self.spec.headers.items():
            secret = os.environ.get(value.env)
            if secret is None:
                raise NotifyFailed(self.name, f"the variable {value.env} is not set")
            headers[header] = value.prefix + secret
        where = urlsplit(url).netloc  # never the path or query: they often hold the token
        try:
            response = self.client.post(url, json=payload(incident), headers=headers)
        except httpx.HTTPError as exc:
            raise NotifyFailed(self.name, f"cannot reach {where}: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise NotifyFailed(self.name, f"{where} answered HTTP {response.status_code}")


class SmtpChannel:
    name = "smtp"

    def __init__(self, spec: SmtpSpec):
        self.spec = spec

    def send(self, incident: Incident) -> None:
        spec = self.spec
        msg = EmailMessage()
        msg["Subject"] = f"[tradelane] {incident.kind}: {incident.route or ''}".rstrip(": ")
        msg["From"] = spec.sender
        msg["To"] = ", ".join(spec.to)
        msg.set_content(f"{incident.message}\n\nopened: {incident.opened_at:%Y-%m-%d %H:%M} UTC"
                        f"\nincident: {incident.key}\n")
        password = None
        if spec.password_env:
            password = os.environ.get(spec.password_env)
            if password is None:
                raise NotifyFailed(self.name, f"the variable {spec.password_env} is not set")
        timeout = spec.timeout.total_seconds()
        try:
            if spec.ssl:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    spec.host, spec.port, timeout=timeout,
                    context=ssl.create_default_context())
            else:
                server = smtplib.SMTP(spec.host, spec.port, timeout=timeout)
            with server:
                if spec.starttls:
                    server.starttls(context=ssl.create_default_context())
                if spec.user and password is not None:
                    server.login(spec.user, password)
                server.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # the exception text never holds the password; keep only its kind and code
            code = getattr(exc, "smtp_code", None)
            raise NotifyFailed(self.name, f"{spec.host}:{spec.port}: {type(exc).__name__}"
                              + (f" {code}" if code else "")) from exc


def owner_channels(owner: OwnerSpec, alerts: AlertsSpec) -> list[Channel]:
    """A route owner's own channels, beside the global ones: their webhook, and their
    address through the mail server of ``alerts.smtp`` (``check`` refuses an owner e-mail
    without one)."""
    out: list[Channel] = []
    if owner.webhook or owner.webhook_env:
        hook = WebhookChannel(WebhookSpec(url=owner.webhook, url_env=owner.webhook_env))
        hook.name = "owner-webhook"
        out.append(hook)
    if owner.email and alerts.smtp:
        mail = SmtpChannel(alerts.smtp.model_copy(update={"to": [owner.email]}))
        mail.name = "owner-email"
        out.append(mail)
    return out


def channels(spec: AlertsSpec) -> list[Channel]:
    out: list[Channel] = [LogChannel()]
    if spec.webhook:
        out.append(WebhookChannel(spec.webhook))
    if spec.smtp:
        out.append(SmtpChannel(spec.smtp))
    return out
