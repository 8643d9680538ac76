//! Grouping on formats outside the loghub samples, written from each format's documentation
//! (not from any loghub data): every format is a few event templates whose variable parts are
//! filled with generated values, and grouping accuracy (a line is right when the lines sharing
//! its fingerprint are exactly those of its event) must hold with the one default
//! configuration. A regression on a format nobody tuned for shows up here, in `cargo test`.

use std::collections::HashMap;

use tailrace_processors::template::{Fingerprinter, SourceKey};

/// A tiny deterministic generator: the corpus is the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// `{…}` placeholders of `template` filled: n (number), ms, ip, port, hex, uuid, user, path,
    /// host, time, date, pid, size, hms (time without fraction), epoch (seconds), exe, word (a
    /// host name without digits), service, unit and target (systemd unit names), tag (a wake
    /// lock's, of one to three words) and pkg (an Android package).
    fn fill(&mut self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let key = rest[open + 1..].split('}').next().unwrap_or_default();
            let value = match key {
                "n" => self.below(100_000).to_string(),
                "ms" => format!("{}", 1 + self.below(9_000)),
                "pid" => format!("{}", 100 + self.below(30_000)),
                "ip" => format!("10.{}.{}.{}", self.below(256), self.below(256), 1 + self.below(254)),
                "port" => format!("{}", 1024 + self.below(60_000)),
                "hex" => format!("{:012x}", self.next() >> 16),
                "uuid" => {
                    let (a, b) = (self.next(), self.next());
                    format!(
                        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                        a >> 32,
                        a & 0xffff,
                        b >> 52,
                        (b >> 40) & 0xfff,
                        b & 0xffff_ffff_ffff
                    )
                }
                "user" => self.pick(&["alice", "bob", "carol", "dave", "erin", "frank", "grace"]).to_owned(),
                "path" => format!(
                    "/{}/{}/{}.{}",
                    self.pick(&["var", "srv", "opt", "home"]),
                    self.pick(&["data", "www", "cache", "app"]),
                    self.pick(&["index", "report", "photo", "main", "config"]),
                    self.pick(&["html", "json", "png", "yaml"])
                ),
                "host" => format!("{}-{}", self.pick(&["web", "db", "cache", "worker"]), self.below(40)),
                "time" => format!(
                    "{:02}:{:02}:{:02}.{:03}",
                    self.below(24),
                    self.below(60),
                    self.below(60),
                    self.below(1000)
                ),
                "date" => format!("2026-{:02}-{:02}", 1 + self.below(12), 1 + self.below(28)),
                "size" => format!("{}", self.below(10_000_000)),
                "hms" => format!("{:02}:{:02}:{:02}", self.below(24), self.below(60), self.below(60)),
                "epoch" => format!("{}", 1_700_000_000 + self.below(90_000_000)),
                "exe" => self
                    .pick(&["chrome.exe", "firefox.exe", "Teams.exe", "svchost.exe", "git-remote-https.exe"])
                    .to_owned(),
                "word" => {
                    self.pick(&["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]).to_owned()
                }
                "service" => self.pick(&["billing", "search", "checkout", "ledger"]).to_owned(),
                "unit" => self
                    .pick(&[
                        "nginx.service",
                        "cron.service",
                        "ssh.service",
                        "docker.socket",
                        "systemd-logind.service",
                        "apt-daily.timer",
                        "var-lib-docker.mount",
                    ])
                    .to_owned(),
                "tag" => self
                    .pick(&["View Lock", "*alarm*", "RILJ_ACK_WL", "AudioMix", "Sync lock held"])
                    .to_owned(),
                "pkg" => self
                    .pick(&["com.android.systemui", "com.android.phone", "android", "com.google.android.gms"])
                    .to_owned(),
                "target" => self
                    .pick(&["network.target", "multi-user.target", "timers.target", "sockets.target"])
                    .to_owned(),
                // A literal brace (JSON).
                _ => {
                    out.push('{');
                    rest = &rest[open + 1..];
                    continue;
                }
            };
            let close = open + 1 + key.len();
            out.push_str(&value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A format: a header template (placeholders as in [`Gen::fill`], `{level}` for the event's
/// level) and its events (level, message template).
struct Format {
    name: &'static str,
    /// The accuracy it must keep: 1.0, or what it has where a known weakness shows (said why).
    floor: f64,
    header: &'static str,
    events: &'static [(&'static str, &'static str)],
}

const FORMATS: &[Format] = &[
    Format {
        name: "logcat threadtime",
        floor: 1.0,
        header: "12-05 {time}  {pid}  {pid} {level} ",
        events: &[
            ("I", "ActivityManager: Start proc {pid}:com.example.app/u0a{n} for activity"),
            ("W", "PackageManager: Failure retrieving resources for com.example.app{n}"),
            ("E", "AndroidRuntime: FATAL EXCEPTION: main Process: com.example.app, PID: {pid}"),
            ("D", "ConnectivityService: notifyType CAP_CHANGED for NetworkAgentInfo [WIFI () - {n}]"),
            ("I", "wm_on_resume_called: [{n},com.example.MainActivity,RESUME_ACTIVITY]"),
            ("W", "BatteryStats: Reading cpu stats took {ms} ms"),
        ],
    },
    Format {
        name: "nginx error",
        floor: 1.0,
        header: "2026/12/05 {time} [{level}] {pid}#0: *{n} ",
        events: &[
            ("error", "open() \"{path}\" failed (2: No such file or directory), client: {ip}, server: example.com"),
            ("error", "upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}"),
            ("warn", "an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/{n}"),
            ("crit", "SSL_do_handshake() failed (SSL: error:{hex}) while SSL handshaking, client: {ip}"),
            ("error", "open() \"{path}\" failed (13: Permission denied), client: {ip}, server: example.com"),
            ("notice", "signal process started"),
        ],
    },
    Format {
        name: "PostgreSQL",
        floor: 1.0,
        header: "{date} {time} UTC [{pid}] ",
        events: &[
            ("LOG", "checkpoint complete: wrote {n} buffers ({n}%); 0 WAL file(s) added"),
            ("ERROR", "duplicate key value violates unique constraint \"users_pkey\""),
            ("ERROR", "relation \"orders_{n}\" does not exist at character {n}"),
            ("FATAL", "password authentication failed for user \"{user}\""),
            ("LOG", "connection received: host={ip} port={port}"),
            ("LOG", "connection authorized: user={user} database=shop application_name=psql"),
            ("LOG", "duration: {ms}.{n} ms  statement: SELECT * FROM items WHERE id = {n}"),
        ],
    },
    Format {
        name: "Redis",
        floor: 1.0,
        header: "{pid}:M 05 Dec 2026 {time} ",
        events: &[
            ("*", "DB saved on disk"),
            ("*", "DB loaded from disk: 0.{n} seconds"),
            ("*", "Background saving started by pid {pid}"),
            ("*", "{n} changes in 300 seconds. Saving..."),
            ("#", "WARNING overcommit_memory is set to 0! Background save may fail under low memory condition."),
            ("*", "Accepted {ip}:{port}"),
        ],
    },
    Format {
        name: "klog (Kubernetes)",
        floor: 1.0,
        header: "{level}1205 {time}    {pid} ",
        events: &[
            ("I", "kubelet.go:{n}] \"SyncLoop UPDATE\" source=\"api\" pods=[\"default/web-{hex}\"]"),
            ("E", "pod_workers.go:{n}] \"Error syncing pod, skipping\" err=\"failed to \\\"StartContainer\\\"\" pod=\"default/web-{hex}\""),
            ("W", "reflector.go:{n}] watch of *v1.Pod ended with: an error on the server (\"unable to decode an event from the watch stream\")"),
            ("I", "event.go:{n}] \"Event occurred\" object=\"default/web-{hex}\" reason=\"Pulled\""),
            ("I", "event.go:{n}] \"Event occurred\" object=\"default/web-{hex}\" reason=\"Killing\""),
        ],
    },
    Format {
        name: "Docker daemon (logfmt)",
        floor: 1.0,
        header: "time=\"{date}T{time}Z\" level={level} ",
        events: &[
            ("info", "msg=\"Container {hex} failed to exit within 10 seconds of signal 15 - using the force\""),
            ("error", "msg=\"Handler for POST /v1.43/containers/{hex}/start returned error: port is already allocated\""),
            ("info", "msg=\"ignoring event\" container={hex} module=libcontainerd namespace=moby topic=/tasks/delete"),
            ("warning", "msg=\"Health check for container {hex} error: timed out starting health check\""),
        ],
    },
    Format {
        name: "OpenStack (oslo.log)",
        floor: 1.0,
        header: "{date} {time} {pid} {level} ",
        events: &[
            ("INFO", "nova.compute.manager [req-{uuid} - - - - -] [instance: {uuid}] Took {ms}.{n} seconds to spawn the instance on the hypervisor."),
            ("WARNING", "nova.virt.libvirt.driver [req-{uuid} - - - - -] Cannot update service status on host \"{host}\" since it is not registered."),
            ("ERROR", "nova.scheduler.utils [req-{uuid} - - - - -] [instance: {uuid}] Error from last host: {host}"),
            ("INFO", "nova.osapi_compute.wsgi.server [req-{uuid} - - - - -] {ip} \"GET /v2/servers/{uuid} HTTP/1.1\" status: 200 len: {size} time: 0.{n}"),
        ],
    },
    Format {
        name: "Python logging",
        // "logged in" and "logged out" end up one event: after `user <*>` generalized, one
        // differing word of four compared is within the similarity (issue 16: mining by
        // evidence across lines, not by one threshold).
        floor: 0.6,
        header: "{date} {time},{n} - ",
        events: &[
            ("INFO", "app.worker - INFO - job {uuid} finished in {ms} ms"),
            ("WARNING", "app.http - WARNING - retrying GET https://api.example.com/items/{n} after {ms} ms"),
            ("ERROR", "app.db - ERROR - could not connect to {ip}:{port}: timeout"),
            ("INFO", "app.auth - INFO - user {user} logged in from {ip}"),
            ("INFO", "app.auth - INFO - user {user} logged out from {ip}"),
        ],
    },
    Format {
        // log4j's PatternLayout with `|` between conversions (`%d{yyyyMMdd}|%d{HH:mm:ss}|%c{1}|
        // %X{txn}|%m%n`): no space between the header's fields and the message's first word.
        name: "pipe-delimited pattern",
        floor: 1.0,
        header: "",
        events: &[
            ("INFO", "{n}|{time}|InventoryClient|{n}|reserve ok"),
            ("INFO", "{n}|{time}|InventoryClient|{n}|release ok"),
            ("WARN", "{n}|{time}|PaymentService|{n}|retry {n}"),
            ("ERROR", "{n}|{time}|Gateway|{n}|retry {n}"),
            ("INFO", "{n}|{time}|PaymentService|{n}|charge accepted amount={n}"),
        ],
    },
    Format {
        name: "JSON lines",
        floor: 1.0,
        header: "",
        events: &[
            ("info", "{\"ts\":\"{date}T{time}Z\",\"level\":\"info\",\"msg\":\"request served\",\"path\":\"{path}\",\"status\":200,\"ms\":{ms}}"),
            ("error", "{\"ts\":\"{date}T{time}Z\",\"level\":\"error\",\"msg\":\"payment failed\",\"order\":{n},\"err\":\"card declined\"}"),
            ("warn", "{\"ts\":\"{date}T{time}Z\",\"level\":\"warn\",\"msg\":\"slow query\",\"ms\":{ms},\"table\":\"orders\"}"),
        ],
    },
    Format {
        // Windows servicing (CBS.log): a comma after the time, the level padded, the component.
        name: "Windows CBS",
        floor: 1.0,
        header: "{date} {hms}, {level}                  CBS    ",
        events: &[
            ("Info", "Loaded Servicing Stack v6.1.{n}.{n} with Core: C:\\Windows\\winsxs\\amd64_{hex}\\cbscore.dll"),
            ("Info", "Session: {n}_{n} initialized by client WindowsUpdateAgent."),
            ("Info", "Read out cached package applicability for package: Package_for_KB{n}~31bf3856ad364e35~amd64~~6.1.1.{n}, ApplicableState: 112, CurrentState:112"),
            ("Warning", "Failed to get next package to re-evaluate [HRESULT = 0x800f0805 - CBS_E_INVALID_PACKAGE]"),
            ("Info", "Ending TrustedInstaller finalization."),
        ],
    },
    Format {
        // macOS syslog: BSD syslog with the process's bracketed pid, messages in many shapes.
        name: "macOS syslog",
        floor: 1.0,
        header: "Dec  5 {hms} mbp-{n} ",
        events: &[
            ("I", "kernel[0]: AppleThunderboltNHIType2::prePCIWake - power up complete - took {n} us"),
            ("I", "com.apple.xpc.launchd[1] (com.apple.mdworker.bundles[{pid}]): Service exited with abnormal code: 1"),
            ("I", "WindowServer[{pid}]: CGXDisplayDidWakeNotification [{n}]: posting kCGSDisplayDidWake"),
            ("E", "sandboxd[{pid}]: ([{pid}]) mdworker({pid}) deny file-read-data {path}"),
            ("I", "kernel[0]: ARPT: {n}.{n}: wl0: MDNS: IPV4 Addr: {ip}"),
            ("I", "QQ[{pid}]: FA||Url||taskID[{n}] dealloc"),
        ],
    },
    Format {
        // A proxy client's connection log: the time in brackets, the program, the target.
        name: "proxy connections",
        floor: 1.0,
        header: "[12.05 {hms}] ",
        events: &[
            ("I", "{exe} - {host}.example.com:{port} open through proxy proxy.example.com:5070 HTTPS"),
            ("I", "{exe} - {host}.example.com:{port} close, {n} bytes sent, {n} bytes ({size} KB) received, lifetime {n}:{n}"),
            ("E", "{exe} - {host}.example.com:{port} error : Could not connect through proxy proxy.example.com:5070 - Proxy server cannot establish a connection with the target, status code 403"),
            ("I", "{exe} *64 - {host}.example.com:{port} open through proxy proxy.example.com:5070 SOCKS5"),
        ],
    },
    Format {
        // A cluster's RAS events: record id, node, component, event kind, epoch seconds, flag.
        name: "cluster RAS events",
        floor: 1.0,
        header: "{n} node-{n} ",
        events: &[
            ("I", "unix.hw state_change.unavailable {epoch} 1 Component State Change: Component \\042alt0\\042 is in the unavailable state (HWID={n})"),
            ("I", "action start {epoch} 1 clusterAddMember  (command {n})"),
            ("E", "node psu failure {epoch} 1 ambient={n}"),
            ("I", "boot_cmd new {epoch} 1 Targeting domains:node-D{n} and nodes:node-[{n}-{n}] child of command {n}"),
            ("W", "node temp {epoch} 1 Temperature ({n}C) exceeds warning threshold"),
        ],
    },
    Format {
        // A syslog relayed through a collector: alert flag, epoch, date, node, then the
        // original syslog line with its own time and `node/node` host.
        name: "relayed syslog",
        floor: 1.0,
        header: "- {epoch} 2026.12.05 dn{n} Dec 5 {hms} dn{n}/dn{n} ",
        events: &[
            ("I", "crond(pam_unix)[{pid}]: session closed for user root"),
            ("I", "crond(pam_unix)[{pid}]: session opened for user root by (uid=0)"),
            ("I", "crond[{pid}]: (root) CMD (run-parts /etc/cron.hourly)"),
            ("E", "kernel: [KERNEL_IB][ib_mad_dispatch][{n}]EVAPI_process_local_mad failed, return code = -{n}"),
            ("I", "ntpd[{pid}]: synchronized to {ip}, stratum 2"),
            ("W", "sshd[{pid}]: Did not receive identification string from {ip}"),
        ],
    },
    Format {
        // A mobile app's log: compact date-time with milliseconds, component, id, message.
        name: "pipe-delimited app",
        floor: 1.0,
        header: "",
        events: &[
            ("I", "20261205-{hms}:{n}|Step_LSC|{n}|onStandStepChanged {n}"),
            ("I", "20261205-{hms}:{n}|Step_SPUtils|{n}| getTodayTotalDetailSteps = {n}##{n}##{n}##{n}##{n}"),
            ("I", "20261205-{hms}:{n}|Step_StandReportReceiver|{n}|onReceive action: android.intent.action.SCREEN_ON"),
            ("E", "20261205-{hms}:{n}|HiH_DataCacheUtil|{n}|getCacheData failed, key={n}"),
            ("I", "20261205-{hms}:{n}|Step_ExtSDM|{n}|calculateCaloriesWithCache totalCalories={n}"),
        ],
    },
    Format {
        // Android's power manager in logcat's threadtime format, its wake-lock lines as AOSP's
        // PowerManagerService writes them: the lock's tag is quoted and may be several words.
        name: "Android wake locks",
        floor: 1.0,
        header: "12-05 {time}  {pid}  {pid} {level} PowerManagerService: ",
        events: &[
            ("D", "acquire lock={n}, flags=0x1, tag=\"{tag}\", name={pkg}, ws=null, uid={n}, pid={pid}"),
            ("D", "release lock={n}, flags=0x1, tag=\"{tag}\", name={pkg}, ws=null, uid={n}, pid={pid}"),
            ("I", "Going to sleep due to screen timeout (uid {n})..."),
            ("I", "Waking up from sleep (uid {n})..."),
        ],
    },
    Format {
        // systemd's manager in syslog, with `StatusUnitFormat=name` (systemd-system.conf(5)):
        // its status messages name units, so each event's one variable is a dotted name, and
        // a short message differs from its kin in that name alone (two of three words alike).
        name: "systemd units",
        floor: 1.0,
        header: "Dec  5 {hms} {word} systemd[1]: ",
        events: &[
            ("I", "Started {unit}."),
            ("I", "Stopping {unit}..."),
            ("I", "Stopped {unit}."),
            ("E", "Failed to start {unit}."),
            ("I", "Reached target {target}."),
        ],
    },
    Format {
        // A format of one's own: host and service names (words, no digits) between the time and
        // the level, as many in-house formats put them.
        name: "words before the level",
        floor: 1.0,
        header: "{date} {hms} {word} {service} {level}: ",
        events: &[
            ("ERROR", "payment declined for order {n}"),
            ("WARN", "cache miss ratio high on shard {n}"),
            ("INFO", "order {n} shipped"),
            ("ERROR", "payment gateway timeout after {ms} ms"),
        ],
    },
    Format {
        // In-house again, without a level: nothing but the source's own lines says that the
        // host and service words are header (learned: [`template::source`]).
        name: "words and no level",
        floor: 1.0,
        header: "{date}T{hms}Z {word} {service} ",
        events: &[
            ("", "payment declined for order {n} by issuer"),
            ("", "cache miss ratio high on shard {n} of the ring"),
            ("", "order {n} shipped to warehouse {n} today"),
            ("", "payment gateway timeout after {ms} ms on retry"),
            ("", "session {hex} expired after idle timeout"),
        ],
    },
];

/// Grouping accuracy of `fingerprints` against `events` (Zhu et al., ICSE-SEIP 2019).
fn accuracy(fingerprints: &[u64], events: &[usize]) -> f64 {
    let mut by_fp: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_event: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (&f, &e)) in fingerprints.iter().zip(events).enumerate() {
        by_fp.entry(f).or_default().push(i);
        by_event.entry(e).or_default().push(i);
    }
    let right = (0..events.len()).filter(|&i| by_fp[&fingerprints[i]] == by_event[&events[i]]).count();
    right as f64 / events.len() as f64
}

#[test]
fn formats_nobody_tuned_for_are_grouped_by_their_events() {
    let mut report = Vec::new();
    let mut below = Vec::new();
    for format in FORMATS {
        let mut gen = Gen(0x9e37_79b9_7f4a_7c15 ^ format.name.len() as u64);
        let mut fingerprinter = Fingerprinter::default();
        let source = SourceKey::new("corpus", format.name);
        let (mut lines, mut events) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let e = gen.below(format.events.len() as u64) as usize;
            let (level, message) = format.events[e];
            let header = gen.fill(&format.header.replace("{level}", level));
            lines.push(if format.header.is_empty() {
                gen.fill(message)
            } else {
                format!("{header}{}", gen.fill(message))
            });
            events.push(e);
        }
        // As the processor reads a file's first batch, and `tailrace fingerprint` its input.
        fingerprinter.look_ahead(source, lines.iter().map(String::as_str));
        let fps: Vec<u64> =
            lines.iter().map(|line| fingerprinter.line_from(source, line, None).fingerprint.0).collect();
        let ga = accuracy(&fps, &events);
        if ga < format.floor {
            below.push(format.name);
        }
        if ga < 1.0 && std::env::var("SHOW_GROUPS").is_ok() {
            let mut groups: HashMap<u64, std::collections::BTreeSet<usize>> = HashMap::new();
            for (f, e) in fps.iter().zip(&events) {
                groups.entry(*f).or_default().insert(*e);
            }
            for (f, es) in groups.iter().filter(|(_, es)| es.len() > 1) {
                eprintln!("{}: {f:x} merges events {es:?}", format.name);
            }
            let mut split: HashMap<usize, std::collections::BTreeSet<u64>> = HashMap::new();
            for (f, e) in fps.iter().zip(&events) {
                split.entry(*e).or_default().insert(*f);
            }
            for (e, fs) in split.iter().filter(|(_, fs)| fs.len() > 1) {
                eprintln!(
                    "{}: event {e} ({}) split into {} fingerprints",
                    format.name,
                    format.events[*e].1,
                    fs.len()
                );
            }
        }
        report.push(format!("{:<24} {ga:.3} (floor {:.3})", format.name, format.floor));
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert!(
        below.is_empty(),
        "{below:?} fell below their floor:\n{report}\n(SHOW_GROUPS=1 shows the wrong groups)"
    );
}

#[test]
fn a_stated_format_groups_a_source_whose_header_cannot_be_told_by_its_look() {
    use tailrace_processors::template::LineFormat;
    // Host and service words and a pipe, no level: nothing in a line's look says where the
    // header ends (the rules alone: `line`, no source to learn from; a stated format does not
    // wait for a source's first lines to teach it).
    let events =
        ["payment declined for order {n}", "cache miss ratio high on shard {n}", "order {n} shipped"];
    let format =
        LineFormat::new(0, r"<Date> <Time> <Host> <Service> \| <Content>", &[r"shard \d+".to_owned()])
            .unwrap();
    let mut gen = Gen(0x5eed);
    let (mut learned, mut stated) = (Fingerprinter::default(), Fingerprinter::default());
    let (mut by_look, mut by_format, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..300 {
        let e = gen.below(events.len() as u64) as usize;
        let line = gen.fill(&format!("{{date}} {{hms}} {{word}} {{service}} | {}", events[e]));
        by_look.push(learned.line(&line).fingerprint.0);
        let m = stated.line_from(SourceKey(1), &line, Some(&format));
        by_format.push(m.fingerprint.0);
        if e == 1 {
            assert_eq!(m.template, "cache miss ratio high on <*>", "the stated mask applies");
        }
        truth.push(e);
    }
    let (look, stated) = (accuracy(&by_look, &truth), accuracy(&by_format, &truth));
    assert_eq!(stated, 1.0, "with the format stated (by its look: {look:.3})");
    assert!(look < 0.5, "this source is one the look cannot split ({look:.3}), so the test says something");
}
