"""`asrwatch demo` sends its simulated fleet only to the collector it starts: when its port is
taken it stops, naming the port, before it touches the data directory or anything listening."""

import socket
import subprocess
import sys
import threading

from asrwatch.demo import _bind_collector_port

START = "2026-11-20T08:00:00Z"


class Listener:
    """A plain TCP listener on a free loopback port that records every byte sent to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            self.connections += 1
            with conn:
                conn.settimeout(1.0)
                try:
                    while chunk := conn.recv(65536):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_demo_stops_when_its_port_is_taken_and_sends_nothing_there(tmp_path):
    data_dir = tmp_path / "asrwatch-data"
    data_dir.mkdir()
    (data_dir / "demo.db").write_bytes(b"another demo's database")  # the demo holding the port
    listener = Listener()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "asrwatch", "demo", "--headless", "--lockstep", "--start", START, "--hours", "1",
             "--rate", "20", "--probe-limit", "0", "--port", str(listener.port), "--data-dir", str(data_dir)],
            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    finally:
        listener.close()
    assert result.returncode != 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"port {listener.port} on 127.0.0.1 is not free" in result.stderr, result.stderr
    assert "--port 0" in result.stderr  # and how to get past it
    assert listener.connections == 0 and listener.received == b""  # no request, no session
    assert "asrwatch demo summary" not in result.stdout and "Traceback" not in result.stderr
    assert (data_dir / "demo.db").read_bytes() == b"another demo's database"  # left alone


def test_port_zero_takes_a_free_port_and_holds_it():
    sock = _bind_collector_port(0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.listen()
            try:
                other.bind(("127.0.0.1", port))
                taken = False
            except OSError:
                taken = True
        assert taken  # nobody else gets the port between the check and the server
    finally:
        sock.close()
