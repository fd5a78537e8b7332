"""Where savepoint files are kept: a local directory, or an S3 bucket and prefix (`s3://bucket/prefix`).

Names are `savepoint_<13-digit epoch millis>_<10-digit counter>.yaml`. The millis never go backwards and the counter
grows by one per file, both seeded from the files already there, so the alphabetically last file is the newest.
A local file is written to a hidden temporary sibling, fsync'ed and renamed; an S3 object appears whole (PutObject),
so in both a reader never sees half a savepoint.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from migrator.errors import ConfigError, SavepointError

AWS_ERRORS = (BotoCoreError, ClientError)  # no credentials, no bucket, access denied, no connection, ...

NAME = re.compile(r"savepoint_(\d{13})_(\d{10})\.yaml")
MAX_COUNTER = 10**10 - 1
S3_SCHEMES = ("s3://", "s3a://")  # s3a:// as scylla-migrator (Hadoop) writes it


def savepoint_name(millis: int, counter: int) -> str:
    return f"savepoint_{millis:013d}_{counter:010d}.yaml"


class SavepointStore:
    """The naming shared by every kind of store; subclasses list, read and write the files."""

    location: str  # for messages: a directory path or an s3:// URL

    def __init__(self) -> None:
        self._millis = 0
        self._counter: int | None = None  # seeded from the store at the first write

    def names(self) -> list[str]:
        """The savepoint file names, oldest first."""
        raise NotImplementedError

    def check(self) -> None:
        """ConfigError naming savepoints.path if savepoints cannot be written there."""
        raise NotImplementedError

    def write(self, text: str):
        """Write `text` as the next savepoint; return where. SavepointError on failure."""
        raise NotImplementedError

    def read(self, name: str) -> str:
        raise NotImplementedError

    def where(self, name: str):
        raise NotImplementedError

    def newest(self):
        names = self.names()
        return self.where(names[-1]) if names else None

    def _next_name(self) -> str:
        if self._counter is None:
            self._counter = 0
            names = self.names()
            if names:
                millis, counter = NAME.fullmatch(names[-1]).groups()
                self._millis, self._counter = int(millis), int(counter)
        if self._counter >= MAX_COUNTER:
            raise SavepointError(f"savepoints.path: {self.location!r} holds a savepoint with the largest counter "
                                 f"({MAX_COUNTER}); move the old savepoints away")
        self._millis = max(self._millis, int(time.time() * 1000))
        self._counter += 1
        return savepoint_name(self._millis, self._counter)


class SavepointDir(SavepointStore):
    """A local directory of savepoint files."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path).expanduser().absolute()
        self.location = str(self.path)

    def check(self) -> None:
        """Create the directory if needed and make sure this process can write there."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(f"savepoints.path: cannot write savepoints to {self.location!r}: {reason}; "
                              "create the directory or point savepoints.path to a writable one") from None

    def names(self) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(self.path) if NAME.fullmatch(entry.name))
        except FileNotFoundError:
            return []

    def where(self, name: str) -> Path:
        return self.path / name

    def read(self, name: str) -> str:
        return (self.path / name).read_text(encoding="utf-8")

    def write(self, text: str) -> Path:
        name = self._next_name()
        final = self.path / name
        temporary = self.path / f".{name}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
            fsync_directory(self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise SavepointError(f"cannot write savepoint {str(final)!r}: {exc.strerror or exc}") from exc
        return final


def fsync_directory(path: Path) -> None:
    """Make a rename into `path` durable (POSIX); some file systems cannot open or fsync a directory, then the
    rename stands. The export target's local files use it too (exports/output.py)."""
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


class S3Savepoints(SavepointStore):
    """Savepoints under `s3://bucket/prefix`, with the AWS default credential chain and region.

    The endpoint is AWS S3's unless AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) names another, e.g. MinIO.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        rest = url.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"savepoints.path: no bucket in {url!r}; write s3://BUCKET/PREFIX")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import boto3
            import botocore.session
            from botocore.config import Config

            region = botocore.session.Session().get_config_variable("region") or "us-east-1"
            self._client = boto3.client("s3", region_name=region, config=Config(
                retries={"mode": "standard", "max_attempts": 10}, connect_timeout=15, read_timeout=60,
                s3={"addressing_style": "path"} if _custom_endpoint() else None))
        return self._client

    def check(self) -> None:
        """The bucket exists and this process may list and put objects under the prefix."""
        probe = f"{self.prefix}.write-test"
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
        except AWS_ERRORS as exc:
            raise ConfigError(f"savepoints.path: cannot write savepoints to {self.location!r}: {_reason(exc)}; "
                              "check the bucket, the AWS credential chain and its s3:ListBucket and s3:PutObject "
                              "permissions") from None
        try:
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except AWS_ERRORS:  # an empty probe object left behind harms nothing; being allowed to write is what counts
            pass

    def names(self) -> list[str]:
        names = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}savepoint_"):
            for entry in page.get("Contents", []):
                name = entry["Key"][len(self.prefix):]
                if NAME.fullmatch(name):
                    names.append(name)
        return sorted(names)

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def read(self, name: str) -> str:
        answer = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}{name}")
        return answer["Body"].read().decode("utf-8")

    def write(self, text: str) -> str:
        name = self._next_name()
        try:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{name}", Body=text.encode("utf-8"),
                                   ContentType="application/yaml")
        except AWS_ERRORS as exc:  # after botocore's own retries
            raise SavepointError(f"cannot write savepoint {self.where(name)!r}: {_reason(exc)}") from exc
        return self.where(name)


def _custom_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_store(path: str) -> SavepointStore:
    """The store for savepoints.path: `s3://bucket/prefix`, else a local directory."""
    if path.startswith(S3_SCHEMES):
        return S3Savepoints(path)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", path)
    if scheme:
        raise ConfigError(f"savepoints.path: {scheme.group(1)}:// is not supported, got {path!r}; use a local "
                          "directory or s3://BUCKET/PREFIX")
    return SavepointDir(path)


def find_savepoint(path: str) -> tuple[str, str]:
    """(where, text) of the savepoint `path` names: a savepoint file or object, else the newest under `path`."""
    if path.startswith(S3_SCHEMES):
        head, _, last = path.rstrip("/").rpartition("/")
        if NAME.fullmatch(last):
            store, name = S3Savepoints(head), last
        else:
            store = S3Savepoints(path)
            names = _names(store, path)
            name = names[-1] if names else None
        if name is None:
            raise ConfigError(f"--resume: no savepoint_*.yaml under {store.location!r}; give a savepoint or the "
                              "savepoints.path of the run to resume")
        try:
            return store.where(name), store.read(name)
        except AWS_ERRORS as exc:
            raise ConfigError(f"--resume: cannot read {store.where(name)!r}: {_reason(exc)}") from None
    target = Path(path).expanduser()
    if target.is_dir():
        newest = SavepointDir(target).newest()
        if newest is None:
            raise ConfigError(f"--resume: no savepoint_*.yaml file in {str(target)!r}; give a savepoint file or "
                              "the savepoints.path directory of the run to resume")
        target = newest
    elif not target.is_file():
        raise ConfigError(f"--resume: {str(target)!r} not found; give a savepoint file or a directory of savepoints")
    try:
        return str(target), target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--resume: cannot read {str(target)!r}: {getattr(exc, 'strerror', None) or exc}") from None


def _names(store: S3Savepoints, path: str) -> list[str]:
    try:
        return store.names()
    except AWS_ERRORS as exc:
        raise ConfigError(f"--resume: cannot list {path!r}: {_reason(exc)}") from None
