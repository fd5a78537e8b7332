"""Fakes at the client boundary, for unit tests of logic only."""

from __future__ import annotations

import threading
import zlib

from migrator.api_client import dumps, loads


class FakeResponse:
    def __init__(self, status: int, doc, *, crc: int | None = None) -> None:
        self.status = status
        self.data = doc if isinstance(doc, bytes) else dumps(doc)
        self.headers = {"x-amz-crc32": str(zlib.crc32(self.data) if crc is None else crc)}


class FakePool:
    """Stands in for urllib3.PoolManager: answers each request with the next scripted answer."""

    def __init__(self, answers) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict]] = []

    def request(self, method, url, body=None, headers=None, preload_content=True, **kwargs):
        self.requests.append((headers["X-Amz-Target"].split(".")[-1], loads(body)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeApi:
    """Stands in for DynamoApi in writer tests: `handler(operation, request) -> answer dict`."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def call_sized(self, operation, request):
        answer = self.call(operation, request)
        return answer, len(dumps(answer))

    def call(self, operation, request):
        doc = loads(request) if isinstance(request, bytes) else loads(dumps(request))  # as sent, not as mutated later
        with self._lock:
            self.calls.append((operation, doc))
        return self.handler(operation, doc)
