"""tests/shim/progs/http_get.py — what the exporter tests' Python parts
share: one HTTP/1.0 GET to the server under test, read to its end (each
new path makes a series)."""
import socket


def get(port, path):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
    while s.recv(65536):
        pass
    s.close()
