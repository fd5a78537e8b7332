"""The S3 bucket an export lives in, as the source's settings name it: where, with which credentials, path style.

Picklable: the driver reads the manifests through it and each task builds its own client to read its data files.
Credentials are the source's (`credentials`, with `assumeRole`, or the AWS default chain), resolved the way the
DynamoDB sides resolve theirs (dynamo/database.py), and refreshed with each new client. The region, the CA
certificates and the proxies are resolved once on the driver (`export_bucket`), so every task reaches the bucket
the way the driver does.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote


from botocore.exceptions import BotoCoreError, ClientError

from migrator.config import S3_EXPORT, S3ExportSource
from migrator.dynamo.database import Database, aws_endpoint, resolve_region
from migrator.dynamo.transport import Proxy, Transport, resolve as resolve_transport
from migrator.errors import TransferError

logger = logging.getLogger(__name__)

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
BODY_ATTEMPTS = 3  # a body cut off while it is read is asked for again this many times in all


@dataclass(frozen=True)
class ExportBucket:
    database: Database  # the source's region, endpoint, credentials and transport
    bucket: str
    path_style: bool = False  # usePathStyleAccess: http://host/bucket/key, as MinIO and moto need

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def client(self):
        """A boto3 S3 client (standard retries) with the source's credentials, CA certificates and proxies; build one
        per task, on the executor."""
        return self.database.boto3_client(
            "s3", read_timeout=120, s3={"addressing_style": "path"} if self.path_style else None,
            proxies=_proxies(self.database.transport) or None)

    def read(self, key: str, client=None, retried: Callable[[int], None] | None = None) -> bytes:
        """The object's bytes; TransferError naming it when it is missing or cannot be read. `retried(n)` is told
        of the requests retried on the way (botocore's retries and bodies read again)."""
        client = client or self.client()
        last: Exception | None = None
        for attempt in range(BODY_ATTEMPTS):
            if attempt and retried is not None:
                retried(1)
            try:
                answer = client.get_object(Bucket=self.bucket, Key=key)
                if retried is not None and answer["ResponseMetadata"].get("RetryAttempts"):
                    retried(answer["ResponseMetadata"]["RetryAttempts"])
                return answer["Body"].read()
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                if code in MISSING_CODES:
                    raise TransferError(f"{self.where(key)}: missing from the bucket; the export is incomplete, or "
                                        "source.bucket or manifestKey names another one") from None
                raise TransferError(f"{self.where(key)}: cannot be read: {code}: {error.get('Message')}") from None
            except BotoCoreError as exc:  # connection cut while the body was read: boto3 does not retry that
                last = exc
        raise TransferError(f"{self.where(key)}: cannot be read after {BODY_ATTEMPTS} attempts: {last}")


def export_bucket(settings: S3ExportSource) -> ExportBucket:
    """The bucket of an export source, its region, CA certificates and proxies resolved now, on the driver."""
    region = resolve_region("source", settings.region, settings.endpoint, "S3")
    url = settings.endpoint.url if settings.endpoint is not None else None
    transport = resolve_transport("source", None, url or aws_endpoint(region, "s3"))
    if transport.ca_origin or transport.http_proxy or transport.https_proxy:
        logger.info("source: %s", transport.describe())
    database = Database(side="source", kind=S3_EXPORT, region=region, endpoint_url=url,
                        credentials=settings.credentials, transport=transport)
    return ExportBucket(database, settings.bucket, settings.use_path_style_access)


def _proxies(transport: Transport) -> dict[str, str]:
    """botocore's `proxies` from the proxies resolved on the driver (NO_PROXY was applied to the endpoint then)."""
    return {scheme: _proxy_url(proxy) for scheme, proxy in (("http", transport.http_proxy),
                                                             ("https", transport.https_proxy)) if proxy is not None}


def _proxy_url(proxy: Proxy) -> str:
    """http://[USER:PASSWORD@]HOST:PORT, the credentials taken back out of the Proxy-Authorization value."""
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    user = ""
    if proxy.authorization:
        name, _, password = base64.b64decode(proxy.authorization.split(" ", 1)[1]).decode().partition(":")
        user = f"{quote(name, safe='')}:{quote(password, safe='')}@"
    return f"http://{user}{host}:{proxy.port}"
