"""Alerts: a short message POSTed to a Slack-compatible webhook.

The URL comes from `ALERT_WEBHOOK_URL`; without it no alert is sent. An alert
that cannot be delivered is logged as a warning and never fails the run that
sent it. Neither the URL (it is a secret: whoever has it can post) nor any
password in a URL ever reaches the message or the logs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import urllib.error
import urllib.request

logger = logging.getLogger(__name__)

WEBHOOK_ENV = "ALERT_WEBHOOK_URL"
# Where the alert points for the full log: Airflow passes the task's log page.
LOG_URL_ENV = "ALERT_LOG_URL"
TIMEOUT_SECONDS = 10
# Chat tools cut long messages; the log holds the rest.
MAX_CHARS = 2000
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")


def webhook_url() -> str | None:
    return os.environ.get(WEBHOOK_ENV, "").strip() or None


def redact(text: str, url: str | None = None) -> str:
    """`text` without the webhook URL and without passwords written in URLs."""
    if url:
        text = text.replace(url, "<webhook>")
    return _URL_PASSWORD.sub(r"\g<scheme>***@", text)


def where() -> str:
    """The host and, under Airflow, the DAG run and task that sent the alert."""
    parts = [f"host {socket.gethostname()}"]
    dag = os.environ.get("AIRFLOW_CTX_DAG_ID")
    if dag:
        task = os.environ.get("AIRFLOW_CTX_TASK_ID", "?")
        run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", "?")
        parts.append(f"Airflow {dag}.{task} run {run}")
    return ", ".join(parts)


def log_link(default: str) -> str:
    """The page or file that holds the full log of this run."""
    return os.environ.get(LOG_URL_ENV, "").strip() or default


def send(text: str) -> bool:
    """POST `{"text": text}` to the webhook; True if it answered 2xx.

    No URL configured means no alert (False). A failure to deliver is a
    warning in the log, never an exception.
    """
    url = webhook_url()
    if not url:
        logger.debug("no %s set: alert not sent", WEBHOOK_ENV)
        return False
    text = redact(text, url)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1] + "…"
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        # The reason only: the URL (a secret) is in some of these messages.
        reason = getattr(error, "reason", error)
        logger.warning(
            "alert not delivered: webhook unreachable (%s)",
            redact(f"{type(error).__name__}: {reason}", url),
        )
        return False
    if not 200 <= status < 300:
        logger.warning("alert not delivered: webhook answered HTTP %d", status)
        return False
    logger.info("alert sent to the webhook")
    return True
