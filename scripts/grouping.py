#!/usr/bin/env python3
"""Issue grouping accuracy and fingerprint throughput, tailrace beside drain3 and the seed's rules.

Grouping accuracy as in Zhu et al., "Tools and Benchmarks for Automated Log Parsing"
(ICSE-SEIP 2019): a line is grouped right when the set of lines sharing its fingerprint equals
the set of lines sharing its true event id. Every parser is fed whole raw lines (headers
included), every line is an issue candidate, and one configuration serves every dataset.

    python3 scripts/grouping.py                      # accuracy table (Markdown) on loghub-2k
    python3 scripts/grouping.py --throughput         # plus lines/s on the lines repeated to 1M
    python3 scripts/grouping.py --content            # also the classic setting: message content only

Needs: a release build (`cargo build --release`) and drain3 (`python3 -m pip install drain3`;
`deploy/prereqs.sh` installs it with the other benchmark tools: `ensure_bench_prereqs`).
The data: ../shared/data/loghub-2k (see its LICENSE; loghub, Zhu et al., ISSRE 2023).
"""

import argparse
import collections
import csv
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "loghub-2k")
DEFAULT_BIN = os.path.join(ROOT, "target", "release", "tailrace")


def load(data, name):
    """Raw lines, message contents and true event ids of one dataset."""
    with open(os.path.join(data, name, f"{name}_2k.log"), encoding="utf-8", errors="replace") as f:
        raw = [line.rstrip("\r\n") for line in f]
    with open(os.path.join(data, name, f"{name}_2k.log_structured.csv"), encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(raw):
        sys.exit(f"{name}: {len(raw)} raw lines but {len(rows)} labelled rows")
    return raw, [r["Content"] for r in rows], [r["EventId"] for r in rows]


def grouping_accuracy(predicted, truth):
    """Share of lines whose predicted group is exactly their true group."""
    by_pred = collections.defaultdict(list)
    for i, p in enumerate(predicted):
        by_pred[p].append(i)
    truth_size = collections.Counter(truth)
    right = 0
    for lines in by_pred.values():
        ids = {truth[i] for i in lines}
        if len(ids) == 1 and truth_size[next(iter(ids))] == len(lines):
            right += len(lines)
    return right / len(truth)


# --- the seed's rules: "App Telemetry & Analytics", phase 2, the log scanner -------------------
SEED_TS = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}[.\d]*[Z ]?")
SEED_SYSLOG = re.compile(r"^[A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} ")
SEED_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SEED_HEX = re.compile(r"\b[0-9a-fA-F]{8,}\b")
SEED_NUM = re.compile(r"\d{6,}")


def seed_fingerprint(line):
    line = line[:500]
    line = SEED_SYSLOG.sub("", SEED_TS.sub("", line))
    line = SEED_UUID.sub("<UUID>", line)
    line = SEED_HEX.sub("<HEX>", line)
    line = SEED_NUM.sub("<N>", line)
    return line.strip().lower()


def seed(lines):
    return [seed_fingerprint(line) for line in lines]


# --- drain3 with its defaults -----------------------------------------------------------------
def drain3(lines):
    try:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        sys.exit("drain3 is not installed: `python3 -m pip install drain3` (or run with --no-drain3)")

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    return [miner.add_log_message(line)["cluster_id"] for line in lines]


# --- tailrace ---------------------------------------------------------------------------------
EXTRA = []


