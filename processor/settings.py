import os

from pydantic import Field

from common import dev
from common.settings import KafkaSettings, PostgresSettings, S3Settings
from schemas import limits


class Settings(KafkaSettings, PostgresSettings, S3Settings):
    # The Kafka consumer group: every replica of one deployment shares it.
    processor_group: str = "pixelmill-processor"
    processor_host: str = dev.HOST
    # The faust worker's web server: /healthz, /metrics.
    processor_port: int = dev.PROCESSOR_PORT
    # Jobs one worker holds at once (fetching, decoding, storing side by side).
    processor_concurrency: int = Field(default=4, ge=1)
    # Threads running libvips; the bound on CPU work per worker.
    processor_engine_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # How long a claimed image is ours; a worker that died loses it after this.
    processor_lease_seconds: float = Field(default=300.0, gt=0)
    # How soon Kafka gives a silent worker's partitions to the others. Heartbeats come from
    # the event loop, which pixels never block, so a short timeout is safe.
    processor_session_timeout_seconds: float = Field(default=15.0, gt=0)
    # Delays before each new attempt after a transient failure; their count bounds attempts.
    retry_delays_seconds: list[float] = Field(
        default=[10, 60, 600, 1800, 7200, 21600, 86400], min_length=1
    )

    max_file_bytes: int = Field(default=limits.MAX_FILE_BYTES, ge=1)
    max_pixels: int = Field(default=limits.MAX_PIXELS, ge=1)
    max_frames: int = Field(default=limits.MAX_FRAMES, ge=1)
    allow_svg: bool = False
    allow_pdf: bool = False

    url_timeout_seconds: float = Field(default=limits.URL_TIMEOUT_SECONDS, gt=0)
    url_max_redirects: int = Field(default=limits.URL_MAX_REDIRECTS, ge=0)
    # Trusted "host" or "host:port" entries whose URLs may resolve to private addresses.
    url_allowlist: list[str] = Field(default_factory=list)
