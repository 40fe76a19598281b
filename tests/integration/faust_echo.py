"""A faust-streaming worker for the Kafka smoke test: appends each record it gets to a file.

Started by the test as a real worker process: `python -m tests.integration.faust_echo`.
"""

import json
import os
from pathlib import Path

import faust

from common.settings import KafkaSettings

TOPIC = os.environ["ECHO_TOPIC"]
OUTPUT = Path(os.environ["ECHO_OUTPUT"])

app = faust.App(
    os.environ["ECHO_GROUP"],
    broker=f"kafka://{KafkaSettings().kafka_bootstrap_servers}",
    store="memory://",
    # Next to the output, in the test's temporary folder rather than the working directory.
    datadir=OUTPUT.parent / "faust-data",
    web_enabled=False,
    topic_partitions=1,
)
topic = app.topic(TOPIC, value_serializer="raw")


def _append(record: bytes) -> None:
    with OUTPUT.open("a") as output:
        output.write(json.dumps(json.loads(record)) + "\n")


@app.agent(topic)
async def echo(records: faust.StreamT[bytes]) -> None:
    async for record in records:
        _append(record)


if __name__ == "__main__":
    app.main()
