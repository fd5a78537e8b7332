"""Clients for one side of the migration: boto3 for the control plane, DynamoApi for the data path.

`Database` is what crosses from the driver to the executors: plain picklable data naming the endpoint, the
region, where credentials come from, and the CA certificates and proxies (`transport`) resolved on the driver.
Each executor builds its own clients from it.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials as BotoCredentials,
    DeferredRefreshableCredentials,
)

from migrator.dynamo.api import STREAMS_TARGET_PREFIX, DynamoApi, RetryPolicy
from migrator.config import AlternatorSettings, Credentials, DynamoTable, Endpoint
from migrator.errors import ConfigError, MigratorError, RequestError
from migrator.dynamo.transport import Transport, resolve as resolve_transport

logger = logging.getLogger(__name__)

# Local test servers accept any region; AWS itself needs the real one.
LOCAL_DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Database:
    """Where one side lives and how to sign for it. `credentials` None means the default AWS chain."""

    side: str  # "source" or "target", for messages
    kind: str  # "dynamodb" or "alternator"
    region: str
    endpoint_url: str | None = None
    credentials: Credentials | None = field(default=None, repr=False)
    alternator: AlternatorSettings | None = None  # client keys; None for type dynamodb
    report_capacity: bool = False  # ask for ConsumedCapacity (never for Alternator with removeConsumedCapacity)
    transport: Transport = field(default_factory=Transport)  # CA certificates and proxies

    @property
    def name(self) -> str:
        return self.endpoint_url or f"DynamoDB {self.region}"

    def botocore_credentials(self):
        """Credentials to sign with, or None to send unsigned requests (Alternator without auth).

        A failure of botocore's resolvers (a broken profile, credential_process, IMDS, STS) is a RequestError
        naming the side and the cause."""
        try:
            return self._botocore_credentials()
        except MigratorError:
            raise
        except Exception as exc:  # botocore's resolvers raise many kinds (BotoCoreError, ClientError, OSError)
            raise RequestError(f"{self.side}: the AWS credentials could not be resolved: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _botocore_credentials(self):
        if self.credentials is None:
            creds = botocore.session.Session().get_credentials()
            if creds is None and self.kind == "alternator":
                return None
            if creds is None:
                raise ConfigError(
                    f"{self.side}.credentials: none given and no AWS credentials found in the environment; "
                    "set credentials.accessKey/secretKey or configure the AWS credential chain"
                )
            return creds
        static = BotoCredentials(self.credentials.access_key, self.credentials.secret_key)
        role = self.credentials.assume_role
        if role is None:
            return static
        # Refreshed before it expires, so snapshots longer than the role session keep working.
        sts = boto3.client(
            "sts",
            region_name=self.region,
            aws_access_key_id=static.access_key,
            aws_secret_access_key=static.secret_key,
        )
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=lambda *args, **kwargs: sts,
            source_credentials=static,
            role_arn=role.arn,
            extra_args={"RoleSessionName": role.session_name},
        )
        return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")

    def boto3_client(self, service: str = "dynamodb", *, read_timeout: float = 60, **options):
        """A boto3 client for control-plane calls (describe, create, wait), or for another service of this side (an
        export's S3); `options` are more botocore Config options (S3 addressing style, proxies)."""
        creds = self.botocore_credentials()
        config = Config(
            retries={"mode": "standard", "max_attempts": 10},
            connect_timeout=15,
            read_timeout=read_timeout,
            signature_version=UNSIGNED if creds is None else None,
            **options,
        )
        keys = {}
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            keys = dict(
                aws_access_key_id=frozen.access_key,
                aws_secret_access_key=frozen.secret_key,
                aws_session_token=frozen.token,
            )
        if self.transport.ca_pem:  # the same CA certificates as the data path, wherever this runs
            keys["verify"] = pem_file(self.transport.ca_pem)
        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, config=config, **keys
        )

    def api(self, *, max_connections: int = 8, retry: RetryPolicy = RetryPolicy()) -> DynamoApi:
        """A data-path client (Scan, BatchWriteItem); for Alternator it spreads requests over the live nodes."""
        if self.kind != "alternator":
            url = self.endpoint_url or aws_endpoint(self.region)
            return DynamoApi(url, self.region, self.botocore_credentials(), max_connections=max_connections,
                             retry=retry, transport=self.transport)
        from migrator.dynamo.alternator_nodes import NodeRouter

        tuning = self.alternator or AlternatorSettings()
        ms = lambda value, default: value / 1000 if value else default  # noqa: E731
        return DynamoApi(
            NodeRouter(self.endpoint_url, tuning, self.transport),
            self.region,
            self.botocore_credentials(),
            max_connections=tuning.max_connections or max_connections,
            connect_timeout=ms(tuning.connection_timeout_ms, 15.0),
            pool_timeout=ms(tuning.connection_acquisition_timeout_ms, None),
            max_idle_seconds=ms(tuning.connection_max_idle_time_ms, None),
            max_age_seconds=ms(tuning.connection_time_to_live_ms, None),
            compress=tuning.compression,
            minimal_headers=tuning.optimize_headers,
            retry=retry,
            transport=self.transport,
            server_name=urlsplit(self.endpoint_url).hostname,  # nodes are IP addresses: verify the seed's name
        )

    def streams_api(self, *, max_connections: int = 2, retry: RetryPolicy = RetryPolicy()) -> DynamoApi:
        """A DynamoDB Streams client (GetShardIterator, GetRecords) with the same credentials: a custom endpoint
        serves Streams at its own URL (Alternator's too, without node routing), AWS at streams.dynamodb.<region>."""
        url = self.endpoint_url or aws_endpoint(self.region, "dynamodbstreams")
        return DynamoApi(url, self.region, self.botocore_credentials(), max_connections=max_connections,
                         retry=retry, transport=self.transport, target_prefix=STREAMS_TARGET_PREFIX)


