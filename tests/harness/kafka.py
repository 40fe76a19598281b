"""The Kafka side of a test session: its own consumer group, started at the end, removed."""

import logging

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from common.settings import KafkaSettings
from schemas import topics

log = logging.getLogger(__name__)


def start_group_at_end(group: str) -> None:
    """Commit the group's offsets at the jobs topic's end, as if it had read everything.

    A new group would otherwise start at the topic's first record and claim-and-skip every
    job ever published before its first own job: start-up time growing with the topic.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": KafkaSettings().kafka_bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        topic = consumer.list_topics(topics.IMAGE_JOBS, timeout=10).topics[topics.IMAGE_JOBS]
        if topic.error is not None:
            return  # a fresh stack: the services create the topic, there is nothing to skip
        ends = []
        for partition in topic.partitions:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topics.IMAGE_JOBS, partition), timeout=10
            )
            ends.append(TopicPartition(topics.IMAGE_JOBS, partition, high))
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def forget_consumer_group(group: str) -> None:
    """Remove what the session's consumer group left in Kafka: the group and faust's topic."""
    admin = AdminClient({"bootstrap.servers": KafkaSettings().kafka_bootstrap_servers})
    try:
        for future in admin.delete_consumer_groups([group], request_timeout=10).values():
            future.result(timeout=15)
        leader_topic = f"{group}-__assignor-__leader"
        if leader_topic in admin.list_topics(timeout=10).topics:
            for future in admin.delete_topics([leader_topic], operation_timeout=10).values():
                future.result(timeout=15)
    except Exception as error:
        # Leftovers are harmless to later sessions (their group names differ).
        log.warning("could not remove consumer group %s from Kafka: %s", group, error)


def group_is_stable(group: str, members: int) -> bool:
    """Kafka's own view: the group is done rebalancing, with `members` members holding
    partitions. A worker's log says when it got partitions, not that no rebalance began since.
    """
    # A client of its own each time: one kept across a Kafka restart (the fault tests make
    # some) was seen to never answer again.
    admin = AdminClient({"bootstrap.servers": KafkaSettings().kafka_bootstrap_servers})
    try:
        description = admin.describe_consumer_groups([group], request_timeout=5)[group].result(
            timeout=10
        )
    except Exception as error:
        log.info("could not describe consumer group %s: %s", group, error)
        return False
    return (
        description.state == ConsumerGroupState.STABLE
        and len(description.members) == members
        and all(member.assignment.topic_partitions for member in description.members)
    )
