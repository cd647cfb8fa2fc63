#!/usr/bin/env python3
"""Upgrades a DLMS meter end to end with Gurux's Python client (gurux-dlms, pinned).

A third-party head-end for meterfleet's interop tests: it associates (no authentication or
LLS, over the wrapper or HDLC on TCP, or HDLC on a serial line through Gurux's serial media,
gurux-serial, pinned, after the optical probe's sign-on into mode E with --mode-e), reads image transfer attributes 2 and 5, initiates,
sends every block, checks the bit-string, verifies (polling attribute 6 on temporary-failure),
reads image_to_activate_info, activates, waits for the meter to come back from its reboot, and
reads the active firmware identifier of the target part. It prints one JSON object.

Gurux's client does not raise on a failed action result, so every reply's error is checked.
"""
import argparse
import contextlib
import errno
import json
import os
import socket
import sys
import time

from gurux_common import ReceiveParameters
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSData, GXDLMSImageTransfer


class SocketLink:
    """Frames over a TCP socket."""

    def __init__(self, args):
        self.sock = socket.create_connection((args.host, args.port), timeout=10)

    def exchange(self):
        return contextlib.nullcontext()

    def send(self, data):
        self.sock.sendall(bytes(data))

    def recv(self):
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("the meter closed the connection")
        return chunk

    def close(self):
        self.sock.close()


def tolerate_pty_modem_lines(path):
    """A pseudo-terminal (the tests' serial cable) has no modem lines, and Gurux's serial media
    raises ENOTTY setting DTR and RTS on one as it opens the port: on a pty (only), those two
    settings are skipped. A real port's are set as Gurux sets them."""
    if not os.path.realpath(path).startswith("/dev/pts/"):
        return
    from gurux_serial._handlers.GXLinuxHandler import GXLinuxHandler

    for name in ("setDtrEnable", "setRtsEnable"):
        original = getattr(GXLinuxHandler, name)

        def tolerant(self, value, _original=original):
            try:
                _original(self, value)
            except OSError as e:
                if e.errno != errno.ENOTTY:
                    raise

        setattr(GXLinuxHandler, name, tolerant)


class SerialLink:
    """Frames over a serial port with Gurux's serial media (gurux-serial). With mode_e, the
    port is first opened the way Gurux's example reader does it (GXDLMSReader's
    initializeOpticalHead): the sign-on /?! at 300 Bd 7E1, the identification, the option
    select ACK 2 Z 2 for HDLC at the meter's rate Z, then 8N1 at that rate."""

    RATES = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}

    def __init__(self, path, mode_e, baud):
        from gurux_common.io import Parity, StopBits
        from gurux_serial import GXSerial

        tolerate_pty_modem_lines(path)
        if mode_e:
            self.media = GXSerial(path, 300, 7, Parity.EVEN, StopBits.ONE)
        else:
            self.media = GXSerial(path, baud, 8, Parity.NONE, StopBits.ONE)
        self.media.open()
        if mode_e:
            request = b"/?!\r\n"
            p = ReceiveParameters()
            p.allData = True
            p.eop = "\n"
            p.waitTime = 5000
            with self.media.getSynchronous():
                self.media.send(request)
                if not self.media.receive(p):
                    raise ConnectionError("no identification message")
                if bytes(p.reply) == request:  # an optical head's echo
                    p.reply = None
                    if not self.media.receive(p):
                        raise ConnectionError("no identification message")
            ident = bytes(p.reply)
            if not ident.startswith(b"/") or chr(ident[4]) not in self.RATES:
                raise ConnectionError("bad identification message %r" % ident)
            rate = chr(ident[4])
            with self.media.getSynchronous():
                self.media.send(bytes([0x06, ord("2"), ord(rate), ord("2"), 13, 10]))
                time.sleep(0.3)
            self.media.dataBits = 8
            self.media.parity = Parity.NONE
            self.media.stopBits = StopBits.ONE
            self.media.baudRate = self.RATES[rate]
            time.sleep(0.2)

    def exchange(self):
        return self.media.getSynchronous()

    def send(self, data):
        self.media.send(bytes(data))

    def recv(self):
        p = ReceiveParameters()
        p.allData = True
        p.count = 1
        p.waitTime = 10000
        if not self.media.receive(p):
            raise TimeoutError("no reply within 10 s")
        return bytes(p.reply)

    def close(self):
        self.media.close()


class Session:
    """One association with the meter over a TCP socket or a serial line."""

    def __init__(self, args):
        if args.transport == "wrapper":
            interface = InterfaceType.WRAPPER
        elif args.mode_e:
            interface = InterfaceType.HDLC_WITH_MODE_E
        else:
            interface = InterfaceType.HDLC
        auth = Authentication.LOW if args.password else Authentication.NONE
        self.client = GXDLMSClient(True, args.client, 1, auth, args.password, interface)
        self.hdlc = interface != InterfaceType.WRAPPER
        if args.serial:
            self.link = SerialLink(args.serial, args.mode_e, args.baud)
        else:
            self.link = SocketLink(args)

    def exchange(self, frame, reply):
        """Sends one frame and reads until Gurux has a whole reply."""
        notify = GXReplyData()
        received = GXByteBuffer()
        with self.link.exchange():
            self.link.send(frame)
            while not self.client.getData(received, reply, notify):
                received.set(self.link.recv())
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
        self.link.close()


def reconnect(args, deadline):
    """Connects again once the meter is back from its reboot, backing off from 0.1 s."""
    pause = 0.1
    while True:
        try:
            s = Session(args)
            s.connect()
            return s
        except (OSError, ConnectionError, GXDLMSException, ValueError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--serial", help="a serial port instead of --host/--port (HDLC)")
    p.add_argument("--mode-e", action="store_true", help="sign on through the optical probe first")
    p.add_argument("--baud", type=int, default=9600, help="the serial line's rate without --mode-e")
    p.add_argument("--transport", choices=["wrapper", "hdlc"], default="wrapper")
    p.add_argument("--client", type=int, default=16)
    p.add_argument("--password", default=None)
    p.add_argument("--image", required=True)
    p.add_argument("--identifier", required=True)
    p.add_argument("--part", type=int, default=1)
    args = p.parse_args()
    if args.serial is None and args.port is None:
        p.error("--port or --serial is needed")
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
    except (ConnectionError, socket.timeout, OSError, TimeoutError):
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