def tailrace(binary, lines, content=False):
    args = [binary, "fingerprint"] + (["--content"] if content else []) + EXTRA
    out = subprocess.run(args, input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    fps = [row.split("\t", 1)[0] for row in out.stdout.splitlines()]
    if len(fps) != len(lines):
        sys.exit(f"tailrace fingerprint answered {len(fps)} lines for {len(lines)}")
    return fps


def throughput(binary, data, names, total):
    """Lines/s of tailrace (whole command, and its own count of time spent fingerprinting) and of
    drain3, on every dataset's raw lines repeated to `total`, each pinned to one core."""
    distinct = []
    for name in names:
        distinct += load(data, name)[0]
    lines = (distinct * (total // len(distinct) + 1))[:total]
    text = "\n".join(lines) + "\n"
    pin = ["taskset", "-c", "0"] if shutil_which("taskset") else []
    start = time.perf_counter()
    out = subprocess.run(pin + [binary, "fingerprint", "--stats"], input=text, capture_output=True, text=True, check=True)
    whole = time.perf_counter() - start
    stats = dict(kv.split("=", 1) for kv in out.stderr.split() if "=" in kv)
    print(f"\nThroughput on {total:,} raw lines (loghub-2k, every dataset, repeated), pinned to one core:\n")
    print("| parser | seconds | lines/s | vs drain3 |")
    print("| --- | ---: | ---: | ---: |")
    rows = [("tailrace fingerprint (whole command: read, fingerprint, write)", whole)]
    if "seconds" in stats:
        rows.append(("tailrace fingerprint (fingerprinting alone, its own clock)", float(stats["seconds"])))
    # Cold: every line seen for the first time (no template known, nothing cached).
    cold = subprocess.run(pin + [binary, "fingerprint", "--stats"], input="\n".join(distinct) + "\n",
                          capture_output=True, text=True, check=True)
    cold_stats = dict(kv.split("=", 1) for kv in cold.stderr.split() if "=" in kv)
    sys.stderr.write(f"drain3 on {total:,} lines …\n")
    if pin:
        os.sched_setaffinity(0, {0})
    start = time.perf_counter()
    drain3(lines)
    theirs = time.perf_counter() - start
    rows.append(("drain3 (defaults, in-process)", theirs))
    for what, secs in rows:
        print(f"| {what} | {secs:.2f} | {total / secs:,.0f} | {theirs / secs:.1f}x |")
    if "lines_per_second" in cold_stats:
        rate = float(cold_stats["lines_per_second"])
        print(f"\nCold, the {len(distinct):,} distinct lines once (fingerprinting alone): {rate:,.0f} lines/s, "
              f"{rate / (total / theirs):.1f}x drain3's rate above.")


def shutil_which(cmd):
    from shutil import which

    return which(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--content", action="store_true", help="also measure on message contents (headers removed by the labels)")
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines for --throughput")
    ap.add_argument("--only", nargs="*", help="datasets to run (default: all)")
    ap.add_argument("--no-drain3", action="store_true")
    ap.add_argument("--show", help="print the wrong groups of this dataset (tailrace, raw lines)")
    ap.add_argument("--similarity", help="pass --similarity to tailrace fingerprint (for tuning)")
    args = ap.parse_args()
    if args.similarity:
        EXTRA.extend(["--similarity", args.similarity])

    names = args.only or sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))
    parsers = [("tailrace", lambda lines: tailrace(args.bin, lines))]
    if not args.no_drain3:
        parsers.append(("drain3", drain3))
    parsers.append(("seed rules", seed))
    settings = [("raw", False)] + ([("content", True)] if args.content else [])

    for setting, content in settings:
        print(f"\nGrouping accuracy, {'message contents' if content else 'whole raw lines'}:\n")
        print("| dataset | lines | events | " + " | ".join(p for p, _ in parsers) + " |")
        print("| --- | ---: | ---: |" + " ---: |" * len(parsers))
        sums = collections.defaultdict(float)
        worst = collections.defaultdict(lambda: 1.0)
        for name in names:
            raw, contents, truth = load(args.data, name)
            lines = contents if content else raw
            cells = []
            for pname, parse in parsers:
                if pname == "tailrace" and content:
                    predicted = tailrace(args.bin, lines, content=True)
                else:
                    predicted = parse(lines)
                ga = grouping_accuracy(predicted, truth)
                sums[pname] += ga
                worst[pname] = min(worst[pname], ga)
                cells.append(f"{ga:.3f}")
                if args.show == name and pname == "tailrace" and not content:
                    show(lines, predicted, truth)
            print(f"| {name} | {len(lines)} | {len(set(truth))} | " + " | ".join(cells) + " |")
        print("| **mean** | | | " + " | ".join(f"**{sums[p] / len(names):.3f}**" for p, _ in parsers) + " |")
        print("| lowest | | | " + " | ".join(f"{worst[p]:.3f}" for p, _ in parsers) + " |")

    if args.throughput:
        throughput(args.bin, args.data, names, args.lines)


def show(lines, predicted, truth):
    """The groups that are wrong: merged events and split events, with an example line each."""
    by_pred = collections.defaultdict(list)
    by_true = collections.defaultdict(list)
    for i, (p, t) in enumerate(zip(predicted, truth)):
        by_pred[p].append(i)
        by_true[t].append(i)
    for t, idx in sorted(by_true.items(), key=lambda kv: -len(kv[1])):
        preds = collections.Counter(predicted[i] for i in idx)
        if len(preds) > 1:
            sys.stderr.write(f"SPLIT {t} ({len(idx)} lines) into {len(preds)}:\n")
            for p, n in preds.most_common(4):
                i = next(i for i in idx if predicted[i] == p)
                sys.stderr.write(f"   {n:5} {lines[i][:160]}\n")
    for p, idx in sorted(by_pred.items(), key=lambda kv: -len(kv[1])):
        ts = collections.Counter(truth[i] for i in idx)
        if len(ts) > 1:
            sys.stderr.write(f"MERGED {len(ts)} events in {p} ({len(idx)} lines):\n")
            for t, n in ts.most_common(4):
                i = next(i for i in idx if truth[i] == t)
                sys.stderr.write(f"   {n:5} {t:6} {lines[i][:150]}\n")


if __name__ == "__main__":
    main()
