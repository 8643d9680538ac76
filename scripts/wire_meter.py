#!/usr/bin/env python3
"""A TCP relay that counts the bytes crossing it, for measuring what a client moves on the wire.

    wire_meter.py LISTEN_PORT TARGET_PORT COUNTS_FILE

Relays 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT and keeps COUNTS_FILE holding
"<bytes to the server> <bytes to the client>" (totals since start; rewritten every tenth of a
second while they change, and as connections close, so a connection kept open is counted too). Both sides of a comparison go through the same relay, so its cost is the same for both.
One thread and an event loop: threads would wait on each other for the interpreter lock on
every small packet, which adds tens of milliseconds to each request and answer.
"""
import asyncio
import os
import socket
import sys

listen_port, target_port, counts_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
totals = [0, 0]


def save():
    with open(counts_file + ".tmp", "w") as f:
        f.write(f"{totals[0]} {totals[1]}\n")
    os.replace(counts_file + ".tmp", counts_file)


async def pump(reader, writer, index):
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            totals[index] += len(data)
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        save()
        try:
            writer.write_eof()
        except OSError:
            pass


async def relay(client_reader, client_writer):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
    for w in (client_writer, up_writer):
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(pump(client_reader, up_writer, 0), pump(up_reader, client_writer, 1))
    for w in (client_writer, up_writer):
        w.close()


async def saver():
    saved = None
    while True:
        await asyncio.sleep(0.1)
        if totals != saved:
            save()
            saved = list(totals)


async def main():
    save()
    asyncio.get_running_loop().create_task(saver())
    server = await asyncio.start_server(relay, "127.0.0.1", listen_port, limit=1 << 20)
    async with server:
        await server.serve_forever()


asyncio.run(main())
