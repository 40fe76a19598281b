"""The gateway as a client sees it, plus read-only views of S3 and PostgreSQL for checks."""

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from tests.e2e.services import POLL_SECONDS, Stack

TASK_PATH = "/api/v1/task"
FINISHED = {"done", "partial", "failed", "cancelled"}

# (field name, (file name, bytes, content type)) as httpx takes multipart files.
FilePart = tuple[str, tuple[str, bytes, str]]


def file_parts(files: Sequence[tuple[str, bytes, str]]) -> list[FilePart]:
    return [("file", item) for item in files]


def image_path(image_id: str) -> str:
    return f"/api/v1/image-processor/{image_id}"


@dataclass
class Api:
    http: httpx.Client
    stack: Stack

    def submit(
        self,
        files: Sequence[tuple[str, bytes, str]] = (),
        fields: Mapping[str, str | list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A multipart submission: `file` parts, then form fields (lists repeat a field)."""
        return self.http.post(
            TASK_PATH,
            files=file_parts(files),
            data=dict(fields or {}),
            headers=dict(headers or {}),
        )

    def submit_json(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(TASK_PATH, json=dict(body), headers=dict(headers or {}))

    def accepted(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 202, response.text
        view: dict[str, Any] = response.json()
        return view

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"{TASK_PATH}/{task_id}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def wait_finished(self, task_id: str, timeout: float = 90) -> dict[str, Any]:
        """The task view once the task is finished, polling it every POLL_SECONDS."""
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal view
            view = self.task(task_id)
            return view["status"] in FINISHED and view["finished_dt"] is not None

        self.stack.wait_until(
            finished, deadline, lambda: f"task {task_id} to finish; its last view: {view}"
        )
        return view

    def events(
        self, task_id: str, *, last_event_id: int | None = None, timeout: float = 60
    ) -> "EventStream":
        """Read the task's SSE stream until the server ends it."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        stream = EventStream()
        deadline = time.monotonic() + timeout
        # The gateway sends a keepalive comment every second, so reads never stall long.
        with self.http.stream(
            "GET", f"{TASK_PATH}/{task_id}/events", headers=headers, timeout=10
        ) as response:
            assert response.status_code == 200, response.read().decode()
            stream.content_type = response.headers.get("content-type", "")
            frame: dict[str, str] = {}
            for line in response.iter_lines():
                assert time.monotonic() < deadline, f"the stream did not end: {stream.frames}"
                if line == "":
                    if frame:
                        stream.add(frame)
                    frame = {}
                elif line.startswith(":"):
                    stream.comments += 1
                else:
                    name, _, value = line.partition(":")
                    frame[name] = value.removeprefix(" ")
            if frame:
                stream.add(frame)
        return stream


@dataclass(frozen=True)
class Event:
    event: str
    id: int | None
    data: dict[str, Any]


@dataclass
class EventStream:
    content_type: str = ""
    frames: list[Event] = field(default_factory=list)
    comments: int = 0

    def add(self, frame: dict[str, str]) -> None:
        if "event" not in frame:
            return  # the opening `retry:` frame carries no event
        event_id = int(frame["id"]) if "id" in frame else None
        self.frames.append(Event(frame["event"], event_id, json.loads(frame.get("data", "{}"))))

    @property
    def images(self) -> list[Event]:
        return [f for f in self.frames if f.event == "image"]


@dataclass
class Storage:
    """Checks on the bucket, through the tests' own S3 client."""

    client: Any
    bucket: str

    def keys(self, prefix: str) -> set[str]:
        keys: set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys

    def get(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and Content-Type."""
        obj = self.client.get_object(Bucket=self.bucket, Key=key)
        body: bytes = obj["Body"].read()
        return body, str(obj.get("ContentType", ""))


Db = psycopg.Connection[DictRow]


def task_count(db: Db, owner: str) -> int:
    row = db.execute("SELECT count(*) AS n FROM tasks WHERE owner = %s", [owner]).fetchone()
    assert row is not None
    count: int = row["n"]
    return count


def _task_ids_in_any_schema(db: Db, task_ids: list[str]) -> set[str]:
    known: set[str] = set()
    schemas = db.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'tasks'"
    ).fetchall()
    for row in schemas:
        query = sql.SQL("SELECT id::text AS id FROM {}.tasks WHERE id::text = ANY(%s)")
        found = db.execute(query.format(sql.Identifier(row["table_schema"])), [task_ids]).fetchall()
        known.update(r["id"] for r in found)
    return known


def leaked_sources(db: Db, storage: Storage, before: set[str], timeout: float = 15) -> set[str]:
    """Source objects that appeared since `before` and belong to no task.

    Other work on the shared stack uploads sources too, and a submission stores its files
    before its task row exists; so a new object only counts as left behind once it has
    stayed, without a task row in any schema, until the deadline. A refused submission never
    creates its task row; the wait is only spent when something really is left.
    """
    deadline = time.monotonic() + timeout
    while True:
        new = storage.keys("sources/") - before
        task_ids = sorted({key.split("/")[1] for key in new if key.count("/") >= 2})
        known = _task_ids_in_any_schema(db, task_ids) if task_ids else set()
        left = {key for key in new if key.count("/") < 2 or key.split("/")[1] not in known}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(POLL_SECONDS)
