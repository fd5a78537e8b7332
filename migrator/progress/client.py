"""The task side's line connection to the driver's progress server: send one line, read the one-line answer."""

from __future__ import annotations

import socket

from migrator.progress import ProgressAddress

ANSWER_BYTES = 64  # the server's answers (`ok`, `refused`, `tasks N`) are a few bytes


class LineConnection:
    """One connection, opened on first use; `close` forgets it, so the next `ask` opens a new one."""

    def __init__(self, address: ProgressAddress | None, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reader = None

    @property
    def is_open(self) -> bool:
        return self.sock is not None

    def ask(self, line: bytes) -> bytes:
        """The driver's answer line to `line` (b"" when it closed the connection); OSError when the connection fails."""
        if self.sock is None:
            self.sock = socket.create_connection((self.address.host, self.address.port), timeout=self.timeout)
            self.reader = self.sock.makefile("rb")
        self.sock.sendall(line)
        return self.reader.readline(ANSWER_BYTES)

    def close(self) -> None:
        sock, reader, self.sock, self.reader = self.sock, self.reader, None, None
        for closable in (reader, sock):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass  # closing a broken connection: the caller already knows how its last line went


def unexpected_answer(answer: bytes) -> ConnectionError:
    """The error for an answer that is not the one expected, or for none (the driver closed the connection)."""
    return ConnectionError(f"the driver answered {answer.decode('ascii', 'replace').strip()!r}"
                           if answer else "the driver closed the connection")
