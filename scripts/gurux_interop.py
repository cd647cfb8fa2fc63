#!/usr/bin/env python3
"""Codec-level interop with Gurux's Python DLMS library (gurux-dlms, pinned in requirements.txt).

  gurux_interop.py encode   prints {name: hex APDU} for messages built by Gurux's client
  gurux_interop.py parse    reads {name: hex APDU} on stdin, prints {name: {ok, xml|error}}
                            as Gurux's translator understands each APDU

Called by dlms/tests/gurux_interop.rs, which builds the same messages with meterfleet's encoder
and compares, then has Gurux parse meterfleet's encodings.
"""
import json
import sys

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSTranslator
from gurux_dlms.enums import Authentication, Conformance, DataType, InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSImageTransfer

# Green Book AARE example (docs/protocol.md#test-vectors V2): marks Gurux's client as associated so it
# will build a release request.
AARE_V2 = "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"


def apdus(frames):
    """The APDU of each wrapper frame (the 8-byte wrapper header removed)."""
    flat = []
    for f in frames:
        flat.extend(f if isinstance(f, list) else [f])
    return [bytes(f)[8:].hex() for f in flat]


def encode():
    out = {}
    public = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    out["aarq_none"] = apdus(public.aarqRequest())[0]
    lls = GXDLMSClient(True, 1, 1, Authentication.LOW, "12345678", InterfaceType.WRAPPER)
    out["aarq_lls"] = apdus(lls.aarqRequest())[0]

    image = GXDLMSImageTransfer()
    clock = GXDLMSClock()
    out["get_block_size"] = apdus(public.read(image, 2))[0]
    public.negotiatedConformance |= Conformance.MULTIPLE_REFERENCES
    out["get_with_list"] = apdus(public.readList([(image, 2), (clock, 2)]))[0]
    image.imageTransferEnabled = True
    out["set_enabled"] = apdus(public.write(image, 5))[0]
    out["initiate"] = apdus(image.imageTransferInitiate(public, "Gurux FW 1.2.3", 1024))[0]
    image.imageBlockSize = 16
    out["block_0"] = apdus(image.imageBlockTransfer(public, bytes(range(16)), [0]))[0]
    out["verify"] = apdus(image.imageVerify(public))[0]
    out["activate"] = apdus(image.imageActivate(public))[0]
    public.parseAareResponse(GXByteBuffer(bytes.fromhex(AARE_V2)))
    out["rlrq"] = apdus(public.releaseRequest())[0]
    json.dump(out, sys.stdout)


def parse():
    translator = GXDLMSTranslator()
    result = {}
    for name, hexed in json.load(sys.stdin).items():
        try:
            xml = translator.pduToXml(GXByteBuffer(bytes.fromhex(hexed)))
            result[name] = {"ok": True, "xml": xml}
        except Exception as e:  # Gurux raises plain exceptions for what it cannot parse.
            result[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    {"encode": encode, "parse": parse}[sys.argv[1]]()
