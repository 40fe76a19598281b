"""Every Prometheus metric pixelmill exports, defined once.

Names follow Prometheus conventions (base units, `_total` for counters). Labels are bounded:
routes are templates, error codes come from `ErrorCode`, never an id.
"""

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Image work takes from milliseconds (a small fetch) to tens of seconds (a huge decode).
_IMAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "pixelmill_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "pixelmill_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of a streamed body)",
    ["service", "route", "method"],
    buckets=_HTTP_BUCKETS,
)

TASKS_CREATED = Counter("pixelmill_tasks_created_total", "Tasks created")
TASKS_FINISHED = Counter(
    "pixelmill_tasks_finished_total", "Tasks finished, by final status", ["status"]
)
IMAGES_FINISHED = Counter(
    "pixelmill_images_finished_total",
    "Images that reached a final state, by outcome (done, failed) and error code",
    ["outcome", "error_code"],
)
RETRIES_SCHEDULED = Counter(
    "pixelmill_image_retries_scheduled_total",
    "Transient failures that scheduled another attempt, by error code",
    ["error_code"],
)
DLQ_RECORDS = Counter(
    "pixelmill_dlq_records_total", "Jobs sent to the dead-letter topic after the last attempt"
)
STAGE_DURATION = Histogram(
    "pixelmill_stage_duration_seconds",
    "Processor time per image and stage: fetch, decode, transform, encode, store",
    ["stage"],
    buckets=_IMAGE_BUCKETS,
)
SOURCE_BYTES = Counter(
    "pixelmill_source_bytes_total", "Bytes of sources read, by kind (s3, url)", ["kind"]
)
OUTPUT_BYTES = Counter(
    "pixelmill_output_bytes_total", "Bytes of results written, by format", ["format"]
)
IMAGES_IN_FLIGHT = Gauge("pixelmill_images_in_flight", "Images a processor holds right now")
CONSUMER_LAG = Gauge(
    "pixelmill_consumer_lag_records",
    "Image jobs waiting in each partition assigned to this processor",
    ["partition"],
)
CONSUMER_LAG_MEASURED = Gauge(
    "pixelmill_consumer_lag_measured_timestamp_seconds",
    "When this processor last measured its consumer lag (Unix time); a stale value means the"
    " lag gauge is stale too",
)
JOBS_PUBLISHED = Counter(
    "pixelmill_jobs_published_total",
    "Image job records Kafka acknowledged, by path (submit, reconciler)",
    ["path"],
)
WEBHOOK_ATTEMPTS = Counter(
    "pixelmill_webhook_attempts_total",
    "Completion webhook attempts, by outcome (delivered, failed, given_up)",
    ["outcome"],
)
SPOOL_BYTES = Gauge("pixelmill_spool_bytes", "Bytes of sources waiting in the gateway's spool")
SPOOL_MAX_BYTES = Gauge("pixelmill_spool_max_bytes", "The gateway spool's capacity in bytes")
JOBS_UNPUBLISHED = Gauge(
    "pixelmill_jobs_unpublished",
    "Queued images whose job Kafka has not acknowledged yet (grows while Kafka is down)",
)
UPLOADED_BYTES = Counter("pixelmill_upload_bytes_total", "Bytes of sources received by upload")


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# nginx's status for a request its client gave up on before the answer: not a server error.
_CLIENT_CLOSED_REQUEST = 499


def _route_template(scope: Scope) -> str:
    # The router leaves the matched route in the scope; a path that matched none is one label.
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestMetrics:
    """Counts every request and times it to its response's first byte (a stream of events
    would otherwise count as one request lasting hours). Plain ASGI: see `RequestIds`."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        def record(status: int) -> None:
            route, method = _route_template(scope), scope["method"]
            HTTP_DURATION.labels(self.service, route, method).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()

        async def send_and_record(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except ClientDisconnect:
            if not answered:
                record(_CLIENT_CLOSED_REQUEST)
            raise
        except Exception:
            if not answered:
                record(500)  # what the server answers for an exception that escaped
            raise


def install_metrics(app: FastAPI, service: str) -> None:
    """Count and time every request by route template, and serve GET /metrics."""
    app.add_middleware(RequestMetrics, service=service)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()
