#!/usr/bin/env python3
"""Issue grouping accuracy and fingerprint throughput, tailrace beside drain3 and the seed's rules.

Grouping accuracy as in Zhu et al., "Tools and Benchmarks for Automated Log Parsing"
(ICSE-SEIP 2019): a line is grouped right when the set of lines sharing its fingerprint equals
the set of lines sharing its true event id. Every parser is fed whole raw lines (headers
included), every line is an issue candidate, and one configuration serves every dataset.

    python3 scripts/grouping.py                      # accuracy table (Markdown) on loghub-2k
    python3 scripts/grouping.py --throughput         # plus lines/s on the lines repeated to 1M
    python3 scripts/grouping.py --content            # also the classic setting: message content only
    python3 scripts/grouping.py --save before.json   # keep the per-dataset figures of this build
    python3 scripts/grouping.py --baseline before.json --designed-for OpenSSH
                                                     # leave-one-dataset-out: did a change made for
                                                     # OpenSSH help the datasets it was not made for?

Parsers beside tailrace: drain3 with its defaults; Brain (Yu et al., IEEE TSC 2023, from
logparser3) both ways: one configuration on raw lines (`<Content>`, no masks, its default
threshold), and given each dataset's header format (derived here from the dataset's own labels:
the header columns of its structured CSV located in its lines) with a generic set of masks; and
the seed's rules.

Needs: a release build (`cargo build --release`), drain3 and logparser3 (`python3 -m pip install
drain3 logparser3`; `deploy/prereqs.sh` installs them with the other benchmark tools:
`ensure_bench_prereqs`).
The data: ../shared/data/loghub-2k (see its LICENSE; loghub, Zhu et al., ISSRE 2023).
"""

import argparse
import collections
import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "loghub-2k")
DEFAULT_BIN = os.path.join(ROOT, "target", "release", "tailrace")


def load(data, name):
    """Raw lines, message contents and true event ids of one dataset."""
    raw, rows = load_rows(data, name)
    return raw, [r["Content"] for r in rows], [r["EventId"] for r in rows]


def load_rows(data, name):
    with open(os.path.join(data, name, f"{name}_2k.log"), encoding="utf-8", errors="replace") as f:
        raw = [line.rstrip("\r\n") for line in f]
    with open(os.path.join(data, name, f"{name}_2k.log_structured.csv"), encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(raw):
        sys.exit(f"{name}: {len(raw)} raw lines but {len(rows)} labelled rows")
    return raw, rows


NOT_HEADERS = {"LineId", "Content", "EventId", "EventTemplate"}


def header_format(raw, rows):
    """A dataset's header in logparser's form (`<Date> <Time> <Level>: <Content>`), found from
    its labels: the structured CSV's header columns, in order, located in a line that holds them
    all, with the text between them kept (escaped: logparser reads a format as a regular
    expression). Of the shapes the first 200 lines give, the one that matches the most lines."""
    columns = [c for c in rows[0].keys() if c not in NOT_HEADERS]
    shapes = collections.Counter()
    for line, row in list(zip(raw, rows))[:200]:
        pos, parts = 0, []
        for c in columns + ["Content"]:
            value = row[c]
            at = line.find(value, pos) if value else -1
            if at < 0:
                break
            parts.append(re.escape(re.sub(r"[<>]", "", line[pos:at])).replace("\\ ", " "))
            parts.append(f"<{c}>")
            pos = at + len(value)
        else:
            shapes["".join(parts)] += 1
    if not shapes:
        return "<Content>"
    from logparser.Brain import LogParser

    def matched(shape):
        _, regex = LogParser(logname="tailrace", log_format=shape).generate_logformat_regex(shape)
        return sum(1 for line in raw if regex.search(line.strip()))

    return max(shapes, key=matched)


# Masks for Brain given each dataset's format: generic ones, the same for every dataset.
GENERIC_MASKS = [r"(\d+\.){3}\d+(:\d+)?", r"(/[\w.-]+)+", r"\b0x[0-9a-fA-F]+\b", r"(?<![A-Za-z])-?\d+(\.\d+)?(?![A-Za-z])"]


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


# --- Brain (Yu et al., IEEE TSC 2023), from logparser3 ----------------------------------------
def brain(lines, log_format="<Content>", rex=(), threshold=2):
    """Brain's groups of `lines`; a line its header format does not match is a group of its own."""
    try:
        from logparser.Brain import LogParser
    except ImportError:
        sys.exit("logparser3 is not installed: `python3 -m pip install logparser3` (or run with --no-brain)")
    parser = LogParser(logname="tailrace", log_format=log_format, threshold=threshold, rex=list(rex))
    _, regex = parser.generate_logformat_regex(log_format)
    kept = [i for i, line in enumerate(lines) if regex.search(line.strip())]
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "in.log"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines[i] for i in kept) + "\n")
        parser.path, parser.savePath = d, d
        with contextlib.redirect_stdout(io.StringIO()):
            parser.parse("in.log")
        with open(os.path.join(d, "in.log_structured.csv"), encoding="utf-8") as f:
            ids = [r["EventId"] for r in csv.DictReader(f)]
    if len(ids) != len(kept):
        sys.exit(f"Brain answered {len(ids)} lines for {len(kept)}")
    out = [f"unparsed-{i}" for i in range(len(lines))]
    for i, event in zip(kept, ids):
        out[i] = event
    return out


