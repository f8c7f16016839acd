"""Just enough HTTP/1.1 for the DPS front and the control API: read a request, write an answer.

The control API answers `Connection: close` and closes after it, so a client can read to EOF;
DPS keeps the connection for the next request, as HTTP/1.1 and the real service do. Header names
are case-insensitive. Bodies come with Content-Length (or chunked).
"""

import asyncio
import json
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_LINE = 8192
MAX_HEADERS = 100
DISCARD_MAX = 1 << 20  # a body over the limit but under this is read before the 413


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Request:
    method = target = path = version = ""
    query = headers = None
    body = b""

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def keep_alive(self):
        """HTTP/1.1 keeps the connection unless the client says close; HTTP/1.0 closes it."""
        conn = self.header("connection", "").lower()
        return self.version == "HTTP/1.1" and "close" not in conn

    def json(self):
        """The body as JSON; HttpError 400 when it is not."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # too deep to parse: refused
            raise HttpError(400, "body is not JSON") from None


async def _line(reader):
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise HttpError(431, "line too long") from None
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            raise EOFError from None
        raise HttpError(400, "connection closed mid-line") from None
    if len(line) > MAX_LINE:
        raise HttpError(431, "line too long")
    try:
        return line.decode("latin-1").rstrip("\r\n")
    except UnicodeDecodeError:
        raise HttpError(400, "bad bytes in request head") from None


async def read_request(reader, max_body):
    """Read one request. EOFError when the peer closed before sending anything."""
    line = await _line(reader)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise HttpError(400, "bad request line")
    req = Request()
    req.method, req.target, req.version = parts
    u = urlsplit(req.target)
    req.path = unquote(u.path)
    req.raw_path = u.path
    req.query = dict(parse_qsl(u.query, keep_blank_values=True))
    req.headers = {}
    for _ in range(MAX_HEADERS + 1):
        line = await _line(reader)
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "bad header line")
        req.headers[name.lower()] = value.strip()
    else:
        raise HttpError(431, "too many headers")
    te = req.header("transfer-encoding", "").lower()
    if te:
        if te != "chunked":
            raise HttpError(501, "unsupported transfer-encoding")
        req.body = await _read_chunked(reader, max_body)
    else:
        cl = req.header("content-length")
        n = 0
        if cl is not None:
            if not cl.isdigit():
                raise HttpError(400, "bad content-length")
            n = int(cl)
        if n > max_body:
            if n <= DISCARD_MAX:  # read it first, so the client sees the answer, not a reset
                try:
                    await reader.readexactly(n)
                except asyncio.IncompleteReadError:
                    pass
            raise HttpError(413, "body too large")
        try:
            req.body = await reader.readexactly(n) if n else b""
        except asyncio.IncompleteReadError:
            raise HttpError(400, "body shorter than content-length") from None
    return req


async def _read_chunked(reader, max_body):
    out = bytearray()
    while True:
        size = (await _line(reader)).split(";")[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            raise HttpError(400, "bad chunk size") from None
        if n == 0:
            while await _line(reader):
                pass
            return bytes(out)
        if len(out) + n > max_body:
            raise HttpError(413, "body too large")
        try:
            out += await reader.readexactly(n)
            await reader.readexactly(2)
        except asyncio.IncompleteReadError:
            raise HttpError(400, "truncated chunk") from None


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def response(status, body=b"", headers=(), content_type="application/json; charset=utf-8",
             keep=False):
    """Bytes of a whole answer. body: bytes, str, or an object sent as JSON. keep: the connection
    stays open for another request (no `Connection: close`)."""
    if not isinstance(body, (bytes, bytearray, str)):
        body = json.dumps(body, separators=(",", ":"))
    if isinstance(body, str):
        body = body.encode()
    head = ["HTTP/1.1 {} {}".format(status, reason(status))]
    if body or status not in (204, 304):
        head.append("Content-Type: " + content_type)
        head.append("Content-Length: {}".format(len(body)))
    head.extend("{}: {}".format(k, v) for k, v in headers)
    if not keep:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + bytes(body)


async def close(writer):
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError, AttributeError):
        pass
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except (OSError, asyncio.TimeoutError, ConnectionError):
        pass
