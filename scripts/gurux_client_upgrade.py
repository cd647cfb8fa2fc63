#!/usr/bin/env python3
"""Upgrades a DLMS meter end to end with Gurux's Python client (gurux-dlms, pinned).

A third-party head-end for meterfleet's interop tests: it associates (no authentication or
LLS, over the wrapper or HDLC on TCP), reads image transfer attributes 2 and 5, initiates,
sends every block, checks the bit-string, verifies (polling attribute 6 on temporary-failure),
reads image_to_activate_info, activates, waits for the meter to come back from its reboot, and
reads the active firmware identifier of the target part. It prints one JSON object.

Gurux's client does not raise on a failed action result, so every reply's error is checked.
"""
import argparse
import json
import socket
import sys
import time

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSData, GXDLMSImageTransfer


class Session:
    """One association with the meter over a TCP socket."""

    def __init__(self, args):
        interface = InterfaceType.WRAPPER if args.transport == "wrapper" else InterfaceType.HDLC
        auth = Authentication.LOW if args.password else Authentication.NONE
        self.client = GXDLMSClient(True, args.client, 1, auth, args.password, interface)
        self.hdlc = interface == InterfaceType.HDLC
        self.sock = socket.create_connection((args.host, args.port), timeout=10)

    def exchange(self, frame, reply):
        """Sends one frame and reads until Gurux has a whole reply."""
        notify = GXReplyData()
        received = GXByteBuffer()
        self.sock.sendall(bytes(frame))
        while not self.client.getData(received, reply, notify):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the meter closed the connection")
            received.set(chunk)
        if reply.error != 0:
            raise GXDLMSException(reply.error)

    def request(self, frames):
        """Sends a request (one or more frames), following GET datablocks to the end."""
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        reply = GXReplyData()
        for frame in frames:
            if isinstance(frame, list):
                for f in frame:
                    reply.clear()
                    self.exchange(f, reply)
                continue
            reply.clear()
            self.exchange(frame, reply)
            while reply.isMoreData():
                self.exchange(self.client.receiverReady(reply), reply)
        return reply

    def connect(self):
        if self.hdlc:
            reply = self.request(self.client.snrmRequest())
            self.client.parseUAResponse(reply.data)
        reply = self.request(self.client.aarqRequest())
        self.client.parseAareResponse(reply.data)

    def read(self, obj, attribute):
        reply = self.request(self.client.read(obj, attribute))
        return self.client.updateValue(obj, attribute, reply.value)

    def close(self, release=True):
        """Releases the association (unless the meter is known to be gone), then closes."""
        try:
            if release:
                self.request(self.client.releaseRequest())
            if self.hdlc:
                self.request(self.client.disconnectRequest())
        except Exception:  # the meter may already be gone
            pass
        self.sock.close()


def reconnect(args, deadline):
    """Connects again once the meter is back from its reboot, backing off from 0.1 s."""
    pause = 0.1
    while True:
        try:
            s = Session(args)
            s.connect()
            return s
        except (OSError, ConnectionError, GXDLMSException, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", choices=["wrapper", "hdlc"], default="wrapper")
    p.add_argument("--client", type=int, default=16)
    p.add_argument("--password", default=None)
    p.add_argument("--image", required=True)
    p.add_argument("--identifier", required=True)
    p.add_argument("--part", type=int, default=1)
    args = p.parse_args()
    image = open(args.image, "rb").read()
    out = {}

    s = Session(args)
    s.connect()
    it = GXDLMSImageTransfer()
    out["block_size"] = s.read(it, 2)
    out["enabled"] = s.read(it, 5)
    s.request(it.imageTransferInitiate(s.client, args.identifier, len(image)))
    out["status_after_initiate"] = int(s.read(it, 6))
    count = [0]
    s.request(it.imageBlockTransfer(s.client, image, count))
    out["blocks_sent"] = count[0]
    out["bitstring"] = str(s.read(it, 3))
    out["first_not_transferred"] = s.read(it, 4)
    try:
        s.request(it.imageVerify(s.client))
    except GXDLMSException:
        pass  # temporary-failure: poll the status instead of verifying again
    deadline = time.monotonic() + 30
    while int(s.read(it, 6)) == 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    out["status_after_verify"] = int(s.read(it, 6))
    info = s.read(it, 7)
    out["image_to_activate"] = [
        {"size": i.size, "identification": bytes(i.identification).decode("latin-1")} for i in info
    ]
    try:
        s.request(it.imageActivate(s.client))
        out["activate_replied"] = True
    except (ConnectionError, socket.timeout, OSError):
        out["activate_replied"] = False  # meters often reboot without answering
    s.close(release=False)  # the meter is rebooting into the new image

    s = reconnect(args, time.monotonic() + 30)
    fw = GXDLMSData("1.%d.0.2.0.255" % args.part)
    value = s.read(fw, 2)
    out["active_firmware"] = bytes(value).decode("latin-1") if value is not None else None
    out["status_after_reboot"] = int(s.read(it, 6))
    s.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
