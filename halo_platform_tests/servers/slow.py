"""A loopback server whose first connections are answered slowly: a line at a time, each within a
client's read timeout, slower than it in total (the clients' timeouts hold for each read). What a
slow connection is sent, and what a later one is, is the subclass's `answer`."""

from __future__ import annotations

import socket
import threading


class SlowServer:
    """Accepts on a free port of 127.0.0.1 (`port`); its first `slow` connections are answered
    with `slow=True`, `lines` lines `every` seconds apart being what the subclass sends them."""

    def __init__(self, slow: int = 1, every: float = 0.5, lines: int = 40) -> None:
        self.slow, self.every, self.lines = slow, every, lines
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            self.connections += 1
            threading.Thread(target=self.answer, args=(conn, self.connections <= self.slow), daemon=True).start()

    def answer(self, conn: socket.socket, slow: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
