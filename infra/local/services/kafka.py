"""Apache Kafka in KRaft mode, one node as broker and controller, from Maven Central jars."""

import subprocess
from pathlib import Path

from confluent_kafka.admin import AdminClient

from common import dev
from infra.local.downloads import maven_classpath
from infra.local.errors import StackError
from infra.local.java import default_jdk
from infra.local.service import LocalService, port_is_open

_LOG4J = "org.apache.logging.log4j:{}:2.26.1"
_MINIMUM_JAVA = 17
_CLUSTER_ID = "cGl4ZWxtaWxsLWxvY2Fs"  # fixed: the local cluster is formatted once per state dir


class Kafka(LocalService):
    name = "kafka"

    @property
    def address(self) -> str:
        return f"{dev.HOST}:{self.settings.kafka_port}"

    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    @property
    def _libs(self) -> Path:
        return self.settings.cache_dir / f"kafka-{self.settings.kafka_version}"

    @property
    def _config(self) -> Path:
        return self.state_dir / "server.properties"

    def prepare(self) -> None:
        maven_classpath(
            self.name,
            self._libs,
            [
                f"org.apache.kafka:kafka_2.13:{self.settings.kafka_version}",
                _LOG4J.format("log4j-core"),
                _LOG4J.format("log4j-slf4j2-impl"),
            ],
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._config.write_text(self._server_properties())
        (self.state_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        if not (self.state_dir / "data" / "meta.properties").exists():
            self._format_storage()

    def _java(self, main_class: str, *args: str, heap: str = "128m") -> list[str]:
        return [
            str(default_jdk(_MINIMUM_JAVA).java),
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
            "-cp",
            f"{self._libs}/*",
            main_class,
            *args,
        ]

    def _format_storage(self) -> None:
        command = self._java(
            "kafka.tools.StorageTool", "format", "-t", _CLUSTER_ID, "-c", str(self._config)
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                self.name, "formatting the storage failed", result.stdout + result.stderr
            )

    def _server_properties(self) -> str:
        s = self.settings
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{dev.HOST}:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://{dev.HOST}:{s.kafka_port},"
            f"CONTROLLER://{dev.HOST}:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://{dev.HOST}:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.state_dir / "data"),
            # One node: the internal topics cannot have more than one replica.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The default 128 MiB dedupe buffer does not fit the small heap.
            "log.cleaner.dedupe.buffer.size": "16777216",
        }
        return "".join(f"{key}={value}\n" for key, value in lines.items())

    def start(self) -> int:
        command = self._java("kafka.Kafka", str(self._config), heap=self.settings.kafka_heap)
        return self.process.start(command, self.log_file)

    def is_ready(self) -> bool:
        if not port_is_open(self.settings.kafka_port):
            return False
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)

    def exports(self) -> dict[str, str]:
        return {"PIXELMILL_KAFKA_BOOTSTRAP_SERVERS": self.address}


_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.raft.name = org.apache.kafka.raft
logger.raft.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = warn
"""
