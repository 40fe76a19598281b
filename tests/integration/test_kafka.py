import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.settings import KafkaSettings

WORKER_START_TIMEOUT_SECONDS = 90


def _create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    futures[name].result(timeout=30)


def test_a_record_from_confluent_kafka_reaches_a_faust_agent(tmp_path: Path) -> None:
    bootstrap = KafkaSettings().kafka_bootstrap_servers
    run = uuid.uuid4().hex[:12]
    topic = f"smoke-{run}"
    output = tmp_path / "received.jsonl"
    _create_topic(bootstrap, topic)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    record = {"type": "Smoke", "version": 1, "run": run}
    producer.produce(topic, key=run.encode(), value=json.dumps(record).encode())
    assert producer.flush(30) == 0

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.faust_echo", "worker", "--loglevel=warn"],
        env={
            **os.environ,
            "ECHO_TOPIC": topic,
            "ECHO_OUTPUT": str(output),
            "ECHO_GROUP": f"smoke-{run}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
        while not output.exists() and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
            time.sleep(0.2)
    finally:
        worker.terminate()
        log = worker.communicate(timeout=30)[0].decode(errors="replace")

    assert output.exists(), f"the agent got nothing in {WORKER_START_TIMEOUT_SECONDS} s:\n{log}"
    assert [json.loads(line) for line in output.read_text().splitlines()] == [record]
