"""Delivering TaskCompleted to a task's callback_url.

The body is signed with HMAC-SHA256 under the webhook secret; the receiver recomputes it
over the raw body and compares with `X-Pixelmill-Signature: sha256=<hex>`.
"""

import asyncio
import hashlib
import hmac
import logging
import time
import uuid

from common import metrics
from common.db import Pool
from processor.sources import SourceError, UrlFetchPolicy, post_to_url
from schemas.records import TaskCompleted
from task_service.webhooks import repository
from task_service.webhooks.repository import DueWebhook

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Pixelmill-Signature"
_BATCH = 20


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self, pool: Pool, secret: str, delays: list[float], policy: UrlFetchPolicy
    ) -> None:
        self._pool = pool
        self._secret = secret.encode()
        self._delays = delays
        self._policy = policy

    async def deliver_due(self) -> int:
        async with self._pool.connection() as conn:
            # The lease outlasts one attempt, so a crashed sender's claims come due again.
            due = await repository.claim_due(conn, _BATCH, self._policy.timeout_seconds * 3)
        await asyncio.gather(*(self._deliver(webhook) for webhook in due))
        return len(due)

    async def _deliver(self, webhook: DueWebhook) -> None:
        body = (
            TaskCompleted(
                task_id=webhook.task_id,
                owner=webhook.owner,
                status=webhook.status,
                counts=webhook.counts,
                at=webhook.finished_at,
            )
            .model_dump_json()
            .encode()
        )
        delivery_id = uuid.uuid4()
        headers = {
            "Content-Type": "application/json",
            "X-Pixelmill-Event": "TaskCompleted",
            "X-Pixelmill-Delivery": str(delivery_id),
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            status = await post_to_url(webhook.url, body, headers, self._policy)
            if not 200 <= status < 300:
                error = f"the receiver answered HTTP {status}"
        except SourceError as failure:
            error, permanent = failure.message, failure.permanent
        attempt = webhook.attempts + 1
        retry_in = None if permanent or attempt > len(self._delays) else self._delays[attempt - 1]
        duration_ms = int((time.monotonic() - started) * 1000)
        async with self._pool.connection() as conn:
            await repository.record_attempt(
                conn, webhook, delivery_id, status, error, duration_ms, retry_in
            )
        outcome = "delivered" if error is None else "failed" if retry_in is not None else "given_up"
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
        if error is None:
            log.info("webhook of task %s delivered (attempt %d)", webhook.task_id, attempt)
        else:
            log.warning(
                "webhook of task %s, attempt %d: %s; %s",
                webhook.task_id,
                attempt,
                error,
                f"again in {retry_in:g} s" if retry_in is not None else "given up",
            )


async def run_sender(sender: WebhookSender, interval_seconds: float) -> None:
    while True:
        try:
            while await sender.deliver_due() == _BATCH:
                pass
        except Exception:
            log.exception("webhook pass failed")
        await asyncio.sleep(interval_seconds)
