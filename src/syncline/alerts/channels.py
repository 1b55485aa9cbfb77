"""The three channel types: their configs, and sending one alert to one channel.

Every HTTP request goes through the network guard (``guarded_client``). The JSON webhook is
signed like the webhook destination (``sha256=<hmac>`` of the body). Slack gets a readable
message with links to the run and its rejected rows. Email goes over SMTP (stdlib smtplib:
apprise's SMTP and Slack plugins open their own connections, outside the network guard).
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors._netguard_http import guarded_client, validate_url
from syncline.connectors.destinations.webhook.payload import signature
from syncline.domain.secrets import OptionalSecret, Secret, SecretUrl

__all__ = ["CONFIGS", "Alert", "ChannelType", "check_config", "send"]

ChannelType = Literal["webhook", "slack", "email"]
TIMEOUT = 10.0


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: SecretUrl = Field(min_length=1, max_length=2048)
    hmac_secret: OptionalSecret = None
    signature_header: str = "X-Syncline-Signature"


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Secret = Field(min_length=1, max_length=2048, description="Incoming webhook URL (secret)")


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=25, ge=1, le=65535)
    from_address: str = Field(min_length=3, max_length=255)
    to: list[str] = Field(min_length=1, max_length=50)
    username: str | None = None
    password: OptionalSecret = None
    starttls: bool = False


CONFIGS: dict[str, type[BaseModel]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
}


class Alert(BaseModel):
    """What a channel is told: the outbox row with its links resolved."""

    id: str
    type: str
    kind: str
    message: str
    workspace_id: str
    sync_id: str | None
    run_id: str | None
    created_at: str
    run_url: str | None = None
    rejected_url: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


def check_config(type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config validated for its type (ValueError otherwise); URLs checked by the guard."""
    cls = CONFIGS.get(type)
    if cls is None:
        raise ValueError(f"unknown channel type {type!r}: one of webhook, slack, email")
    model = cls.model_validate(config)
    if isinstance(model, WebhookConfig | SlackConfig):
        validate_url(model.url, saving=True)
    return model.model_dump(exclude_none=True)


def _text(alert: Alert) -> str:
    head = "Recovered" if alert.kind == "recovery" else "Alert"
    lines = [f"[Syncline] {head}: {alert.message}"]
    if alert.run_url:
        lines.append(f"Run: {alert.run_url}")
    if alert.rejected_url:
        lines.append(f"Rejected rows: {alert.rejected_url}")
    return "\n".join(lines)


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    with guarded_client(timeout=TIMEOUT) as client:
        response = client.post(url, content=body, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


def send(type: str, config: dict[str, Any], alert: Alert) -> None:
    """Send ``alert`` to one channel (config decrypted); raises on any failure."""
    if type == "webhook":
        hook = WebhookConfig.model_validate(config)
        body = json.dumps(alert.model_dump(), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if hook.hmac_secret:
            headers[hook.signature_header] = signature(hook.hmac_secret, body)
        _post(hook.url, body, headers)
    elif type == "slack":
        slack = SlackConfig.model_validate(config)
        text = _text(alert).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = json.dumps({"text": text}).encode("utf-8")
        _post(slack.url, body, {"Content-Type": "application/json"})
    elif type == "email":
        _email(EmailConfig.model_validate(config), alert)
    else:
        raise ValueError(f"unknown channel type {type!r}")


def _email(cfg: EmailConfig, alert: Alert) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"[Syncline] {alert.message}"[:200]
    msg["From"] = cfg.from_address
    msg["To"] = ", ".join(cfg.to)
    msg.set_content(_text(alert))
    with smtplib.SMTP(cfg.host, cfg.port, timeout=TIMEOUT) as smtp:
        if cfg.starttls:
            smtp.starttls()
        if cfg.username and cfg.password:
            smtp.login(cfg.username, cfg.password)
        smtp.send_message(msg)
