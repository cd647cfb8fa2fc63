#!/usr/bin/env python3
"""The project's own IC 18 logic on Gurux's Python codec and server classes (gurux-dlms,
pinned): a test meter whose association, APDU encoding and object model are Gurux's, and whose
image transfer behaviour is written here, modelled on Gurux's reference servers. It is not an
independent implementation of IC 18: it tests the harness against Gurux's wire, not against
another reading of the standard.

It serves, over the wrapper on loopback, Association LN, image transfer 0-0:44.0.0.255 and the
active firmware identifier 1-1:0.2.0.255. Gurux's own GXDLMSImageTransfer.invoke cannot store
blocks (it assigns into an immutable bytes object), so the four methods are handled in the
pre-action callback, the workaround the Gurux examples use. Field behaviour on request:

  --lose-block N   block N is acknowledged but not stored the first time it arrives
  --busy-ms MS     verify and activate answer temporary-failure; verification (status 2)
                   and activation (status 5) take MS milliseconds
  --store FILE     where the received image is written when it is verified
  --block-size N   image_block_size (200);  --pdu N  the server's max receive PDU size (1024)

After activation the meter "reboots": the connection is closed, connections are refused for a
second, then the identifier it was initiated with is the active firmware identifier and the
status is 6. It prints "listening on HOST:PORT" once ready.
"""
import argparse
import socket
import sys
import time

from gurux_dlms import GXDLMSServer, GXServerReply, ValueEventArgs
from gurux_dlms.enums import (
    AccessMode,
    Authentication,
    ErrorCode,
    InterfaceType,
    MethodAccessMode,
    SourceDiagnostic,
)
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSData,
    GXDLMSImageActivateInfo,
    GXDLMSImageTransfer,
)
from gurux_dlms.objects.enums import ImageTransferStatus

# gurux-dlms 1.0.203's server calls GXServerReply.setReply and getConnectionInfo, which the
# class lacks.
if not hasattr(GXServerReply, "setReply"):
    GXServerReply.setReply = lambda self, value: setattr(self, "reply", value)
if not hasattr(GXServerReply, "getConnectionInfo"):
    GXServerReply.getConnectionInfo = lambda self: self.connectionInfo
# Its ACTION handler calls onPreAction(list(e)) on a single ValueEventArgs, which is not
# iterable: let it stand for the list of itself.
if not hasattr(ValueEventArgs, "__iter__"):
    ValueEventArgs.__iter__ = lambda self: iter([self])


