"""Alerts delivered: what CT raises (ctml.ct.step.alerts), POSTed to the webhook named by the environment (`CT_ALERT_WEBHOOK`).

The URL of a Slack-style incoming webhook is a secret (whoever has it can post), so it is read from
the environment only and never written anywhere: not to a file, log, history row, commit, tag or
Neptune, and not to stderr (an error names the exception's class, never its text, which may quote
the URL). The body is Slack-compatible, `{"text": ...}`, with the structured fields beside it.

Delivery never fails a step: a webhook that is down, slow or answers an error costs at most
`alerts.timeout_s`, once per command (after a failure the rest of that command's alerts are not
tried, and each is recorded as not sent), and the failure goes into the step's history note.
`alerts.events` says which events are sent, `alerts.min_interval_s` how soon one event may repeat
(remembered in `.ct/alerts.json` across commands, so a cron job every minute does not repeat it).
"""
from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctml import layout
from ctml.config import AlertsParams
from ctml.io import write_json

WEBHOOK_ENV = "CT_ALERT_WEBHOOK"


@dataclass
class Alerter:
    """The alerts of one command (or one round of `ct.py watch`)."""

    root: Path
    params: AlertsParams
    project: str = ""
    url: str | None = field(default=None, repr=False)  # never shown: a secret
    down: str = ""  # why the webhook failed earlier in this command; later alerts are not tried
    warned: bool = False
    sent: list[str] = field(default_factory=list)  # events delivered by this command, in order

    @classmethod
    def from_env(cls, root: Path, params: AlertsParams) -> Alerter:
        return cls(root, params, project=root.name, url=os.environ.get(WEBHOOK_ENV) or None)

    def send(self, event: str, text: str, step: int | str = "", version: str = "",
             details: dict[str, Any] | None = None) -> str:
        """Deliver one alert; returns "" when it went out (or was not due), else why it did not, for the history note."""
        if self.url is None or event not in self.params.events or not self._due(event):
            return ""
        if self.down:
            return f"alert {event} not sent ({self.down} earlier)"
        problem = _malformed(self.url)
        if problem:
            if not self.warned:  # once per command; the URL itself is never printed
                print(f"warning: ${WEBHOOK_ENV} is not a usable URL ({problem}); alerts are not sent", file=sys.stderr)
                self.warned = True
            self.down = f"${WEBHOOK_ENV} {problem}"
            return f"alert {event} not sent (${WEBHOOK_ENV} {problem})"
        body = {"text": f"[{self.project}] {text}", "event": event, "project": self.project, "step": step,
                "version": version, "details": details or {}}
        failure = _post(self.url, body, self.params.timeout_s)
        if failure:
            self.down = failure
            return f"alert {event} not sent ({failure})"
        self._remember(event)
        self.sent.append(event)
        return ""

    def reset(self) -> None:
        """A new round (`ct.py watch`): a webhook that was down is tried again."""
        self.down = ""

    def _due(self, event: str) -> bool:
        if self.params.min_interval_s <= 0:
            return True
        last = _read_sent(self.root).get(event)
        return last is None or time.time() - float(last) >= self.params.min_interval_s

    def _remember(self, event: str) -> None:
        if self.params.min_interval_s > 0:
            write_json(self.root / layout.ALERTS_SENT, {**_read_sent(self.root), event: time.time()})


def _read_sent(root: Path) -> dict[str, float]:
    path = root / layout.ALERTS_SENT
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _malformed(url: str) -> str:
    """Why `url` cannot be POSTed to (without quoting it), or ""."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "cannot be parsed"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "names no host"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "has a bad port"
    return ""


def _post(url: str, body: dict[str, Any], timeout_s: float) -> str:
    """POST the JSON body; "" on a 2xx answer, else the failure without the URL (status or exception class)."""
    request = urllib.request.Request(url, data=json.dumps(body, default=str).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(1 << 16)
            return ""
    except urllib.error.HTTPError as exc:
        return f"webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:  # refused, timed out, garbled
        reason = getattr(exc, "reason", exc)
        return f"webhook unreachable: {type(reason).__name__}"


