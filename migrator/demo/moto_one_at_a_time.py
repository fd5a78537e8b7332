"""moto's server, handling one request at a time: ``python moto_one_at_a_time.py -H 127.0.0.1 -p PORT``.

moto_server runs requests in parallel threads over unlocked dicts: two BatchWriteItem requests that create the
same new partition key at once can both create its inner dict in ``Table.items`` (a ``defaultdict(dict)``), and
the items of one of them are lost although both were acknowledged (tests/tools/moto_race.py reproduces it). Here
moto's WSGI application runs under one lock; werkzeug's threaded server still accepts many connections at once
(and, as for moto_server, answers each request with Connection: close), so clients see the same server, only
never two requests inside moto at once.

Run as a script (start_moto does), so that it needs only moto and werkzeug, not this package.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


class OneRequestAtATime:
    """A WSGI application that runs ``app`` under a lock, its whole answer included."""

    def __init__(self, app) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            answer = self._app(environ, start_response)
            try:
                return [b"".join(answer)]  # the body is produced inside the lock too
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="moto's server, one request at a time")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does: moto builds some URLs from it
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server: an exception inside moto is answered with its traceback
    # threaded=True, as moto_server: many connections accepted at once, served one request at a time by the lock.
    run_simple(args.host, args.port, OneRequestAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
