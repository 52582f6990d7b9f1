#!/usr/bin/env python3
"""tests/e2e/pyserver.py — the Python server the end-to-end tests and the
demo instrument: http.server's ThreadingHTTPServer and
SimpleHTTPRequestHandler speaking HTTP/1.1 (keep-alive), plus POST (with a
Content-Length or a chunked body), a /slow route that answers after a
known delay, so a duration has a known bucket, and a /chunked route whose
body has no length (chunked, or close-delimited for HTTP/1.0).

  pyserver.py PORT DOCROOT [SLOW_SECONDS]
"""

import http.server
import sys
import time

SLOW = 0.3


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answer a request line too broken to name its version with a status
    # line (the default, HTTP/0.9, sends a bare body nobody could label).
    default_request_version = "HTTP/1.1"

    def _reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/slow":
            time.sleep(SLOW)
            return self._reply(200, b"slept\n")
        if path == "/chunked":
            return self._chunked()
        return super().do_GET()

    def _chunked(self):
        # A body of unknown length: chunked to an HTTP/1.1 client, ended by
        # the close for an HTTP/1.0 one.
        parts = [b"first part\n", b"second, longer part\n" * 3, b"last\n"]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if self.request_version == "HTTP/1.1":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for p in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            for p in parts:
                self.wfile.write(p)

    def do_POST(self):
        n = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                n += len(self.rfile.read(size))
                self.rfile.readline()
        else:
            n = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self._reply(200, b"received %d bytes for %s\n" % (n, self.path.encode()))


def main():
    global SLOW
    port, root = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3:
        SLOW = float(sys.argv[3])

    def handler(*a, **kw):
        return Handler(*a, directory=root, **kw)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
