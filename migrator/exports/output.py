"""Where an export is written (`target.path`): a local directory, or `s3://bucket/prefix` (`s3a://` too).

Keys are relative to that place (`data/00003-....json.gz`), so the rest of the export writer does not know which
of the two it writes to. S3 is reached with the AWS default credential chain and region; AWS_ENDPOINT_URL_S3 (or
AWS_ENDPOINT_URL) names another S3 such as MinIO, reached with path-style addressing. A local file is written to a
hidden temporary sibling, fsync'ed and renamed; an S3 object appears whole. So a reader finds a file whole or not
at all. A local path must be the same directory for the driver and every executor (a shared file system on a
cluster).

Picklable: the driver ships it to the tasks; each process builds its own S3 client on first use.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from migrator.errors import ConfigError, TransferError

S3_SCHEMES = ("s3://", "s3a://")  # s3a:// as scylla-migrator (Hadoop) writes it
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _aws_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import S3UploadFailedError

    return BotoCoreError, ClientError, S3UploadFailedError


@dataclass(frozen=True)
class ExportOutput:
    """The directory or S3 prefix `path` names, as given in `target.path`."""

    path: str

    def __post_init__(self) -> None:
        if self.is_s3:
            if not self.bucket:
                raise ConfigError(f"target.path: no bucket in {self.path!r}; write s3://BUCKET/PREFIX")
            return
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", self.path)
        if scheme:
            raise ConfigError(f"target.path: {scheme.group(1)}:// is not supported, got {self.path!r}; use a local "
                              "directory or s3://BUCKET/PREFIX")
        if not self.path.strip():
            raise ConfigError("target.path: empty; name a local directory or s3://BUCKET/PREFIX")

    @classmethod
    def at(cls, path: str) -> ExportOutput:
        """The output for `target.path`, a local path made absolute here (on the driver), so that every
        executor writes where the driver reads."""
        output = cls(path)
        return output if output.is_s3 else cls(str(Path(path).expanduser().absolute()))

    # -- where

    @property
    def is_s3(self) -> bool:
        return self.path.startswith(S3_SCHEMES)

    @property
    def bucket(self) -> str:
        return self.path.split("://", 1)[1].partition("/")[0]

    @property
    def prefix(self) -> str:
        """The S3 key prefix of the output, '' or ending in '/'."""
        rest = self.path.split("://", 1)[1].partition("/")[2].strip("/")
        return f"{rest}/" if rest else ""

    @property
    def location(self) -> str:
        """The output for messages: `/data/export` or `s3://bucket/prefix`."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/") if self.is_s3 else self.path

    def where(self, key: str) -> str:
        return f"{self.location}/{key}"

    def describe(self) -> str:
        """For the target line: the location and, for S3, the endpoint and region."""
        if not self.is_s3:
            return f"local directory {self.location}"
        client = self._s3()
        return f"{self.location} at {client.meta.endpoint_url} (region {client.meta.region_name})"

    # -- operations

    def is_empty(self) -> bool:
        """Nothing is there: a missing directory, or no object under the prefix."""
        if not self.is_s3:
            try:
                with os.scandir(self.path) as entries:
                    return next(entries, None) is None
            except FileNotFoundError:
                return True
            except NotADirectoryError:
                raise ConfigError(f"target.path: {self.location!r} is a file; name a directory") from None
            except OSError as exc:
                raise TransferError(f"{self.location}: cannot be listed: {exc.strerror or exc}") from None
        answer = self._call("list", "", lambda s3: s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix,
                                                                       MaxKeys=1))
        return not answer.get("Contents")

    def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with `prefix`, sorted; none when the directory is missing."""
        if self.is_s3:
            def listing(s3):
                pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
                return [entry["Key"][len(self.prefix):] for page in pages for entry in page.get("Contents", [])]
            return sorted(self._call("list", prefix, listing))
        root = Path(self.path)
        start = root / prefix.rpartition("/")[0]
        found = []
        try:
            for directory, _, names in os.walk(start, onerror=_raise):
                for name in names:
                    key = (Path(directory) / name).relative_to(root).as_posix()
                    if key.startswith(prefix):
                        found.append(key)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TransferError(f"{self.where(prefix)}: cannot be listed: {exc.strerror or exc}") from None
        return sorted(found)

    def put(self, key: str, data: bytes) -> None:
        """Write `data` as `key`, whole or not at all."""
        if self.is_s3:
            self._call("write", key, lambda s3: s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data))
            return
        self._local_write(key, lambda out: out.write(data))

    def put_file(self, key: str, local_path: str) -> None:
        """Write the local file `local_path` as `key` (S3: a multipart upload when it is big); `local_path` stays."""
        if self.is_s3:
            self._call("write", key, lambda s3: s3.upload_file(local_path, self.bucket, self.prefix + key))
            return

        def copy(out) -> None:
            with open(local_path, "rb") as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
        self._local_write(key, copy)

    def move_file(self, key: str, local_path: str) -> None:
        """Write the local file `local_path` as `key` and remove it; a rename when both are local."""
        if self.is_s3:
            try:
                self.put_file(key, local_path)
            finally:
                Path(local_path).unlink(missing_ok=True)
            return
        final = Path(self.path) / key
        try:
            _fsync(local_path)
            os.replace(local_path, final)
            _fsync_directory(final.parent)
        except OSError as exc:
            Path(local_path).unlink(missing_ok=True)
            raise TransferError(f"{self.where(key)}: cannot be written: {exc.strerror or exc}") from None

    def scratch(self, key: str) -> str:
        """A new local file name to write `key` into before `move_file`: beside it for a local output (so the move
        is a rename), in the temporary directory for S3."""
        name = f".{Path(key).name}.{uuid.uuid4().hex[:12]}.tmp"
        if self.is_s3:
            import tempfile

            return str(Path(tempfile.gettempdir()) / f"migrator-export-{name[1:]}")
        final = Path(self.path) / key
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransferError(f"{self.where(key)}: cannot create its directory: {exc.strerror or exc}") from None
        return str(final.parent / name)

    def read(self, key: str) -> bytes:
        """The bytes of `key`; TransferError naming it when it is missing or cannot be read."""
        if self.is_s3:
            return self._call("read", key, lambda s3: s3.get_object(Bucket=self.bucket,
                                                                    Key=self.prefix + key)["Body"].read())
        try:
            return (Path(self.path) / key).read_bytes()
        except FileNotFoundError:
            raise TransferError(f"{self.where(key)}: missing") from None
        except OSError as exc:
            raise TransferError(f"{self.where(key)}: cannot be read: {exc.strerror or exc}") from None

    def delete(self, key: str) -> None:
        """Remove `key`; a missing one is not an error. A local directory left empty goes too, as it would on S3."""
        if self.is_s3:
            self._call("delete", key, lambda s3: s3.delete_object(Bucket=self.bucket, Key=self.prefix + key))
            return
        file = Path(self.path) / key
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            raise TransferError(f"{self.where(key)}: cannot be deleted: {exc.strerror or exc}") from None
        if "/" in key:
            try:
                file.parent.rmdir()
            except OSError:  # not empty (the usual case), or gone already
                pass

    # -- the two kinds

    def _local_write(self, key: str, write) -> None:
        scratch = self.scratch(key)
        try:
            with open(scratch, "wb") as out:
                write(out)
        except OSError as exc:
            Path(scratch).unlink(missing_ok=True)
            raise TransferError(f"{self.where(key)}: cannot be written: {exc.strerror or exc}") from None
        self.move_file(key, scratch)

    def _call(self, what: str, key: str, call):
        """call(client) with S3's errors as one TransferError naming the object and the cause."""
        try:
            return call(self._s3())
        except _aws_errors() as exc:
            if what == "read" and isinstance(exc, ClientError) and \
                    str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES:
                raise TransferError(f"{self.where(key)}: missing") from None
            place = self.where(key) if key else self.location
            raise TransferError(f"{place}: cannot {what} it: {_reason(exc)}") from None

    def _s3(self):
        client = self.__dict__.get("_client")
        if client is None:
            client = _s3_client()
            object.__setattr__(self, "_client", client)  # a cache, not state: never pickled
        return client

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "path", state["path"])


def _s3_client():
    """A boto3 S3 client with the default credential chain and region (us-east-1 when none is set), standard
    retries, and path-style addressing when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL names another S3."""
    import boto3
    import botocore.session
    from botocore.config import Config

    region = botocore.session.Session().get_config_variable("region") or "us-east-1"
    custom = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    return boto3.client("s3", region_name=region, config=Config(
        retries={"mode": "standard", "max_attempts": 10}, connect_timeout=15, read_timeout=120,
        s3={"addressing_style": "path"} if custom else None))


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _raise(exc: OSError) -> None:
    raise exc


def _fsync(path: str) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_directory(path: Path) -> None:
    """Make a rename durable (POSIX); some file systems cannot open or fsync a directory, then the rename stands."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
