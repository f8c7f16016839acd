# iotc bench bridge: `urequests` as every firmware since v1.20 freezes it (bundle-networking):
# the name of micropython-lib's `requests`. The unix port freezes only `requests`.
from requests import *  # noqa: F401,F403
