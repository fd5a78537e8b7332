"""Fakes at the client boundary, for unit tests of logic only."""

from __future__ import annotations

import builtins
import importlib
import threading
import zlib

from migrator.codec import dumps, loads
from migrator.dynamo.http_pool import Response


def FakeResponse(status: int, doc, *, crc: int | None = None) -> Response:
    """An answer with `doc` (a dict, or bytes as they are) as its body and its CRC32 header (or `crc`)."""
    body = doc if isinstance(doc, bytes) else dumps(doc)
    return Response(status, {"x-amz-crc32": str(zlib.crc32(body) if crc is None else crc)}, body)


class FakePool:
    """Stands in for HttpPool: answers each request with the next scripted answer (or raises it)."""

    def __init__(self, answers) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict]] = []

    def post(self, url, headers, body):
        self.requests.append((dict(headers)["X-Amz-Target"].split(".")[-1], loads(body)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


class _ApiShape:
    """DynamoApi's shape: `call` (recording each request as sent) and a context that closes it. Subclasses
    answer in `_answer(operation, request) -> answer dict`."""

    closed = False
    url = "fake"
    throttled_retries = other_retries = 0  # DynamoApi's retry counters

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def call(self, operation, request, decode=None, *, table=None):
        doc = loads(request) if isinstance(request, bytes) else loads(dumps(request))  # as sent, not as mutated later
        with self._lock:
            self.calls.append((operation, doc))
        answer = self._answer(operation, doc)
        return answer if decode is None else decode(dumps(answer))


class FakeApi(_ApiShape):
    """Stands in for DynamoApi in writer tests: `handler(operation, request) -> answer dict`."""

    def __init__(self, handler) -> None:
        super().__init__()
        self.handler = handler

    def _answer(self, operation, doc):
        return self.handler(operation, doc)


class FakeDynamo(_ApiShape):
    """An in-memory DynamoDB speaking Scan, BatchGetItem and BatchWriteItem in wire format, for task-logic tests.

    `tables` maps a table name to (key names, items). Scan pages hold at most `page_size` items; an item's segment
    is a hash of its key, so every TotalSegments splits a table. `fail_on` names an operation that is refused.
    """

    def __init__(self, tables: dict, page_size: int = 7, fail_on: str | None = None) -> None:
        from migrator.items import key_id

        self._key_id = key_id
        self.keys = {name: tuple(keys) for name, (keys, _) in tables.items()}
        self.items = {name: {key_id(i, keys): i for i in items} for name, (keys, items) in tables.items()}
        self.page_size = page_size
        self.fail_on = fail_on
        super().__init__()

    def _answer(self, operation, doc):
        from migrator.errors import RequestError

        with self._lock:  # writer threads call at once
            if operation == self.fail_on:
                raise RequestError(f"{operation} was refused: ValidationException: injected")
            return getattr(self, "_" + operation)(doc)

    def segment_of(self, table: str, item: dict, total: int) -> int:
        return zlib.crc32(self._key_id(item, self.keys[table]).encode()) % total

    def _Scan(self, doc):
        table, total = doc["TableName"], doc["TotalSegments"]
        chosen = sorted((k, i) for k, i in self.items[table].items()
                        if self.segment_of(table, i, total) == doc["Segment"])
        start = self._key_id(doc["ExclusiveStartKey"], self.keys[table]) if "ExclusiveStartKey" in doc else None
        chosen = [i for k, i in chosen if start is None or k > start]
        page = chosen[: min(self.page_size, doc.get("Limit", self.page_size))]
        answer = {"Items": [self._project(i, doc) for i in page]}
        if len(page) < len(chosen):
            answer["LastEvaluatedKey"] = {k: page[-1][k] for k in self.keys[table]}
        return answer

    def _BatchGetItem(self, doc):
        (table, request), = doc["RequestItems"].items()
        stored = self.items[table]
        found = [stored[self._key_id(k, self.keys[table])] for k in request["Keys"]
                 if self._key_id(k, self.keys[table]) in stored]
        return {"Responses": {table: [self._project(i, request) for i in found]}, "UnprocessedKeys": {}}

    def _BatchWriteItem(self, doc):
        (table, requests), = doc["RequestItems"].items()
        for r in requests:
            if "PutRequest" in r:
                item = r["PutRequest"]["Item"]
                self.items[table][self._key_id(item, self.keys[table])] = item
            else:
                self.items[table].pop(self._key_id(r["DeleteRequest"]["Key"], self.keys[table]), None)
        return {"UnprocessedItems": {}}

    @staticmethod
    def _project(item, doc):
        if "ProjectionExpression" not in doc:
            return item
        names = [doc["ExpressionAttributeNames"][p.strip()] for p in doc["ProjectionExpression"].split(",")]
        return {n: item[n] for n in names if n in item}


class FakeStream(_ApiShape):
    """An in-memory DynamoDB Stream speaking GetShardIterator and GetRecords, for replay tests.

    `add(shard, event, keys, image)` appends a record (sequence numbers rise over the whole stream); `close(shard)`
    ends a shard: its last page then has no NextShardIterator. Iterators are "shard|position|generation";
    `expire()` makes every iterator handed out so far answer ExpiredIteratorException, `trim(shard, count)` drops a
    shard's oldest records (reading them, or after one, answers TrimmedDataAccessException)."""

    def __init__(self, page_size: int = 1000) -> None:
        super().__init__()
        self.page_size = page_size
        self.records: dict[str, list[dict]] = {}
        self.trimmed: dict[str, int] = {}  # records dropped from the shard's start
        self.closed_shards: set[str] = set()
        self.parents: dict[str, str | None] = {}
        self.generation = 0
        self._sequence = 100
        self.null_iterator_after_end = False  # GetShardIterator answers null past a closed shard's last record
        self.gone: set[str] = set()  # shards answering ResourceNotFoundException

    def shard(self, shard: str, parent: str | None = None) -> None:
        self.records.setdefault(shard, [])
        self.parents.setdefault(shard, parent)

    def add(self, shard: str, event: str, keys: dict, image: dict | None = None, created: float = 1.7e9) -> str:
        self.shard(shard)
        self._sequence += 1
        data = {"Keys": keys, "SequenceNumber": f"{self._sequence:021d}", "SizeBytes": 10,
                "ApproximateCreationDateTime": created, "StreamViewType": "NEW_IMAGE"}
        if image is not None:
            data["NewImage"] = image
        self.records[shard].append({"eventID": str(self._sequence), "eventName": event, "eventVersion": "1.1",
                                    "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": data})
        return data["SequenceNumber"]

    def close(self, shard: str) -> None:
        self.closed_shards.add(shard)

    def expire(self) -> None:
        self.generation += 1

    def trim(self, shard: str, count: int) -> None:
        self.trimmed[shard] = self.trimmed.get(shard, 0) + count

    def _answer(self, operation, doc):
        from migrator.errors import RequestError

        with self._lock:
            if operation == "GetShardIterator":
                shard, kind = doc["ShardId"], doc["ShardIteratorType"]
                if shard in self.gone:
                    raise RequestError(f"GetShardIterator was refused: ResourceNotFoundException: shard {shard}",
                                       code="ResourceNotFoundException", status=400)
                position = self.trimmed.get(shard, 0)
                if kind == "AFTER_SEQUENCE_NUMBER":
                    sequences = [r["dynamodb"]["SequenceNumber"] for r in self.records[shard]]
                    position = sequences.index(doc["SequenceNumber"]) + 1
                if (self.null_iterator_after_end and shard in self.closed_shards
                        and position >= len(self.records[shard])):
                    return {"ShardIterator": None}
                return {"ShardIterator": self._iterator(shard, position)}
            shard, position, generation = doc["ShardIterator"].split("|")
            position = int(position)
            if int(generation) < self.generation:
                raise RequestError("GetRecords was refused: ExpiredIteratorException: Iterator expired",
                                   code="ExpiredIteratorException", status=400)
            self._check_trim(shard, position)
            page = self.records[shard][position:position + self.page_size]
            answer = {"Records": page}
            end = position + len(page)
            if not (shard in self.closed_shards and end == len(self.records[shard])):
                answer["NextShardIterator"] = self._iterator(shard, end)
            return answer

    def _iterator(self, shard: str, position: int) -> str:
        self._check_trim(shard, position)
        return f"{shard}|{position}|{self.generation}"

    def _check_trim(self, shard: str, position: int) -> None:
        from migrator.errors import RequestError

        if position < self.trimmed.get(shard, 0):
            raise RequestError("GetRecords was refused: TrimmedDataAccessException: the records are trimmed",
                               code="TrimmedDataAccessException", status=400)


def both_decoders(module, param: str, monkeypatch):
    """For a fixture with params ["msgspec", "json"]: yield `module` as imported, or reloaded as an environment
    without msgspec has it (the stdlib json fallback), then reloaded back."""
    if param == "msgspec":
        yield module
        return
    real_import = builtins.__import__

    def without_msgspec(name, *args, **kwargs):
        if name == "msgspec":
            raise ImportError("hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_msgspec)
    fallback = importlib.reload(module)
    assert fallback.msgspec is None
    monkeypatch.undo()
    yield fallback
    importlib.reload(module)
