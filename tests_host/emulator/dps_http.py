"""DPS over HTTPS (PROTOCOL.md §1.1): the three REST calls a device makes.

  PUT  /{idScope}/registrations/{regId}/register?api-version=..   202 assigning (+Retry-After)
  GET  /{idScope}/registrations/{regId}/operations/{opId}?api-version=..   202 / 200 assigned
  POST /{idScope}/registrations/{regId}?api-version=..   200 registrationState (status lookup)

The connection stays open between requests (HTTP/1.1 persistence, as the service keeps it), so
a device can poll on the connection it registered on; it closes when the client asks
(`Connection: close`, HTTP/1.0), after a request it cannot frame, or after IDLE seconds without
one. The `dps_malformed` fault breaks the next answer on purpose (and closes after it):
  truncated   the body is shorter than its Content-Length, then the connection closes
  chunked     valid chunked transfer-encoding instead of Content-Length
  no_headers  the status line, then the body at once: no headers, no blank line
  bad_json    Content-Length right, JSON broken
  no_status   headers and body without a status line
"""

import asyncio

from . import certs, httpio
from .dps import MAX_BODY, Reply, api_version_error
from .errors import error_body

MALFORMED_KINDS = ("truncated", "chunked", "no_headers", "bad_json", "no_status")
IDLE = 60.0  # seconds a kept connection may wait for its next request (chosen; see README)



class DpsHttp:
    def __init__(self, state, dps, log):
        self.state, self.dps, self.log = state, dps, log

    async def serve(self, reader, writer):
        peer = writer.get_extra_info("peername")
        try:
            while await self.answer(reader, writer, peer):
                pass
        except (ConnectionError, OSError) as e:
            self.log("dps-https {}: connection error: {!r}".format(peer, e))
        except Exception as e:  # never let one request take the service down
            self.state.internal_error("dps_http", e)
            self.log("dps-https {}: INTERNAL ERROR {!r}".format(peer, e))
        finally:
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                pass
            await httpio.close(writer)

    async def answer(self, reader, writer, peer):
        """Read one request and answer it -> True when the connection stays open for another."""
        try:
            req = await asyncio.wait_for(httpio.read_request(reader, MAX_BODY), IDLE)
        except EOFError:
            return False
        except asyncio.TimeoutError:
            self.log("dps-https {}: no complete request in {:.0f} s, closing".format(peer, IDLE))
            return False
        except httpio.HttpError as e:
            self.log("dps-https {}: bad request: {}".format(peer, e))
            writer.write(httpio.response(e.status, error_body(e.status * 1000, str(e))))
            return False
        reply = self.route(req, certs.peer_cert(writer))
        self.log("dps-https {} {} -> {}".format(req.method, req.raw_path, reply.status))
        keep = req.keep_alive() and not self.state.faults.dps_malformed
        writer.write(self.encode(reply, keep))
        await writer.drain()
        return keep

    def route(self, req, cert=None):
        parts = req.path.strip("/").split("/")
        if len(parts) < 3 or parts[1] != "registrations":
            return Reply(404, error_body(404000, "no such resource"))
        scope, reg_id, rest = parts[0], parts[2], parts[3:]
        bad = api_version_error(req.query.get("api-version"))
        if bad:
            return Reply(bad.status, error_body(bad.code, str(bad)))
        token = req.header("authorization")
        if req.method == "PUT" and rest == ["register"]:
            return self.dps.handle("register", scope, reg_id, token, req.body, cert=cert)
        if req.method == "GET" and len(rest) == 2 and rest[0] == "operations":
            return self.dps.handle("poll", scope, reg_id, token, op_id=rest[1], cert=cert)
        if req.method == "POST" and not rest:
            return self.dps.handle("lookup", scope, reg_id, token, req.body, cert=cert)
        if rest in ([], ["register"]) or (len(rest) == 2 and rest[0] == "operations"):
            return Reply(405, error_body(405000, "method not allowed"))
        return Reply(404, error_body(404000, "no such resource"))

    def encode(self, reply, keep):
        body = reply.json()
        if isinstance(reply.body, dict) and "errorCode" in reply.body:
            headers = [("x-ms-error-code", str(reply.body["errorCode"]))]
        else:
            headers = []
        if reply.retry_after is not None:
            headers.append(("Retry-After", str(int(reply.retry_after))))
        kind = self.state.faults.dps_malformed
        if not kind:
            return httpio.response(reply.status, body, headers, keep=keep)
        self.state.faults.dps_malformed = None
        self.state.events.add("fault", kind="dps_malformed", mode=kind)
        status_line = "HTTP/1.1 {} {}\r\n".format(reply.status, httpio.reason(reply.status))
        status_line = status_line.encode()
        if kind == "truncated":
            full = httpio.response(reply.status, body, headers)
            return full[: len(full) - max(1, len(body) // 2)]
        if kind == "chunked":
            head = status_line + b"Content-Type: application/json; charset=utf-8\r\n"
            head += b"".join("{}: {}\r\n".format(k, v).encode() for k, v in headers)
            head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            half = len(body) // 2
            parts = (body[:half], body[half:])
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in parts if c)
            return head + chunks + b"0\r\n\r\n"
        if kind == "no_headers":
            return status_line + body
        if kind == "bad_json":
            broken = body[: max(1, len(body) - 3)] + b"}{"
            return httpio.response(reply.status, broken, headers)
        # no_status
        full = httpio.response(reply.status, body, headers)
        return full[len(status_line):]
