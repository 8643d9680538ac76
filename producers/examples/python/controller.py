#!/usr/bin/env python3
"""A controller in Python: publishes reports in the seed's shape to tailrace over NATS.

Any program that can publish JSON to NATS can be a controller. The contract (ARCHITECTURE.md,
"Fleet telemetry"):
- subject `reports.{customer}`, the customer escaped as schemas/src/token.rs escapes it (a
  customer id of letters, digits, `-` and `_` stands for itself);
- payload: the seed's report, JSON or MessagePack: `customer_id`, `reported_at` (RFC 3339),
  `app_telemetry` [{app_name, display_name, containers, memory_current_mb, memory_avg_mb,
  memory_peak_mb, cpu_avg_percent, catalog_estimate, catalog_limit, log_errors, log_warnings,
  issues [{severity, message, count, last_seen}], oom_kills, restarts}];
- publish through JetStream and wait for the ack; a `Nats-Msg-Id` of customer and report time
  makes a retry harmless (tailrace counts a report once anyway).

    python3 controller.py nats://127.0.0.1:4222 reports.json   # a JSON list of reports

Prints one line per report: `{customer} {reported_at} seq={n}`.
"""

import asyncio
import json
import sys

import nats


async def main(url: str, path: str) -> None:
    with open(path, encoding="utf-8") as f:
        reports = json.load(f)
    nc = await nats.connect(url, name="py-controller")
    js = nc.jetstream()
    for report in reports:
        customer = report["customer_id"]
        msg_id = f"py-controller/{customer}/{report.get('reported_at', '')}"
        ack = await js.publish(
            f"reports.{customer}",
            json.dumps(report).encode(),
            headers={"Nats-Msg-Id": msg_id},
        )
        print(f"{customer} {report.get('reported_at')} seq={ack.seq}", flush=True)
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
