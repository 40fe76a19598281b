"""A webhook receiver that fails once: the signed completion arrives on the retry."""

import hashlib
import hmac
import json
import uuid

from tests.e2e.api import Api
from tests.faults import pictures
from tests.faults.checks import wait_finished, wait_for
from tests.faults.cluster import Cluster
from tests.faults.conftest import WEBHOOK_RETRY_DELAYS_SECONDS
from tests.faults.db import Database
from tests.faults.servers import ScriptedServer

SIGNATURE = "X-Pixelmill-Signature"


def test_a_failed_webhook_is_retried_signed_and_every_attempt_is_recorded(
    api: Api,
    cluster: Cluster,
    db: Database,
    webhook_receiver: ScriptedServer,
    webhook_secret: str,
) -> None:
    path = f"/hooks/{uuid.uuid4().hex}"
    callback = webhook_receiver.script(path, [500, 200])
    fields = {**pictures.variants_field(), "callback_url": callback}
    task_id = api.accepted(api.submit(pictures.batch("hooked", 2), fields))["id"]
    view = wait_finished(cluster, api.http, task_id, timeout=60)
    assert view["status"] == "done"

    wait_for(
        cluster,
        lambda: len(webhook_receiver.received(path)) >= 2,
        30,
        lambda: f"a second webhook delivery; got {webhook_receiver.received(path)}",
    )
    wait_for(
        cluster,
        lambda: db.value(
            "SELECT webhook_delivered_at IS NOT NULL FROM tasks WHERE id = %s", [task_id]
        ),
        10,
        "the delivery recorded",
    )
    first, second = webhook_receiver.received(path)
    assert (first.status, second.status) == (500, 200)
    assert second.at - first.at >= WEBHOOK_RETRY_DELAYS_SECONDS[0] * 0.9

    for delivery in (first, second):
        assert delivery.method == "POST"
        headers = {name.lower(): value for name, value in delivery.headers.items()}
        expected = hmac.new(webhook_secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE.lower()], f"sha256={expected}")
        assert headers["x-pixelmill-event"] == "TaskCompleted"
        body = json.loads(delivery.body)
        assert body["type"] == "TaskCompleted"
        assert body["task_id"] == task_id
        assert body["status"] == "done"
        assert body["counts"]["total"] == 2 and body["counts"]["done"] == 2

    attempts = db.rows(
        "SELECT attempt, status_code, error FROM webhook_attempts WHERE task_id = %s ORDER BY id",
        [task_id],
    )
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 200)]
    assert attempts[0]["error"] and attempts[1]["error"] is None
    assert len(webhook_receiver.received(path)) == 2
