# iotc tests: a seeded TCP fault proxy between a device and the emulator (cuts, resets, stalls)
# MIT license; Copyright (c) 2026 the iotc authors
"""Forward TCP between a device and a service on loopback, and break connections on purpose.

Each accepted connection n draws its plan from random.Random("{seed}/{name}/{n}"), so connection
n gets the same plan in a replay, however the connections before it went. With probability
`rate` it gets a fault: a direction ("up": device to service, "down": back), a byte offset in
that direction (below `span`; one first fault in four lands inside the first `handshake` bytes,
so that TLS handshakes and CONNECT are cut too) and a kind:

  close          both sides closed (FIN) at that byte
  rst            both sides reset (RST, SO_LINGER 0)
  stall-close    nothing forwarded either way for a while (`stall` seconds), then closed
  stall-rst      the same, then reset
  stall-resume   the same, then forwarding goes on (and the connection draws its next fault)

Every fault is counted by kind and logged as (connection, direction, offset, kind, seconds).
Bounded: at most `max_faults` faults and `max_conns` connections; it stops by itself after
`lifetime` seconds. Loopback addresses only.

    with FaultProxy(("127.0.0.5", 8883), ("127.0.0.9", 8883), seed=7) as p:
        ...  # the device dials 127.0.0.5:8883
    print(p.faults, p.log)

As a command, for replaying a seed by hand:
    python tests_host/faultproxy.py LISTEN_HOST:PORT TARGET_HOST:PORT --seed 7
"""

import argparse
import collections
import ipaddress
import random
import select
import socket
import struct
import threading
import time

KINDS = ("close", "rst", "stall-close", "stall-rst", "stall-resume")
DIRECTIONS = ("up", "down")
CHUNK = 16384

Fault = collections.namedtuple("Fault", "conn direction offset kind seconds")


def _fmt(f):
    stall = " {:.1f} s".format(f.seconds) if f.seconds else ""
    return "conn {} {}@{} {}{}".format(f.conn, f.direction, f.offset, f.kind, stall)


Fault.__str__ = _fmt


def _loopback(addr):
    if not ipaddress.ip_address(addr[0]).is_loopback:
        raise ValueError("faultproxy: loopback addresses only, not " + addr[0])
    return addr


class FaultProxy:
    # The defaults suit a device on the emulator: a fault every 20 or so QoS 1 messages, cuts
    # inside a connect (measured: the device sends about 800 B up to the twin GET, TLS handshake
    # included, the hub about 1,500 B back), stalls on both sides of the library's 10 s timeouts.
    def __init__(self, listen, target, seed, name="proxy", rate=1.0, span=(6000, 4000),
                 handshake=(800, 1500), stall=(0.5, 12.0), up=0.6, max_faults=1000,
                 max_conns=2000, lifetime=600.0):
        self.listen, self.target = _loopback(listen), _loopback(target)
        self.seed, self.name, self.rate = seed, name, rate
        self.span, self.handshake, self.stall, self.up = span, handshake, stall, up
        self.max_faults, self.max_conns = max_faults, max_conns
        self.deadline = time.monotonic() + lifetime
        self.log = []  # Fault, in the order injected
        self.faults = collections.Counter()  # kind -> count
        self.conns = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(self.listen)
        self._srv.listen(16)
        self.listen = self._srv.getsockname()  # the port, when 0 was asked for
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def total(self):
        return sum(self.faults.values())

    def summary(self):
        kinds = ", ".join("{} {}".format(k, self.faults[k]) for k in KINDS if self.faults[k])
        return "{} {} ({})".format(self.name, self.total(), kinds or "none")

    def close(self):
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _plan(self, rng, counts):
        # -> the next Fault for this connection (offset absolute in its direction), or None.
        if rng.random() >= self.rate:
            return None
        d = 0 if rng.random() < self.up else 1
        fresh = counts[d] == 0 and rng.random() < 0.25
        offset = counts[d] + rng.randrange(self.handshake[d] if fresh else self.span[d])
        kind = rng.choice(KINDS)
        seconds = round(rng.uniform(*self.stall), 1) if kind.startswith("stall") else 0
        return Fault(None, DIRECTIONS[d], offset, kind, seconds)

    def _accept(self):
        try:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                if not select.select([self._srv], [], [], 0.2)[0]:
                    continue
                dev, _ = self._srv.accept()
                if self.conns >= self.max_conns:
                    dev.close()
                    continue
                self.conns += 1
                t = threading.Thread(target=self._serve, args=(self.conns, dev), daemon=True)
                self._threads.append(t)
                t.start()
        finally:
            self._stop.set()
            self._srv.close()

    def _serve(self, n, dev):
        try:
            svc = socket.create_connection(self.target, timeout=10)
        except OSError:
            dev.close()
            return
        for s in (dev, svc):
            s.settimeout(30)  # a peer that stops reading cannot hold this thread for ever
        try:
            self._pump(n, dev, svc)
        except OSError:
            pass
        finally:
            dev.close()
            svc.close()

    def _pump(self, n, dev, svc):
        rng = random.Random("{}/{}/{}".format(self.seed, self.name, n))
        counts = [0, 0]
        plan = self._plan(rng, counts)
        route = {dev: (svc, 0), svc: (dev, 1)}
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            for s in select.select([dev, svc], [], [], 0.2)[0]:
                data = s.recv(CHUNK)
                if not data:
                    return
                other, d = route[s]
                if plan is None or DIRECTIONS[d] != plan.direction or \
                        counts[d] + len(data) < plan.offset:
                    other.sendall(data)
                    counts[d] += len(data)
                    continue
                k = plan.offset - counts[d]
                other.sendall(data[:k])
                if not self._inject(plan._replace(conn=n)):
                    plan = None  # over the bound: forward everything from now on
                elif plan.kind.startswith("stall"):
                    self._stop.wait(plan.seconds)
                if plan and plan.kind != "stall-resume":
                    if plan.kind.endswith("rst"):
                        for x in (dev, svc):
                            x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))
                    return
                other.sendall(data[k:])
                counts[d] += len(data)
                if plan:
                    plan = self._plan(rng, counts)

    def _inject(self, fault):
        with self._lock:
            if self.total() >= self.max_faults:
                return False
            self.faults[fault.kind] += 1
            self.log.append(fault)
            return True


def _addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main():
    p = argparse.ArgumentParser(description="Seeded TCP fault proxy (loopback only).")
    p.add_argument("listen", type=_addr)
    p.add_argument("target", type=_addr)
    p.add_argument("--seed", default="1")
    p.add_argument("--name", default="proxy")
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--lifetime", type=float, default=600.0)
    a = p.parse_args()
    with FaultProxy(a.listen, a.target, a.seed, a.name, a.rate, lifetime=a.lifetime) as px:
        shown = 0
        while not px._stop.wait(0.5):
            for f in px.log[shown:]:
                print(f, flush=True)
            shown = len(px.log)
    print(px.summary())


if __name__ == "__main__":
    main()
