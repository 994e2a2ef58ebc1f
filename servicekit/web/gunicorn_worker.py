"""gunicorn's gthread worker whose own error answers are problem+json, like the application's.

gunicorn answers what it refuses before the application sees it (a request line over
`limit_request_line`: 414; too many or too large header fields: 431; a malformed request line
or header: 400) with a small HTML page. Every API here answers errors as RFC 9457 problem
details (servicekit/web/errors.py), and a client that parses them met HTML instead. The
services' Procfile lines name this worker (`--worker-class
servicekit.web.gunicorn_worker.ProblemThreadWorker`); gunicorn still decides status, reason and
message, and logs as before.

Serving TLS (`servicekit.web.tls.gunicorn_args`), it answers gunicorn's per-connection request
for the SSL context with `GunicornServerContext`: built again only when a file changed, and never
from a key and certificate a rotation swapped between OpenSSL's two reads of the pair. A context
that cannot be built (files unreadable or not matching) closes the connection with an error in
the log, where gunicorn wrote a plain-text 400 to the TLS client and blamed its request.

It also freezes what the application loaded before the worker serves
(`servicekit.web.commands.freeze_startup_heap`): full collections then walk only what requests
left, not Django's and the application's modules.
"""

from __future__ import annotations

import ssl

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from servicekit.web.commands import freeze_startup_heap
from servicekit.web.problems import problem_response
from servicekit.web.tls import GunicornServerContext


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """`gunicorn.util.write_error`'s signature, a problem+json body."""
    util.write_nonblock(sock, problem_response(status_int, reason, mesg))


class ProblemThreadWorker(ThreadWorker):
    def init_process(self):
        # gunicorn's workers write their error answers through this one function.
        util.write_error = write_problem
        if self.cfg.is_ssl:
            self.cfg.set("ssl_context", GunicornServerContext())
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        freeze_startup_heap()

    def handle_error(self, req, client, addr, exc):
        if self.cfg.is_ssl and not isinstance(client, ssl.SSLSocket):
            # TLS was never set up on this connection: the server's context could not be built
            # (its certificate, key or CA file unreadable or not matching). gunicorn would answer
            # a 400 in plain text, which a TLS client reads as garbage ("wrong version number"),
            # and log it as the client's invalid request. The fault is the server's: say so, and
            # close the connection.
            self.log.error("TLS could not be set up for a connection from %s: %s", addr, exc)
            util.close(client)
            return
        super().handle_error(req, client, addr, exc)
