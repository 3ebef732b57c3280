#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/seeds/<target>/) from the test vectors in core/tests/data/.

Run from the repository root: python3 fuzz/seeds/make.py. The layouts follow each target's
input description (the first byte picks a mode; see fuzz/src/bin/*.rs).
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(ROOT, "..", "..", "core", "tests", "data")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


events = json.load(open(os.path.join(DATA, "events.json")))
control = json.load(open(os.path.join(DATA, "control.json")))

for group in ("valid", "invalid"):
    for v in events[group]:
        frame = v["frame"]
        text = frame if isinstance(frame, str) else compact(frame)
        if isinstance(text, str):
            text = text.encode()
        write("frame_decoder", f"{group}-{v['name']}", text)
        write("verify_decrypt", f"open-{group}-{v['name']}", b"\x00" + text)
for v in control["vectors"]:
    text = compact(v["frame"])
    if v["frame"].get("type") == "ack":
        write("ack_codec", f"decode-{v['name']}", b"\x00" + text)
    else:
        write("frame_decoder", v["name"], text)

# verify_decrypt mode 1 (raw ciphertext) and 2 (seal then open).
write("verify_decrypt", "decrypt-two-blocks", b"\x01\x10" + b"0123456789abcdef" + bytes(range(32)))


def s(b):
    return bytes([len(b)]) + b


write("verify_decrypt", "seal-chat", b"\x02" + s(b"kso.app_chat") + s(b"create")
      + struct.pack("<I", 1704067200) + s(b"b38c06ba3330d2a3") + b'{"chat_id":"c1"}')

# ack_codec mode 1: nonce, code, has-msg, msg.
write("ack_codec", "encode-ok", b"\x01" + s(b"b38c06ba3330d2a3") + struct.pack("<H", 200) + b"\x00")
write("ack_codec", "encode-long-msg", b"\x01" + s(b"0123456789abcdef") + struct.pack("<H", 500)
      + b"\x01" + ("é" * 300).encode())

# connection: config, seed, then operations (see fuzz/src/bin/connection.rs).
ms = lambda v: struct.pack("<H", v)
config = (b"\x00" + b"\x01\x02\x03" + ms(60000) + ms(10000) + ms(10000) + ms(30000)
          + ms(3000) + ms(5000) + ms(30000) + ms(1000) + b"\x33")
seed = struct.pack("<I", 42)
OPEN, EVENT, TEXT, GOAWAY, PING, PONG, SENT, CLOSED, STEP, NEXT, DONE, CLOSE, STALE = (
    0, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17)


def ops(*parts):
    return b"".join(bytes(p) if isinstance(p, (list, tuple)) else p for p in parts)


write("connection", "events-acked", config + seed + ops(
    [OPEN], [EVENT, 0], [EVENT, 1], [DONE, 0, 0], [SENT, 0], [DONE, 0, 1], [EVENT, 0],
    [PING, 2], b"p1", [SENT, 1], [STEP], ms(500), [0], [NEXT], [CLOSE, 1]))
write("connection", "backlog-and-pause", config + seed + ops(
    [OPEN], *[[EVENT, i] for i in range(8)], *[[DONE, 0, 0] for _ in range(8)],
    [CLOSED, 0], [NEXT], [OPEN], *[[EVENT, i] for i in range(8)]))
write("connection", "goaway-and-timeouts", config + seed + ops(
    [OPEN], [GOAWAY, 0, 1], struct.pack("<I", 5000), [0], [NEXT], [NEXT], [OPEN],
    [STALE], ms(1000), [EVENT, 2], [STEP], ms(65535), [20], [NEXT], [GOAWAY, 1, 0], [CLOSED, 1]))
write("connection", "drain-on-close", config + seed + ops(
    [OPEN], [EVENT, 3], [EVENT, 4], [CLOSE, 1], [EVENT, 5], [DONE, 0, 2, 4], b"boom",
    [NEXT], [DONE, 0, 0], [CLOSED, 1], [CLOSE, 0, 0]))
write("connection", "auth-rejected", config + seed + ops([2, 0], [NEXT], [OPEN]))
