#!/usr/bin/env python3
"""Does grouping hold when the same messages come under another header?

Each loghub-2k dataset's message contents (cut by its labels) are written again under header
styles of widely used formats, written from their documentation (syslog RFC 3164 and 5424,
log4j and Python logging layouts, Go's log package, nginx's error log, logcat threadtime, klog,
Windows CBS, logfmt, JSON lines, and in-house shapes with host and service words), with the
fields that vary in real logs varying here: times, pids, levels, hosts (words without digits, so
they cannot be masked), and a component per event. tailrace reads the whole lines with its one
configuration; the table gives each style's grouping accuracy beside the contents read alone.
A style far below the contents is a header the split does not find: on logs nobody tuned for,
that is where grouping is lost.

    python3 scripts/headers.py               # every dataset, every style
    python3 scripts/headers.py --only Linux --styles syslog logfmt
"""

import argparse
import json
import os
import random
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grouping  # noqa: E402

HOSTS = ["alpha", "bravo", "charlie", "delta", "echo"]
SERVICES = ["billing", "search", "ledger"]
COMPONENTS = ["Dispatcher", "StoreManager", "SessionPool", "Indexer", "Gateway", "Scheduler", "Resolver"]
LEVELS = [("INFO", "I", "info", 6), ("WARN", "W", "warning", 4), ("ERROR", "E", "error", 3), ("DEBUG", "D", "debug", 7)]


def styles(r, event):
    """Every style's header for one line; `event` picks the component (it goes with the event)."""
    comp = COMPONENTS[zlib.crc32(event.encode()) % len(COMPONENTS)]
    lvl, letter, word, prio = r.choice(LEVELS)
    mon, day = r.choice(["Jan", "Jun", "Dec"]), r.randint(1, 28)
    h, m, s, ms = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), r.randint(0, 999)
    hms = f"{h:02}:{m:02}:{s:02}"
    date = f"2026-{r.randint(1, 12):02}-{day:02}"
    pid, tid = r.randint(100, 40000), r.randint(100, 40000)
    host, service = r.choice(HOSTS), r.choice(SERVICES)
    return {
        "syslog": (f"{mon} {day:2} {hms} {host} {service}[{pid}]: ", ""),
        "rfc5424": (f"<{8 + prio}>1 {date}T{hms}.{ms:03}Z {host} {service} {pid} - - ", ""),
        "log4j": (f"{date} {hms},{ms:03} {lvl:<5} [{service}-worker-{r.randint(1, 9)}] org.example.{comp} - ", ""),
        "python": (f"{date} {hms},{ms:03} - app.{comp.lower()} - {lvl} - ", ""),
        "go": (f"{date.replace('-', '/')} {hms} ", ""),
        "nginx error": (f"{date.replace('-', '/')} {hms} [{word}] {pid}#0: *{r.randint(1, 9999)} ", ""),
        "logcat": (f"12-{day:02} {hms}.{ms:03}  {pid}  {tid} {letter} {comp}: ", ""),
        "klog": (f"{letter}12{day:02} {hms}.{ms:03}123    {pid} {comp.lower()}.go:{r.randint(10, 900)}] ", ""),
        "Windows CBS": (f"{date} {hms}, {lvl.title():<22}{comp[:4].upper():<7}", ""),
        "bracketed": (f"[{date} {hms}] [{lvl}] [{comp}] ", ""),
        "host service words": (f"{date}T{hms}Z {host} {service} ", ""),
        "host words, level": (f"{date} {hms} {host} {service} {lvl}: ", ""),
        "pipes": (f"{date.replace('-', '')}-{hms}:{ms}|{comp}|{pid}|", ""),
        "epoch node": (f"{1_700_000_000 + r.randint(0, 9_000_000)} node-{r.randint(1, 400)} ", ""),
        "logfmt": (f'time="{date}T{hms}Z" level={word} msg="', '"'),
        "json": None,
    }


def wrap(style, header, content, r):
    if style == "json":
        lvl = r.choice(LEVELS)[2]
        return json.dumps({"ts": f"2026-12-05T10:{r.randint(0, 59):02}:00Z", "level": lvl, "msg": content})
    head, tail = header
    if style == "logfmt":
        content = content.replace("\\", "\\\\").replace('"', '\\"')
    return f"{head}{content}{tail}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=grouping.DEFAULT_DATA)
    ap.add_argument("--bin", default=grouping.DEFAULT_BIN)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--styles", nargs="*")
    args = ap.parse_args()
    names = args.only or sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))
    all_styles = list(styles(random.Random(0), "x"))
    chosen = args.styles or all_styles
    print("| dataset | contents | " + " | ".join(chosen) + " |")
    print("| --- | ---: |" + " ---: |" * len(chosen))
    sums = {s: 0.0 for s in ["contents"] + chosen}
    worst = {s: 1.0 for s in ["contents"] + chosen}
    for name in names:
        _, contents, truth = grouping.load(args.data, name)
        base = grouping.grouping_accuracy(grouping.tailrace(args.bin, contents, content=True), truth)
        cells = [base]
        for style in chosen:
            r = random.Random(f"{name}/{style}")
            lines = [wrap(style, styles(r, e)[style], c, r) for c, e in zip(contents, truth)]
            cells.append(grouping.grouping_accuracy(grouping.tailrace(args.bin, lines), truth))
        for s, ga in zip(["contents"] + chosen, cells):
            sums[s] += ga
            worst[s] = min(worst[s], ga)
        print(f"| {name} | " + " | ".join(f"{ga:.3f}" for ga in cells) + " |")
    print("| **mean** | " + " | ".join(f"**{sums[s] / len(names):.3f}**" for s in ["contents"] + chosen) + " |")
    print("| lowest | " + " | ".join(f"{worst[s]:.3f}" for s in ["contents"] + chosen) + " |")


if __name__ == "__main__":
    main()
