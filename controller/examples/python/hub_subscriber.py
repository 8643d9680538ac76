#!/usr/bin/env python3
"""A hub-side reader of controller reports in Python (nats-py): decodes every report stored in
a stream, as sent, and prints one JSON line each, in stream order:
{"seq", "msg_id", "customer_id", "reported_at", "apps": [app names]}.

Reports are MessagePack maps or JSON, a long one wrapped in a zstd frame (told by its first
four bytes), as every tailrace payload (ARCHITECTURE.md, "Payloads").

    python3 hub_subscriber.py nats://127.0.0.1:4222 REPORTS
"""

import asyncio
import json
import sys

import msgpack
import nats
import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def decode(payload: bytes) -> dict:
    if payload[:4] == ZSTD_MAGIC:
        payload = zstandard.ZstdDecompressor().decompress(payload, max_output_size=64 << 20)
    if payload.lstrip()[:1] == b"{":
        return json.loads(payload)
    return msgpack.unpackb(payload, raw=False)


async def main(url: str, stream: str) -> None:
    nc = await nats.connect(url, name="py-hub-subscriber")
    js = nc.jetstream()
    last = (await js.stream_info(stream)).state.last_seq
    sub = await js.subscribe("reports.>", stream=stream, ordered_consumer=True, deliver_policy="all")
    seen = 0
    while seen < last:
        try:
            msg = await sub.next_msg(timeout=5)
        except nats.errors.TimeoutError:
            break
        seq = msg.metadata.sequence.stream
        seen = seq
        report = decode(msg.data)
        print(json.dumps({
            "seq": seq,
            "msg_id": (msg.headers or {}).get("Nats-Msg-Id"),
            "customer_id": report["customer_id"],
            "reported_at": report["reported_at"],
            "apps": [a["app_name"] for a in report.get("app_telemetry", [])],
        }), flush=True)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
