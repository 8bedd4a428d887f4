# flags: --env PORT={port}
# stdout: connect: OSError
# stdout: create_connection: AttributeError
# stdout: bind: OSError
# sandbox-only: no network (WASI preview 1 has no sockets: ENOTSUP)
# The harness listens on PORT on 127.0.0.1 and fails if anything connects.
import os
import socket

port = int(os.environ["PORT"])
try:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect(("127.0.0.1", port))
    print("connected!")
except OSError as exc:
    print("connect:", type(exc).__name__)
try:
    socket.create_connection(("localhost", port), timeout=1)
    print("connected!")
except Exception as exc:  # this build's `_socket` has no getaddrinfo: AttributeError
    print("create_connection:", type(exc).__name__)
try:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    print("listening!")
except OSError as exc:
    print("bind:", type(exc).__name__)
