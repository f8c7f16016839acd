"""Shared access signature tokens, checked the way DPS and IoT Hub check them (PROTOCOL.md §2).

A token is `SharedAccessSignature sr=..&sig=..&se=..[&skn=..]`, fields in any order. The
signature is HMAC-SHA256 over exactly the `sr` text as sent, a newline and the `se` text, keyed
with the base64-decoded key. `sr` may be raw or URL-encoded (either case of hex); once decoded it
must name the expected resource.
"""

import base64
import hashlib
import hmac
import time
from urllib.parse import quote, unquote

PREFIX = "SharedAccessSignature "


class SasError(Exception):
    """Why a token was refused: reason is one of malformed, resource, expired, signature."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def sign(key_b64, sr, se):
    """base64(HMAC-SHA256(b64decode(key), sr + "\\n" + se)); sr and se as placed in the token."""
    mac = hmac.new(base64.b64decode(key_b64), "{}\n{}".format(sr, se).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def derive_device_key(group_key_b64, registration_id):
    """Key of an enrollment-group member: base64(HMAC-SHA256(b64decode(groupKey), regId))."""
    mac = hmac.new(base64.b64decode(group_key_b64), registration_id.encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def make_token(key_b64, resource, ttl=3600, expiry=None, skn=None, encode=True):
    """Build a token (for tests and tools). encode=False signs and sends the raw resource URI."""
    se = str(int(expiry if expiry is not None else time.time() + ttl))
    sr = quote(resource, safe="") if encode else resource
    tok = "{}sr={}&sig={}&se={}".format(PREFIX, sr, quote(sign(key_b64, sr, se), safe=""), se)
    if skn:
        tok += "&skn=" + skn
    return tok


class Token:
    """A parsed token. `fields` holds the raw (still encoded) values as sent."""

    def __init__(self, text):
        if not isinstance(text, str) or not text.startswith(PREFIX):
            raise SasError("malformed", "not a SharedAccessSignature token")
        fields = {}
        for part in text[len(PREFIX):].strip().split("&"):
            k, eq, v = part.partition("=")
            if not eq or not k or k in fields:
                raise SasError("malformed", "bad token field")
            fields[k] = v
        for k in ("sr", "sig", "se"):
            if k not in fields:
                raise SasError("malformed", "token lacks " + k)
        try:
            self.expiry = int(fields["se"])
        except ValueError:
            raise SasError("malformed", "se is not an integer") from None
        self.fields = fields
        self.resource = unquote(fields["sr"])
        self.skn = unquote(fields["skn"]) if "skn" in fields else None

    def check_resource(self, matches):
        """matches(decoded_sr) -> bool; raises SasError('resource') when false."""
        if not matches(self.resource):
            raise SasError("resource", "token is for another resource")

    def check_expiry(self, now=None):
        if self.expiry <= (time.time() if now is None else now):
            raise SasError("expired", "token expired")

    def signed_by(self, key_b64):
        """True when the signature was made with this key."""
        try:
            want = sign(key_b64, self.fields["sr"], self.fields["se"])
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(unquote(self.fields["sig"]).encode(), want.encode())
