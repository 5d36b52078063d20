"""Where reports and alerts go: e-mail through Amazon SES, and a Slack incoming webhook.

The webhook URL is a credential (anyone holding it can post to the channel), so on AWS
it lives in Secrets Manager or an SSM SecureString and is read on first use; it is never
an environment variable. Every channel is tried even when another fails, and a failure
names the channel and what to fix.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import config
from ..errors import DeliveryFailed

SLACK_TIMEOUT_SECONDS = 10


def slack_escape(text: str) -> str:
    """Text for Slack mrkdwn: `&`, `<` and `>` escaped, so a page path cannot become a link or mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Message:
    """One notification in every channel's format."""

    subject: str
    text: str
    html: str
    slack: dict[str, Any]


@dataclass(frozen=True)
class Channels:
    """The configured destinations (LIVEINSIGHT_REPORT_* and LIVEINSIGHT_SLACK_WEBHOOK_*)."""

    recipients: tuple[str, ...] = ()
    sender: str | None = None
    slack_secret: str | None = None
    slack_parameter: str | None = None
    slack_url: str | None = field(default=None, repr=False)  # given directly (the CLI's --slack-webhook)
    region: str = config.DEFAULT_REGION

    @classmethod
    def from_env(cls) -> "Channels":
        recipients = os.environ.get(config.ENV_REPORT_RECIPIENTS, "")
        return cls(
            recipients=tuple(a.strip() for a in recipients.split(",") if a.strip()),
            sender=os.environ.get(config.ENV_REPORT_SENDER, "").strip() or None,
            slack_secret=os.environ.get(config.ENV_SLACK_WEBHOOK_SECRET, "").strip() or None,
            slack_parameter=os.environ.get(config.ENV_SLACK_WEBHOOK_PARAMETER, "").strip() or None,
            region=os.environ.get(config.ENV_REGION, "").strip() or config.DEFAULT_REGION,
        )

    @property
    def email(self) -> bool:
        return bool(self.recipients)

    @property
    def slack(self) -> bool:
        return bool(self.slack_url or self.slack_secret or self.slack_parameter)

    @property
    def configured(self) -> bool:
        return self.email or self.slack

    def describe(self) -> list[str]:
        """What `send` would do, for the CLI and logs (never the webhook URL itself)."""
        out = []
        if self.email:
            out.append(f"e-mail to {', '.join(self.recipients)} from {self.sender or '(no sender set)'}")
        if self.slack_url:
            out.append("Slack (webhook given on the command line)")
        elif self.slack_secret:
            out.append(f"Slack (webhook URL in Secrets Manager: {self.slack_secret})")
        elif self.slack_parameter:
            out.append(f"Slack (webhook URL in SSM parameter {self.slack_parameter})")
        return out


NO_CHANNEL = (f"no channel is configured: set {config.ENV_REPORT_RECIPIENTS} (and {config.ENV_REPORT_SENDER}) "
              f"for e-mail, or {config.ENV_SLACK_WEBHOOK_SECRET} / {config.ENV_SLACK_WEBHOOK_PARAMETER} for Slack")


class Notifier:
    """Sends a Message to every configured channel.

    `client` makes boto3 clients (`client("sesv2")`); tests pass their own, the default
    creates them on first use with the channels' region.
    """

    def __init__(self, channels: Channels, client: Callable[[str], Any] | None = None,
                 timeout: float = SLACK_TIMEOUT_SECONDS):
        self.channels = channels
        self._client_factory = client
        self._clients: dict[str, Any] = {}
        self._webhook: str | None = channels.slack_url
        self.timeout = timeout

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._client_factory is not None:
                self._clients[service] = self._client_factory(service)
            else:
                import boto3

                self._clients[service] = boto3.client(service, region_name=self.channels.region)
        return self._clients[service]

    def send(self, message: Message) -> list[str]:
        """Deliver to every channel; returns what was sent, raises DeliveryFailed naming each failure."""
        if not self.channels.configured:
            raise DeliveryFailed(NO_CHANNEL)
        sent, failures = [], []
        for name, deliver in (("e-mail", self._email), ("Slack", self._slack)):
            if not (self.channels.email if name == "e-mail" else self.channels.slack):
                continue
            try:
                sent.append(deliver(message))
            except DeliveryFailed as exc:
                failures.append(exc.message)
        if failures:
            raise DeliveryFailed("; ".join(failures) + (f" (delivered: {'; '.join(sent)})" if sent else ""))
        return sent

    def _email(self, message: Message) -> str:
        if not self.channels.sender:
            raise DeliveryFailed(f"e-mail: no sender address; set {config.ENV_REPORT_SENDER} to an address "
                                 "SES has verified (ReportSender in the template)")
        bad = [a for a in self.channels.recipients if "@" not in a or " " in a]
        if bad:
            raise DeliveryFailed(f"e-mail: {', '.join(bad)} is not an e-mail address")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client("sesv2").send_email(
                FromEmailAddress=self.channels.sender,
                Destination={"ToAddresses": list(self.channels.recipients)},
                Content={"Simple": {
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"},
                             "Html": {"Data": message.html, "Charset": "UTF-8"}},
                }},
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DeliveryFailed(f"e-mail: SES refused to send from {self.channels.sender} "
                                 f"({error.get('Code')}: {error.get('Message')}); the sender must be verified "
                                 "in SES, and out of the SES sandbox so must every recipient") from exc
        except BotoCoreError as exc:
            raise DeliveryFailed(f"e-mail: SES could not be reached ({exc})") from exc
        return f"e-mail to {len(self.channels.recipients)} recipient(s)"

    def webhook_url(self) -> str:
        """The Slack webhook URL, read once from Secrets Manager or SSM (SecureString, decrypted)."""
        if self._webhook is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                if self.channels.slack_secret:
                    answer = self._client("secretsmanager").get_secret_value(SecretId=self.channels.slack_secret)
                    url = answer.get("SecretString") or ""
                else:
                    answer = self._client("ssm").get_parameter(Name=self.channels.slack_parameter, WithDecryption=True)
                    url = answer["Parameter"]["Value"]
            except (ClientError, BotoCoreError) as exc:
                where = self.channels.slack_secret or self.channels.slack_parameter
                raise DeliveryFailed(f"Slack: cannot read the webhook URL from {where} ({exc})") from exc
            self._webhook = url.strip()
        if not self._webhook.startswith(("https://", "http://")):
            raise DeliveryFailed("Slack: the stored webhook is not an http(s) URL; store the incoming-webhook "
                                 "URL Slack gave you (https://hooks.slack.com/services/…)")
        return self._webhook

    def _slack(self, message: Message) -> str:
        request = urllib.request.Request(self.webhook_url(), data=json.dumps(message.slack).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            reason = exc.read(200).decode("utf-8", "replace").strip()
            hint = " (the webhook was removed or revoked: create a new one)" if exc.code in (403, 404, 410) else ""
            raise DeliveryFailed(f"Slack: the webhook answered {exc.code} {reason}{hint}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryFailed(f"Slack: the webhook could not be reached ({getattr(exc, 'reason', exc)})") from exc
        return "Slack message"