# --- tailrace ---------------------------------------------------------------------------------
EXTRA = []


def tailrace(binary, lines, content=False, log_format=None):
    """tailrace's fingerprints of `lines`; `log_format`: the lines' format in logparser's form,
    as an operator would state it in `[[processors.fingerprint.formats]]` (its own masks only)."""
    args = [binary, "fingerprint"] + (["--content"] if content else []) + EXTRA
    if log_format:
        args += ["--format", log_format]
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
    ap.add_argument("--no-brain", action="store_true")
    ap.add_argument("--save", help="write the per-dataset figures (JSON) here, to compare a later build with")
    ap.add_argument("--baseline", help="figures saved by an earlier --save: report tailrace's change per dataset")
    ap.add_argument("--designed-for", nargs="*", default=[],
                    help="the datasets a change was made for: the verdict counts only the others")
    ap.add_argument("--show", help="print the wrong groups of this dataset (tailrace, raw lines)")
    ap.add_argument("--similarity", help="pass --similarity to tailrace fingerprint (for tuning)")
    args = ap.parse_args()
    if args.similarity:
        EXTRA.extend(["--similarity", args.similarity])

    names = args.only or sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))
    parsers = [("tailrace", lambda lines, name: tailrace(args.bin, lines))]
    if not args.no_brain:
        # Given the same header formats as Brain below (an operator who knows the format).
        parsers.append(("tailrace, each dataset's header", lambda lines, name: tailrace(args.bin, lines, log_format=formats[name][0])))
    if not args.no_drain3:
        parsers.append(("drain3", lambda lines, name: drain3(lines)))
    if not args.no_brain:
        parsers.append(("Brain, one configuration", lambda lines, name: brain(lines)))
        parsers.append(("Brain, each dataset's header", lambda lines, name: brain(lines, *formats[name])))
    parsers.append(("seed rules", lambda lines, name: seed(lines)))
    # Brain given the header: raw lines with the dataset's format; contents have no header.
    formats = {}
    for name in names:
        raw, rows = load_rows(args.data, name)
        formats[name] = (header_format(raw, rows), GENERIC_MASKS)
    figures = collections.defaultdict(dict)
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
                if pname.startswith("tailrace") and content:
                    predicted = tailrace(args.bin, lines, content=True)
                elif pname == "Brain, each dataset's header" and content:
                    predicted = brain(lines, "<Content>", GENERIC_MASKS)
                else:
                    predicted = parse(lines, name)
                figures[setting].setdefault(pname, {})[name] = ga = grouping_accuracy(predicted, truth)
                sums[pname] += ga
                worst[pname] = min(worst[pname], ga)
                cells.append(f"{ga:.3f}")
                if args.show == name and pname == "tailrace" and not content:
                    show(lines, predicted, truth)
            print(f"| {name} | {len(lines)} | {len(set(truth))} | " + " | ".join(cells) + " |")
        print("| **mean** | | | " + " | ".join(f"**{sums[p] / len(names):.3f}**" for p, _ in parsers) + " |")
        print("| lowest | | | " + " | ".join(f"{worst[p]:.3f}" for p, _ in parsers) + " |")

    if not args.no_brain:
        print("\nBrain's header formats, from each dataset's labels:\n")
        for name in names:
            print(f"- {name}: `{formats[name][0]}`")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1, sort_keys=True)
    if args.baseline:
        leave_one_out(args.baseline, figures, args.designed_for)
    if args.throughput:
        throughput(args.bin, args.data, names, args.lines)


def leave_one_out(path, figures, designed_for):
    """tailrace's change from a saved run, per dataset; the verdict rests on the datasets the
    change was not made for (a rule that fixes one dataset says nothing about the next)."""
    with open(path, encoding="utf-8") as f:
        before = json.load(f)
    for setting, parsers in figures.items():
        old, new = before.get(setting, {}).get("tailrace", {}), parsers.get("tailrace", {})
        common = sorted(set(old) & set(new))
        if not common:
            continue
        print(f"\ntailrace against {path}, {setting} lines:\n")
        print("| dataset | before | now | change | |")
        print("| --- | ---: | ---: | ---: | --- |")
        for name in common:
            mark = "made for" if name in designed_for else "held out"
            print(f"| {name} | {old[name]:.3f} | {new[name]:.3f} | {new[name] - old[name]:+.3f} | {mark} |")
        others = [n for n in common if n not in designed_for]
        if others:
            delta = sum(new[n] - old[n] for n in others) / len(others)
            worst = min(new[n] - old[n] for n in others)
            if delta > 0 and worst > -0.01:
                verdict = "keep"
            elif worst >= 0 and abs(delta) < 1e-9:
                # A change made for formats outside loghub (the formats corpus) cannot raise these;
                # it is kept only if it leaves every one of them exactly as it was.
                verdict = "neutral: keep only for a format outside these datasets it fixes"
            else:
                verdict = "do not keep"
            print(f"\nOn the {len(others)} datasets it was not made for: mean change {delta:+.4f}, "
                  f"largest fall {worst:+.3f}: **{verdict}** (kept only if the mean rises and none falls by 0.01, "
                  f"or, for a change made for a format outside them, if none changes at all).")


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
