# tests/pitfalls/progs/pysub.py — Python's http.server (HTTP/1.1) whose
# /sub route runs a subprocess, as many Python services do: CPython's
# subprocess starts it with vfork and closes every inherited fd in the
# child with close_range before exec.
import http.server
import subprocess
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n"
        if self.path == "/sub":
            body = subprocess.run(["echo", "sub"], check=True, capture_output=True).stdout
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
