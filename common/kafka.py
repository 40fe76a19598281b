"""Kafka helpers: the producer every service uses and topic creation at start-up."""

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.settings import KafkaSettings
from schemas import topics

log = logging.getLogger(__name__)


def create_producer(settings: KafkaSettings, **overrides: Any) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            # Idempotent with acks=all: a retried send never duplicates or reorders a record.
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 30000,
            **overrides,
        }
    )


def ensure_topics(settings: KafkaSettings, timeout_seconds: float = 30) -> None:
    """Create pixelmill's topics with the configured partition count; existing ones stay."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = admin.list_topics(timeout=timeout_seconds).topics
    missing = [name for name in topics.ALL if name not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=settings.kafka_partitions, replication_factor=-1)
            for name in missing
        ],
        operation_timeout=timeout_seconds,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_seconds)
            log.info("created topic %s with %d partitions", name, settings.kafka_partitions)
        except KafkaException as error:
            # Another instance created it between our listing and our request.
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
