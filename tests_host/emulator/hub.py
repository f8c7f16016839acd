"""The emulated IoT Hub's cloud side (PROTOCOL.md §3): devices' telemetry kept, desired
properties set, direct methods invoked and answered, C2D queued and delivered, faults. Each
device connection is a hubconn.HubConnection.
"""

import copy
import json
import time
import uuid
from urllib.parse import quote

from . import mqttcodec as m
from .errors import ServiceError
from .hubconn import HubConnection
from .hubtopics import TWIN_DESIRED, c2d_filter, parse_bag
from .limits import Shaper, Window, depth, largest_property, message_size, section_size
from .methods import Methods
from .state import TELEMETRY_KEEP, merge_patch


ARGUMENT_INVALID, DEVICE_NOT_FOUND, QUEUE_FULL = 400004, 404001, 403004
DEVICE_NOT_ONLINE, TOO_LARGE, THROTTLED = 404103, 413001, 429001


class Hub:
    def __init__(self, state, log):
        self.state, self.log = state, log
        self.methods = Methods(state)
        self.twin_updates = Window(1.0)  # hub-wide, as IoT Hub throttles twin updates
        self.d2c = Shaper()  # hub-wide traffic shaping of telemetry

    async def serve(self, reader, writer):
        await HubConnection(self, reader, writer).run()

    def device(self, device_id):
        dev = self.state.devices.get(device_id)
        if dev is None:
            raise ServiceError(DEVICE_NOT_FOUND, "no such device")
        return dev

    def store_telemetry(self, dev, topic, bag, payload, qos, retain, extra=None):
        system, app = parse_bag(bag)
        if retain:
            app["mqtt-retain"] = "true"
        if extra:
            app.update(extra)
        rec = {"topic": topic, "body": bytes(payload).decode("utf-8", "replace"),
               "properties": app, "system": system, "qos": qos, "ts": time.time()}
        dev.telemetry.append(rec)
        if len(dev.telemetry) > TELEMETRY_KEEP:
            del dev.telemetry[: len(dev.telemetry) - TELEMETRY_KEEP]
        self.state.events.add("telemetry", device=dev.id, **rec)

    # --- the application side --------------------------------------------------------------------

    def twin_refusal(self, section, patch, name):
        """Why IoT Hub would refuse this update of a twin section (desired or reported) ->
        (error code, message), or None: it is applied and counts against the update rate."""
        lim = self.state.limits
        if depth(patch) > lim.twin_max_depth:  # checked first: deepcopy recurses
            return ARGUMENT_INVALID, "{} properties nest deeper than {} levels".format(
                name, lim.twin_max_depth)
        merged = copy.deepcopy(section)
        merge_patch(merged, patch)
        size = section_size(merged)
        if size > lim.twin_section_max_bytes:
            return ARGUMENT_INVALID, "{} properties would be {} bytes, over the {} allowed".format(
                name, size, lim.twin_section_max_bytes)
        prop, size = largest_property(merged)
        if size > lim.twin_property_max_bytes:
            return ARGUMENT_INVALID, "property {} is {} bytes, over the {} allowed".format(
                prop, size, lim.twin_property_max_bytes)
        if self.twin_updates.take(lim.twin_updates_per_s):
            return THROTTLED, "ThrottlingException: more than {} twin updates a second".format(
                lim.twin_updates_per_s)
        return None

    def set_desired(self, device_id, patch):
        dev = self.device(device_id)
        patch = {k: v for k, v in patch.items() if not k.startswith("$")}
        refused = self.twin_refusal(dev.desired, patch, "desired")
        if refused:
            raise ServiceError(*refused)
        merge_patch(dev.desired, patch)
        dev.desired_version += 1
        v = dev.desired_version
        pushed = bool(dev.conn and TWIN_DESIRED in dev.subscriptions)
        if pushed:
            body = dict(patch, **{"$version": v})
            dev.conn.send(m.publish(
                "$iothub/twin/PATCH/properties/desired/?$version={}".format(v), json.dumps(body)))
        self.state.events.add("desired", device=device_id, patch=patch, version=v, pushed=pushed)
        return v

    def start_method(self, device_id, name, payload, timeout):
        """-> (call record, future of the record once the call ends): methods.py."""
        return self.methods.start(self.device(device_id), name, payload, timeout)

    def send_c2d(self, device_id, body, properties=None):
        dev = self.device(device_id)
        if not dev.ever_connected:
            raise ServiceError(409000, "device has never connected; IoT Hub queues C2D only after "
                               "that")
        if len(dev.c2d) >= self.state.limits.c2d_max_pending:
            raise ServiceError(QUEUE_FULL, "DeviceMaximumQueueDepthExceeded: {} messages are "
                               "pending for the device".format(len(dev.c2d)))
        body = body if isinstance(body, bytes) else str(body).encode()
        properties = dict(properties or {})
        size = message_size(body, {}, properties)
        if size > self.state.limits.c2d_max_bytes:
            raise ServiceError(TOO_LARGE, "MessageTooLarge: {} bytes, over the {} allowed".format(
                size, self.state.limits.c2d_max_bytes))
        msg = {"id": str(uuid.uuid4()), "body": body, "properties": properties, "inflight": None,
               "deliveries": 0, "ts": time.time()}
        dev.c2d.append(msg)
        self.state.events.add("c2d_queued", device=device_id, id=msg["id"],
                              properties=msg["properties"])
        self.pump_c2d(dev)
        return msg["id"]

    def pump_c2d(self, dev):
        """Deliver queued C2D messages that are not in flight on the live connection."""
        conn = dev.conn if dev else None
        qos = dev.subscriptions.get(c2d_filter(dev.id)) if conn else None
        if conn is None or qos is None or conn.closed:
            return
        for msg in list(dev.c2d):
            if msg["inflight"] is not None:
                continue
            bag = "%24.mid={}&%24.to={}".format(
                quote(msg["id"], safe=""),
                quote("/devices/{}/messages/deviceBound".format(dev.id), safe=""))
            for k, v in msg["properties"].items():
                bag += "&" + quote(str(k), safe="")
                if v is not None:
                    bag += "=" + quote(str(v), safe="")
            topic = "devices/{}/messages/devicebound/{}".format(dev.id, bag)
            dup = msg["deliveries"] > 0
            msg["deliveries"] += 1
            if qos == 0:
                conn.send(m.publish(topic, msg["body"]))
                dev.c2d.remove(msg)
                self.state.events.add("c2d_ack", device=dev.id, id=msg["id"], qos=0,
                                      deliveries=msg["deliveries"])
            else:
                pid = conn.next_pid()
                msg["inflight"] = (conn, pid)
                conn.send(m.publish(topic, msg["body"], qos=1, pid=pid, dup=dup))
            self.state.events.add("c2d_sent", device=dev.id, id=msg["id"], qos=qos, dup=dup)

    def drop(self, device_id, reason="dropped by the emulator (fault)"):
        dev = self.device(device_id)
        if dev.conn is None:
            return False
        dev.conn.close(reason)
        return True

    def send_raw(self, device_id, data):
        dev = self.device(device_id)
        if dev.conn is None:
            raise ServiceError(DEVICE_NOT_ONLINE, "device is not connected")
        dev.conn.send(bytes(data))
