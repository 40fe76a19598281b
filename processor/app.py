"""The processor's faust-streaming worker."""

import faust
from faust.web import Request, Response, View

from processor.settings import Settings


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        "pixelmill-processor",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        web_host=settings.processor_host,
        web_port=settings.processor_port,
        # Faust's own tables and changelogs are not used: state lives in PostgreSQL.
        store="memory://",
        topic_partitions=settings.kafka_partitions,
    )

    @app.page("/healthz")
    async def healthz(self: View, request: Request) -> Response:
        return self.json({"status": "ok"})

    return app


def main() -> None:
    settings = Settings()
    app = create_app(settings)
    # faust names the levels its own way.
    level = {"WARNING": "warn"}.get(settings.log_level, settings.log_level.lower())
    worker = faust.Worker(app, loglevel=level)
    worker.execute_from_commandline()
