# iotc bench bridge: the `ussl` name of firmware v1.20-v1.22, which umqtt.simple 1.3.4 imports
# (`ussl.wrap_socket(sock, **ssl_params)`); since v1.23 the module is called `ssl`.
from ssl import *  # noqa: F401,F403
