# Stand-in for the `ussl` module of firmware 1.20-1.22, which umqtt.simple 1.3.4 imports.
# The unix port names the same module `ssl`; nothing else differs for what umqtt uses.
from ssl import *  # noqa: F403
