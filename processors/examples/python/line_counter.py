#!/usr/bin/env python3
"""An external tailrace processor in Python: counts classified lines per batch.

It follows the same contract as the Rust processors (processors/README.md):
- a durable pull consumer of its own (`py-line-counter`) on the CLASSIFIED stream, so it
  changes nothing for any other processor, and several copies of it split the work;
- it publishes to a subject of its own, `derived.py-line-counter.{host}`, with a
  `Nats-Msg-Id` derived from the input's stream sequence, so a redelivery is stored once;
- it acks an input only after JetStream has acknowledged its output.

Input: ClassifiedBatch (MessagePack map, or JSON; a long one wrapped in a zstd frame, told by
its first four bytes), on logs.classified.{category}.{severity}.{host}.{source}.
Output (JSON): {"v": 1, "host", "source", "category", "severity", "lines", "truncated", "input_seq"}.

    python3 line_counter.py nats://127.0.0.1:4222
"""

import asyncio
import json
import signal
import sys

import msgpack
import nats
import zstandard
from nats.js.api import AckPolicy, ConsumerConfig

NAME = "py-line-counter"


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_DECOMPRESSED = 64 << 20


def decode(payload: bytes) -> dict:
    if payload[:4] == ZSTD_MAGIC:
        payload = zstandard.ZstdDecompressor().decompress(payload, max_output_size=MAX_DECOMPRESSED)
    if payload.lstrip()[:1] == b"{":
        return json.loads(payload)
    return msgpack.unpackb(payload, raw=False)


async def main(url: str) -> None:
    nc = await nats.connect(url, name=NAME)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "logs.classified.>",
        durable=NAME,
        stream="CLASSIFIED",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{NAME}: consuming logs.classified.>", flush=True)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(64, timeout=0.5)
        # nats-py raises its own TimeoutError from some waits and asyncio's from others (a
        # pull that got no message before its expiry): either means nothing new yet.
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            continue
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            try:
                batch = decode(msg.data)
                lines = batch["lines"]
            except Exception as e:  # a poison message: say why, never retry it forever
                print(f"{NAME}: seq {seq}: cannot decode: {e}", file=sys.stderr, flush=True)
                await msg.term()
                continue
            # Tokens 4 and 5 are the host and source, already escaped for subjects.
            host_token = msg.subject.split(".")[4]
            out = {
                "v": 1,
                "host": batch["host"],
                "source": batch["source"],
                "category": batch["category"],
                "severity": batch["severity"],
                "lines": len(lines),
                "truncated": sum(1 for l in lines if l.get("truncated")),
                "input_seq": seq,
            }
            await js.publish(
                f"derived.{NAME}.{host_token}",
                json.dumps(out).encode(),
                headers={"Nats-Msg-Id": f"{NAME}/{seq}"},
            )
            await msg.ack()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
