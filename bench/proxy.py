"""A counting TCP proxy on loopback: the bytes that leave the client, TLS records included.

The bench puts it between both clients and the emulator's hub (the emulator advertises the
proxy's address as the hub; see run.py), so it sees exactly what would cross the radio.
"""

import socket
import threading
import time


class CountingProxy:
    def __init__(self, listen, target):
        self.listen = listen  # (host, port)
        self.target = target  # (host, port)
        self.up = 0  # client -> server bytes
        self.down = 0  # server -> client bytes
        self.connections = 0
        self._lock = threading.Lock()
        self._socks = []
        self._stop = False
        self._srv = None

    def start(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(self.listen)
        srv.listen(16)
        srv.settimeout(0.2)
        self._srv = srv
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self._srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=10)
            except OSError:
                c.close()
                continue
            with self._lock:
                self.connections += 1
                self._socks += [c, s]
            for a, b, up in ((c, s, True), (s, c, False)):
                threading.Thread(target=self._pipe, args=(a, b, up), daemon=True).start()

    def _pipe(self, src, dst, up):
        src.settimeout(None)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def counts(self):
        with self._lock:
            return self.up, self.down

    def quiet(self, idle=0.3, limit=10.0):
        """Wait until no byte has moved for `idle` seconds (at most `limit`); return counts()."""
        end = time.monotonic() + limit
        last = self.counts()
        still = time.monotonic()
        while time.monotonic() < end:
            time.sleep(0.05)
            now = self.counts()
            if now != last:
                last, still = now, time.monotonic()
            elif time.monotonic() - still >= idle:
                break
        return last

    def stop(self):
        self._stop = True
        if self._srv:
            self._srv.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
