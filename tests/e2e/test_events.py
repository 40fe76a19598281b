"""Live progress: the SSE stream of a task, read while it runs and resumed afterwards."""

from tests.e2e import images
from tests.e2e.api import Api, Db
from tests.e2e.images import JPEG_TYPE

IMAGES = 6
LIFECYCLE = ["queued", "processing", "done"]


def test_the_event_stream_delivers_each_image_state_change_once_then_the_task_and_resumes(
    api: Api, db: Db
) -> None:
    files = [
        (f"live-{i}.jpg", images.jpeg(1200, 900, seed=200 + i), JPEG_TYPE) for i in range(IMAGES)
    ]
    accepted = api.accepted(api.submit(files, {"width": "300"}))
    task_id = accepted["id"]
    image_ids = {image["id"] for image in accepted["images"]}

    # Opened at once, so that most of the task is followed live rather than replayed.
    stream = api.events(task_id)

    assert stream.content_type.startswith("text/event-stream")
    assert stream.frames, "the stream ended without a single event"
    *image_events, last = stream.frames
    assert [e.event for e in image_events] == ["image"] * len(image_events)
    assert last.event == "task"
    assert last.data["task_id"] == task_id
    assert last.data["status"] == "done"
    assert last.data["finished_at"] is not None

    ids = [e.id for e in image_events if e.id is not None]
    assert len(ids) == len(image_events), "an image event without an id"
    assert ids == sorted(ids) and len(set(ids)) == len(ids), f"ids not increasing: {ids}"
    assert {e.data["task_id"] for e in image_events} == {task_id}

    # Exactly the state changes PostgreSQL recorded: none missed, none repeated.
    recorded = [
        (row["id"], row["image_id"], row["status"])
        for row in db.execute(
            "SELECT id, image_id::text AS image_id, status FROM image_events"
            " WHERE task_id = %s ORDER BY id",
            [task_id],
        ).fetchall()
    ]
    streamed = [(e.id, e.data["image_id"], e.data["status"]) for e in image_events]
    missed = [event for event in recorded if event not in streamed]
    assert not missed, f"recorded (id, image, status) never streamed: {missed}; got {streamed}"
    assert streamed == recorded

    by_image: dict[str, list[str]] = {}
    for _, image_id, status in streamed:
        by_image.setdefault(image_id, []).append(status)
    assert by_image == {image_id: LIFECYCLE for image_id in image_ids}, by_image
    assert api.task(task_id)["status"] == "done"

    # A reconnect resumes after the event it names and replays only what came later.
    middle = ids[len(ids) // 2]
    resumed = api.events(task_id, last_event_id=middle)
    *replayed, resumed_last = resumed.frames
    assert [e.event for e in replayed] == ["image"] * len(replayed)
    assert [(e.id, e.data["image_id"], e.data["status"]) for e in replayed] == [
        event for event in recorded if event[0] > middle
    ]
    first_time = {e.id: e.data for e in image_events}
    assert all(e.data == first_time[e.id] for e in replayed if e.id in first_time)
    assert resumed_last.event == "task"
    assert resumed_last.data == last.data

    # After the last event nothing is replayed but the task's end.
    caught_up = api.events(task_id, last_event_id=ids[-1])
    assert [f.event for f in caught_up.frames] == ["task"]