@functools.cache
def pem_file(pem: str) -> str:
    """A file holding `pem`, for botocore, which takes CA certificates by path only; it lasts as long as the
    process (an executor may lack the driver's file)."""
    fd, path = tempfile.mkstemp(prefix="migrator-ca-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(pem)
    atexit.register(os.unlink, path)
    return path


@functools.cache
def aws_endpoint(region: str, service: str = "dynamodb") -> str:
    """DynamoDB's URL in `region` (or DynamoDB Streams', `service` "dynamodbstreams"), as botocore resolves it
    (aws, aws-cn, aws-us-gov partitions)."""
    client = botocore.session.Session().create_client(
        service, region_name=region, aws_access_key_id="unused", aws_secret_access_key="unused"  # noqa: S106
    )
    return client.meta.endpoint_url


def resolve_region(side: str, region: str | None, endpoint: Endpoint | None, service: str = "DynamoDB"
                   ) -> str:
    """`region`, else the AWS config's, else us-east-1 for a local server (an endpoint set); ConfigError for AWS."""
    region = region or botocore.session.Session().get_config_variable("region")
    if region is not None:
        return region
    if endpoint is None:
        raise ConfigError(f"{side}.region: required for AWS {service}, none set and none in the AWS config; "
                          "add region: us-east-1 (or your table's region)")
    return LOCAL_DEFAULT_REGION


def database_for(side: str, settings: DynamoTable) -> Database:
    """The Database of a source or target of type dynamodb or alternator. The region is resolved now, on the
    driver, so that every executor signs for the same one."""
    endpoint = settings.endpoint
    region = resolve_region(side, settings.region, endpoint)
    alternator = settings.type == "alternator"
    url = endpoint.url if endpoint is not None else aws_endpoint(region)
    transport = resolve_transport(side, settings.ca_bundle, url)
    if transport.ca_origin or transport.http_proxy or transport.https_proxy:
        logger.info("%s: %s", side, transport.describe())
    return Database(
        side=side,
        kind=settings.type,
        region=region,
        endpoint_url=endpoint.url if endpoint is not None else None,
        credentials=settings.credentials,
        alternator=(settings.alternator or AlternatorSettings()) if alternator else None,
        report_capacity=not (alternator and settings.remove_consumed_capacity),
        transport=transport,
    )


def log_database(side: str, settings, database: Database) -> None:
    """The job's opening lines for one side: `source: dynamodb table 'orders' at URL (region R)`, and the
    Alternator nodes it knows."""
    job_logger = logging.getLogger("migrator.jobs.migrate")  # these lines were the job's and keep its logger name
    job_logger.info("%s: %s table %r at %s (region %s)", side, settings.type, settings.table, database.name,
                    database.region)
    if database.kind == "alternator":
        from migrator.dynamo.alternator_nodes import describe_nodes

        job_logger.info("%s: %s", side, describe_nodes(database.endpoint_url, database.alternator,
                                                       database.transport))
