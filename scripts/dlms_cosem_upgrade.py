#!/usr/bin/env python3
"""Reads image transfer attributes 1-7 and transfers an image with the dlms-cosem client
(PyPI, pinned), a second third-party head-end for meterfleet's interop tests.

Over the wrapper, public client 16, no authentication: GET of attributes 1-7, initiate, every
block, GET of attributes 3 and 4, verify, GET of attributes 6 and 7, activate. Prints one JSON
object with what it read, each value decoded by dlms-cosem's own A-XDR decoder.
"""
import argparse
import json
import sys

import structlog

from dlms_cosem import cosem, dlms_data, enumerations
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.security import NoSecurityAuthentication
from dlms_cosem.utils import parse_as_dlms_data

IMAGE = cosem.Obis(0, 0, 44, 0, 0, 255)
IT = enumerations.CosemInterface.IMAGE_TRANSFER


def plain(value):
    """JSON-friendly form of a decoded value."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main():
    # dlms-cosem logs every exchange through structlog; keep stdout for the JSON result.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--identifier", required=True)
    args = p.parse_args()
    image = open(args.image, "rb").read()

    transport = TcpTransport(
        client_logical_address=16,
        server_logical_address=1,
        io=BlockingTcpIO(host=args.host, port=args.port),
    )
    client = DlmsClient(transport=transport, authentication=NoSecurityAuthentication())
    out = {"before": {}, "after": {}}

    def get(attribute):
        raw = client.get(cosem.CosemAttribute(interface=IT, instance=IMAGE, attribute=attribute))
        if raw[:1] == b"\x04":
            # dlms-cosem 25.1.0 cannot decode a bit-string (BitStringData has no byte
            # conversion): decode the tag, the bit count and the bits here, block 0 first.
            bits, rest = dlms_data.decode_variable_integer(raw[1:])
            return "".join(
                "1" if rest[i // 8] & (0x80 >> (i % 8)) else "0" for i in range(bits)
            )
        return parse_as_dlms_data(raw)

    def action(method, data):
        return client.action(
            cosem.CosemMethod(interface=IT, instance=IMAGE, method=method), data.to_bytes()
        )

    client.connect()
    client.associate()
    for attribute in range(1, 8):
        out["before"][str(attribute)] = plain(get(attribute))
    block_size = out["before"]["2"]
    action(
        1,
        dlms_data.DataStructure(
            [
                dlms_data.OctetStringData(args.identifier.encode()),
                dlms_data.DoubleLongUnsignedData(len(image)),
            ]
        ),
    )
    blocks = [image[i : i + block_size] for i in range(0, len(image), block_size)]
    for n, block in enumerate(blocks):
        action(
            2,
            dlms_data.DataStructure(
                [dlms_data.DoubleLongUnsignedData(n), dlms_data.OctetStringData(block)]
            ),
        )
    out["blocks_sent"] = len(blocks)
    out["after"]["3"] = plain(get(3))
    out["after"]["4"] = plain(get(4))
    action(3, dlms_data.IntegerData(0))
    out["after"]["6"] = plain(get(6))
    out["after"]["7"] = plain(get(7))
    action(4, dlms_data.IntegerData(0))
    out["activated"] = True
    transport.disconnect()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