class Meter(GXDLMSServer):
    """The meter: Gurux's server with image transfer handled here."""

    def __init__(self, args):
        super().__init__(True, InterfaceType.WRAPPER)
        self.args = args
        # GXDLMSServer.maxReceivePDUSize's setter calls itself (gurux-dlms 1.0.203): set the
        # server's PDU size in its settings instead.
        self.settings.maxServerPDUSize = args.pdu
        self.image = GXDLMSImageTransfer()
        self.image.imageBlockSize = args.block_size
        self.image.imageTransferEnabled = True
        self.image.imageTransferStatus = ImageTransferStatus.IMAGE_TRANSFER_NOT_INITIATED
        self.image.imageTransferredBlocksStatus = ""
        self.image.imageFirstNotTransferredBlockNumber = 0
        self.firmware = GXDLMSData("1.1.0.2.0.255")
        self.firmware.value = b"GX-1.0.0"
        association = GXDLMSAssociationLogicalName()
        for obj in (association, self.image, self.firmware):
            self.items.append(obj)
            # GXDLMSServer.initialize appends the whole item collection to an empty object
            # list, which its GXDLMSObjectCollection refuses: fill the list item by item.
            association.objectList.append(obj)
        self.blocks = {}
        self.identifier = b""
        self.size = 0
        self.lost = set()
        self.busy_until = 0.0
        self.busy = None  # "verify" or "activate" while a slow step runs
        self.reboot_at = None
        self.initialize()

    # --- the image transfer process -------------------------------------------------------

    def block_count(self):
        bs = self.image.imageBlockSize
        return (self.size + bs - 1) // bs

    def update_bitmap(self):
        bits = "".join("1" if n in self.blocks else "0" for n in range(self.block_count()))
        self.image.imageTransferredBlocksStatus = bits
        first = bits.find("0")
        self.image.imageFirstNotTransferredBlockNumber = first if first >= 0 else len(bits)

    def complete(self):
        return self.block_count() > 0 and all(n in self.blocks for n in range(self.block_count()))

    def finish_slow_step(self):
        """Ends a verification or activation whose time has come."""
        if self.busy and time.monotonic() >= self.busy_until:
            if self.busy == "verify":
                self.verified()
            elif self.busy == "activate":
                self.reboot_at = time.monotonic()
            self.busy = None

    def verified(self):
        if not self.complete():
            self.image.imageTransferStatus = ImageTransferStatus.IMAGE_VERIFICATION_FAILED
            return False
        data = b"".join(self.blocks[n] for n in range(self.block_count()))[: self.size]
        if self.args.store:
            with open(self.args.store, "wb") as f:
                f.write(data)
        info = GXDLMSImageActivateInfo()
        info.size = self.size
        info.identification = self.identifier
        info.signature = b""
        self.image.imageActivateInfo = [info]
        self.image.imageTransferStatus = ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL
        return True

    def method(self, index, params):
        """Runs image transfer method `index`; returns an ErrorCode."""
        self.finish_slow_step()
        if index == 1:
            self.identifier, self.size = bytes(params[0]), int(params[1])
            self.blocks = {}
            self.busy = None  # a new transfer ends any verification or activation running
            self.image.imageActivateInfo = []
            self.update_bitmap()
            self.image.imageTransferStatus = ImageTransferStatus.IMAGE_TRANSFER_INITIATED
            return ErrorCode.OK
        if index == 2:
            n, value = int(params[0]), bytes(params[1])
            if self.image.imageTransferStatus != ImageTransferStatus.IMAGE_TRANSFER_INITIATED:
                return ErrorCode.OTHER_REASON
            if n >= self.block_count():
                return ErrorCode.OTHER_REASON
            if n == self.args.lose_block and n not in self.lost:
                self.lost.add(n)
                return ErrorCode.OK  # acknowledged, not stored
            self.blocks[n] = value
            self.update_bitmap()
            return ErrorCode.OK
        if index == 3:
            if self.busy == "verify":
                return ErrorCode.TEMPORARY_FAILURE
            if self.image.imageTransferStatus == ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL:
                return ErrorCode.OK
            if self.args.busy_ms and self.complete():
                self.busy, self.busy_until = "verify", time.monotonic() + self.args.busy_ms / 1000
                self.image.imageTransferStatus = ImageTransferStatus.IMAGE_VERIFICATION_INITIATED
                return ErrorCode.TEMPORARY_FAILURE
            return ErrorCode.OK if self.verified() else ErrorCode.OTHER_REASON
        if index == 4:
            if self.busy == "activate":
                return ErrorCode.TEMPORARY_FAILURE
            if self.image.imageTransferStatus != ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL:
                return ErrorCode.OTHER_REASON
            self.image.imageTransferStatus = ImageTransferStatus.IMAGE_ACTIVATION_INITIATED
            if self.args.busy_ms:
                self.busy, self.busy_until = "activate", time.monotonic() + self.args.busy_ms / 1000
                return ErrorCode.TEMPORARY_FAILURE
            self.reboot_at = time.monotonic()
            return ErrorCode.OK
        return ErrorCode.READ_WRITE_DENIED

    def reboot(self):
        self.firmware.value = self.identifier
        self.image.imageTransferStatus = ImageTransferStatus.IMAGE_ACTIVATION_SUCCESSFUL
        self.reboot_at = None

    # --- Gurux server callbacks -------------------------------------------------------------

    def onPreAction(self, args):
        for e in args:
            if e.target is self.image:
                e.error = self.method(e.index, e.parameters)
                e.value = 0
                e.handled = True

    def onPreRead(self, *args):
        self.finish_slow_step()

    # gurux-dlms 1.0.203's command handler calls notifyRead() and notifyConnected(), which
    # GXDLMSServer does not define, and onPostRead() without arguments: provide them all.
    def notifyRead(self, *args):
        pass

    def notifyConnected(self, *args):
        pass

    def isTarget(self, serverAddress, clientAddress):
        return True

    def onValidateAuthentication(self, authentication, password):
        # LLS (client 1) needs the password meterfleet's emulated meters use; others pass.
        if authentication == Authentication.LOW and bytes(password or b"") != b"12345678":
            return SourceDiagnostic.AUTHENTICATION_FAILURE
        return SourceDiagnostic.NONE

    def onGetAttributeAccess(self, arg):
        if arg.target is self.image and arg.index == 5:
            return AccessMode.READ_WRITE
        return AccessMode.READ

    def onGetMethodAccess(self, arg):
        return MethodAccessMode.ACCESS

    def onFindObject(self, objectType, sn, ln):
        return None

    def onPreGet(self, *args):
        pass

    def onPostGet(self, *args):
        pass

    def onPostRead(self, *args):
        pass

    def onPreWrite(self, *args):
        pass

    def onPostWrite(self, *args):
        pass

    def onConnected(self, *args):
        pass

    def onInvalidConnection(self, *args):
        pass

    def onDisconnected(self, *args):
        pass

    def onPostAction(self, *args):
        pass


def serve(meter, listener):
    """One connection at a time, as a small meter does; refuses connections while rebooting."""
    offline_until = 0.0
    while True:
        conn, _ = listener.accept()
        if time.monotonic() < offline_until:
            conn.close()
            continue
        meter.reset()
        conn.settimeout(0.2)
        with conn:
            while True:
                meter.finish_slow_step()
                if meter.reboot_at is not None and time.monotonic() >= meter.reboot_at:
                    meter.reboot()
                    offline_until = time.monotonic() + 1.0
                    break
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                reply = GXServerReply(data)
                meter.handleRequest(reply)
                if reply.reply:
                    conn.sendall(bytes(reply.reply))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--block-size", type=int, default=200)
    p.add_argument("--pdu", type=int, default=1024, help="server max receive PDU size")
    p.add_argument("--lose-block", type=int, default=-1)
    p.add_argument("--busy-ms", type=int, default=0)
    p.add_argument("--store", default=None)
    args = p.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(4)
    print("listening on %s:%d" % listener.getsockname(), flush=True)
    serve(Meter(args), listener)


if __name__ == "__main__":
    main()
