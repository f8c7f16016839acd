# Control client for the emulator, for MicroPython test scripts (unix port).
# call("GET", "/devices/dev1") -> (200, {...}); host:port comes from $IOTC_EMU_CONTROL.
import json
import os
import socket


def _addr():
    hp = os.getenv("IOTC_EMU_CONTROL") or "127.0.0.1:8080"
    i = hp.rindex(":")
    return socket.getaddrinfo(hp[:i].strip("[]"), int(hp[i + 1:]))[0][-1]


def call(method, path, body=None):
    # body: made JSON here, or bytes sent as they are (JSON made by the caller)
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    s = socket.socket()
    try:
        s.connect(_addr())
        head = "{} {} HTTP/1.1\r\nHost: emu\r\nConnection: close\r\nContent-Type: application/json"
        head += "\r\nContent-Length: {}\r\n\r\n"
        s.write(head.format(method, path, len(data)).encode() + data)
        raw = b""
        while True:
            b = s.read(256)  # small reads: this runs inside the heap being measured
            if not b:
                break
            raw += b
    finally:
        s.close()
    i = raw.find(b"\r\n\r\n")
    status = int(raw[:i].split(b" ")[1])
    text = raw[i + 4:]
    return status, (json.loads(text) if text else None)
