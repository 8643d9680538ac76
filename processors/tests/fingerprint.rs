//! Fingerprints: lines of one template share one, whatever their variables and headers; lines
//! of different templates do not.

use proptest::prelude::*;
use tailrace_processors::template::Fingerprinter;

/// Event templates with typed holes, as services write them.
const TEMPLATES: &[&str] = &[
    "Connection to {ip}:{port} timed out after {dur}",
    "Failed to open {path}: permission denied",
    "Request {uuid} to {url} returned status {num}",
    "Block {hex} of size {size} is corrupt on {ip}",
    "User {quoted} rejected by policy with {kv}",
    "Retrying upload of {path} ({num} of {num}) in {dur}",
];

fn variable(kind: &str) -> BoxedStrategy<String> {
    match kind {
        "ip" => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
            .boxed(),
        "port" | "num" => any::<u32>().prop_map(|n| n.to_string()).boxed(),
        "dur" => (1u32..100_000, prop::sample::select(vec!["ms", "s", "us", "m"]))
            .prop_map(|(n, u)| format!("{n}{u}"))
            .boxed(),
        "size" => (1u32..100_000, prop::sample::select(vec!["KB", "MiB", "B", "GB"]))
            .prop_map(|(n, u)| format!("{n}{u}"))
            .boxed(),
        "path" => prop::collection::vec("[a-z]{1,8}", 1..5).prop_map(|p| format!("/{}", p.join("/"))).boxed(),
        "url" => {
            ("[a-z]{2,8}", "[a-z]{1,8}").prop_map(|(h, p)| format!("https://{h}.example.com/{p}")).boxed()
        }
        "uuid" => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".boxed(),
        "hex" => "[0-9a-f]{8,16}".boxed(),
        "quoted" => "[a-z]{1,6}( [a-z]{1,6}){0,2}".prop_map(|s| format!("\"{s}\"")).boxed(),
        // The key is part of the template; its value varies.
        "kv" => any::<u16>().prop_map(|v| format!("code={v}")).boxed(),
        other => panic!("no variable kind {other}"),
    }
}

/// A header in one of the common shapes (timestamps, host, pid, level, logger).
fn header() -> BoxedStrategy<String> {
    let t = (0u32..60, 0u32..1000, 1u32..99_999);
    prop_oneof![
        t.clone().prop_map(|(s, ms, _)| format!("2024-01-02 10:00:{s:02},{ms:03} ERROR ")),
        t.clone().prop_map(|(s, _, pid)| format!("Jan  5 10:00:{s:02} node{} app[{pid}]: ", pid % 7)),
        t.clone().prop_map(|(s, ms, pid)| format!("E0102 10:00:{s:02}.{ms:06} {pid} main.go:{}] ", ms % 300)),
        t.prop_map(|(s, ms, _)| format!(
            "2024-01-02T10:00:{s:02}.{ms:03}Z WARN [worker-{}] c.e.Service - ",
            ms % 9
        )),
    ]
    .boxed()
}

/// One filled line of template `index`.
fn line(index: usize) -> BoxedStrategy<String> {
    let template = TEMPLATES[index];
    let kinds: Vec<String> =
        template.split('{').skip(1).map(|p| p.split('}').next().unwrap().to_owned()).collect();
    let values: Vec<BoxedStrategy<String>> = kinds.iter().map(|k| variable(k)).collect();
    (header(), values)
        .prop_map(move |(header, values)| {
            let mut out = template.to_owned();
            for (kind, value) in kinds.iter().zip(values) {
                out = out.replacen(&format!("{{{kind}}}"), &value, 1);
            }
            format!("{header}{out}")
        })
        .boxed()
}

proptest! {
    #[test]
    fn lines_that_differ_only_in_variables_share_a_fingerprint(
        (index, lines) in (0..TEMPLATES.len()).prop_flat_map(|i| (Just(i), prop::collection::vec(line(i), 2..12)))
    ) {
        let _ = index;
        let mut fp = Fingerprinter::default();
        let first = fp.line(&lines[0]).fingerprint;
        for l in &lines[1..] {
            prop_assert_eq!(fp.line(l).fingerprint, first, "{} vs {}", lines[0], l);
        }
    }

    #[test]
    fn lines_of_different_templates_get_different_fingerprints(
        (a, b) in (0..TEMPLATES.len(), 0..TEMPLATES.len())
            .prop_filter("two templates", |(a, b)| a != b)
            .prop_flat_map(|(a, b)| (line(a), line(b)))
    ) {
        let mut fp = Fingerprinter::default();
        let fa = fp.line(&a).fingerprint;
        prop_assert_ne!(fp.line(&b).fingerprint, fa, "{} vs {}", a, b);
    }

    /// An instance that absorbed another's templates holds the same templates and gives the
    /// lines the same fingerprints.
    #[test]
    fn an_instance_that_absorbed_the_templates_agrees(
        lines in prop::collection::vec((0..TEMPLATES.len()).prop_flat_map(line), 1..24)
    ) {
        let mut fp = Fingerprinter::default();
        let before: Vec<_> = lines.iter().map(|l| fp.line(l).fingerprint).collect();
        let records = fp.miner().take_changes();
        let mut other = Fingerprinter::default();
        for r in &records {
            other.miner().absorb(r);
        }
        prop_assert!(other.miner().take_changes().is_empty());
        let mut mine: Vec<_> = fp.miner().records().collect();
        let mut theirs: Vec<_> = other.miner().records().collect();
        mine.sort_by_key(|r| r.fingerprint);
        theirs.sort_by_key(|r| r.fingerprint);
        prop_assert_eq!(mine, theirs);
        let after: Vec<_> = lines.iter().map(|l| other.line(l).fingerprint).collect();
        prop_assert_eq!(after, before);
    }

    /// Words of one length and first word that differ in most positions are other events.
    #[test]
    fn templates_that_share_little_stay_apart(
        words in prop::collection::vec("[a-z]{3,8}", 4..10),
        others in prop::collection::vec("[A-Z]{3,8}", 10),
    ) {
        let mut changed = words.clone();
        // Keep the first word; replace more than half of the rest.
        let n = words.len();
        for (i, other) in others.iter().enumerate().take(n / 2 + 1) {
            changed[n - 1 - i] = other.clone();
        }
        let mut fp = Fingerprinter::default();
        let fa = fp.content(&words.join(" ")).fingerprint;
        prop_assert_ne!(fp.content(&changed.join(" ")).fingerprint, fa);
    }
}

#[test]
fn a_template_keeps_its_fingerprint_and_shows_its_variables() {
    let mut fp = Fingerprinter::default();
    let a =
        fp.line("2024-01-02 10:00:00,000 ERROR Connection to 10.0.0.1:5432 timed out after 30s").fingerprint;
    let m = fp.line("2024-01-02 10:00:09,999 ERROR Connection to 10.0.0.2:6379 timed out after 1500ms");
    assert_eq!(m.fingerprint, a);
    assert_eq!(m.template, "Connection to <*> timed out after <*>");
}

#[test]
fn a_word_many_lines_agreed_on_stays_the_events_own_in_another_instance_too() {
    // Eight distinct lines agree on "started"; a line with "stopped" there is another event.
    let mut first = Fingerprinter::default();
    let names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let started = first.content("job alpha started on the main queue").fingerprint;
    for name in names {
        assert_eq!(first.content(&format!("job {name} started on the main queue")).fingerprint, started);
    }
    let stopped = first.content("job iota stopped on the main queue").fingerprint;
    assert_ne!(stopped, started);

    // Another instance that absorbed the first one's templates (a restart, a replica) agrees.
    let records = first.miner().take_changes();
    assert!(records.iter().any(|r| r.fingerprint == started && !r.settled.is_empty()), "{records:?}");
    let mut second = Fingerprinter::default();
    for r in &records {
        second.miner().absorb(r);
    }
    assert_eq!(second.content("job kappa started on the main queue").fingerprint, started);
    assert_ne!(second.content("job lambda stopped on the main queue").fingerprint, started);
}

#[test]
fn a_second_variable_of_words_still_joins_after_the_first_showed_itself() {
    // sshd's accepted logins: the method varied first, the user has shown one value so far. The
    // next user is the same event (a rule that settled "alice" here, after two lines, made a
    // template per user: see BENCHMARKS.md, issue 16).
    let mut fp = Fingerprinter::default();
    let accepted = fp.content("Accepted password for alice from 10.0.0.7 port 50122 ssh2").fingerprint;
    assert_eq!(
        fp.content("Accepted publickey for alice from 10.0.0.9 port 50388 ssh2").fingerprint,
        accepted
    );
    let m = fp.content("Accepted password for bob from 10.0.0.7 port 50460 ssh2");
    assert_eq!(m.fingerprint, accepted);
    assert_eq!(m.template, "Accepted <*> for <*> from <*> port <*>");
}

#[test]
fn templates_stored_before_words_were_kept_in_joined_tokens_keep_their_fingerprints() {
    // What an older build stored for `…|InventoryClient|…|reserve ok`: the joined token was one
    // variable. Masking keeps a token a token, so its `<*>` still takes the joined token and
    // the issue goes on under its fingerprint after an upgrade.
    let stored = tailrace_processors::template::TemplateRecord {
        v: 1,
        fingerprint: tailrace_schemas::Fingerprint(0x5eed),
        template: "<*> ok".into(),
        settled: Vec::new(),
        masked: vec![],
        masking: 0,
        grouping: 0,
    };
    let mut upgraded = Fingerprinter::default();
    upgraded.miner().absorb(&stored);
    let m = upgraded.content("20261205|10:00:00|InventoryClient|77|reserve ok");
    assert_eq!(m.fingerprint, stored.fingerprint);
    // A fresh store tells the two events apart.
    let mut fresh = Fingerprinter::default();
    let reserve = fresh.content("20261205|10:00:00|InventoryClient|77|reserve ok").fingerprint;
    assert_ne!(fresh.content("20261205|10:00:01|InventoryClient|78|release ok").fingerprint, reserve);
}

#[test]
fn a_name_every_line_so_far_had_is_still_a_variable() {
    // Android's wake locks, the first lines all from one app: its package name is what eight
    // distinct lines agreed on, yet another package there is the same event (a dotted name is
    // a value), while another word there is not.
    let mut fp = Fingerprinter::default();
    let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
    let held = fp.content("wake lock held by com.android.phone for alice").fingerprint;
    for user in users {
        assert_eq!(fp.content(&format!("wake lock held by com.android.phone for {user}")).fingerprint, held);
    }
    let m = fp.content("wake lock held by com.whatsapp for judy");
    assert_eq!(m.fingerprint, held);
    assert_eq!(m.template, "wake lock held by <*> for <*>");
    // Short messages differ in the name alone: one of two words alike is below the similarity,
    // the name's shape decides.
    let started = fp.content("Started nginx.service.").fingerprint;
    assert_eq!(fp.content("Started cron.service.").fingerprint, started);
    assert_ne!(fp.content("wake lock released by com.whatsapp for judy").fingerprint, held);
}

#[test]
fn a_template_stored_before_its_words_were_masked_is_migrated_under_its_fingerprint() {
    // An earlier build kept a date and a disk name as words, and eight lines settled the verb
    // (positions 0 and 4 of five). Lines masked today read `backup <*> done` and `disk <*>
    // failed`; without migration neither template takes them (another token count; a settled
    // word against `<*>` with two of three alike), and the issues would go on under new
    // fingerprints.
    use tailrace_processors::template::TemplateRecord;
    use tailrace_schemas::Fingerprint;
    let stored = [
        TemplateRecord {
            v: 1,
            fingerprint: Fingerprint(0xb0),
            template: "backup 2024-01-02 10:00:00 <*> done".into(),
            settled: vec![0, 4],
            masked: vec![],
            masking: 0,
            grouping: 0,
        },
        TemplateRecord {
            v: 1,
            fingerprint: Fingerprint(0xd1),
            template: "disk sda1 failed".into(),
            settled: vec![2],
            masked: vec![],
            masking: 0,
            grouping: 0,
        },
    ];
    let mut upgraded = Fingerprinter::default();
    for r in &stored {
        upgraded.miner().absorb(r);
    }
    let m = upgraded.content("backup 2026-12-06 11:00:00 nightly done");
    assert_eq!((m.fingerprint, m.template), (Fingerprint(0xb0), "backup <*> <*> done"));
    assert_eq!(upgraded.content("disk sdb7 failed").fingerprint, Fingerprint(0xd1));
    // The migrated templates are reported, to be stored as lines now find them, settled
    // positions moved with their words; absorbing them again changes nothing.
    let mut migrated = upgraded.miner().take_changes();
    migrated.sort_by_key(|r| r.fingerprint);
    assert_eq!(migrated[0].template, "backup <*> <*> done");
    assert_eq!(migrated[0].settled, [0, 3]);
    assert_eq!((migrated[1].template.as_str(), &migrated[1].settled[..]), ("disk <*> failed", &[2][..]));
    let mut again = Fingerprinter::default();
    for r in &migrated {
        again.miner().absorb(r);
    }
    assert!(again.miner().take_changes().is_empty());
    assert_eq!(again.content("disk sdc2 failed").fingerprint, Fingerprint(0xd1));
}

#[test]
fn a_header_column_left_as_a_variable_does_not_make_its_lines_one_group() {
    // No rule closes this header (an epoch and a node before the message), so its columns stay
    // in the message as `<*>`: lines are still grouped by their first word, and sshd's accepted
    // and failed logins, alike but in that word, stay two events.
    let mut fp = Fingerprinter::default();
    let accepted = fp.line("1707664359 node-181 Accepted password for alice from 10.0.0.7 port 50122 ssh2");
    let (accepted, template) = (accepted.fingerprint, accepted.template.to_owned());
    assert_eq!(template, "<*> Accepted password for alice from <*> port <*>");
    let failed =
        fp.line("1707664388 node-12 Failed password for alice from 10.0.0.9 port 50388 ssh2").fingerprint;
    assert_ne!(failed, accepted);
    assert_eq!(
        fp.line("1707664390 node-7 Accepted password for bob from 10.0.0.7 port 50460 ssh2").fingerprint,
        accepted
    );
    // A restart that absorbs the templates finds them in the same groups.
    let records = fp.miner().take_changes();
    let mut restarted = Fingerprinter::default();
    for r in &records {
        restarted.miner().absorb(r);
    }
    let again = "1707664399 node-3 Failed password for carol from 10.0.0.1 port 50999 ssh2";
    assert_eq!(restarted.line(again).fingerprint, failed);
}

#[test]
fn a_template_an_earlier_build_grouped_by_a_variable_first_token_keeps_its_lines() {
    // Earlier builds grouped lines whose first token was `<*>` together, so sshd's accepted and
    // failed logins behind an unclosed header became one template. Its issue goes on after the
    // upgrade: both kinds of line still take it, and no new template is made.
    use tailrace_processors::template::TemplateRecord;
    use tailrace_schemas::Fingerprint;
    let stored = TemplateRecord {
        v: 1,
        fingerprint: Fingerprint(0x01d),
        template: "<*> <*> password for <*> from <*> port <*>".into(),
        settled: vec![],
        masked: vec![],
        masking: 0,
        grouping: 0,
    };
    let mut upgraded = Fingerprinter::default();
    upgraded.miner().absorb(&stored);
    for line in [
        "1707664359 node-181 Accepted password for alice from 10.0.0.7 port 50122 ssh2",
        "1707664388 node-12 Failed password for bob from 10.0.0.9 port 50388 ssh2",
    ] {
        assert_eq!(upgraded.line(line).fingerprint, stored.fingerprint, "{line}");
    }
    assert_eq!(upgraded.miner().templates(), 1);
    // Stored again, it says which rules made it, so a restart keeps doing so.
    let mut records: Vec<_> = upgraded.miner().records().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].grouping, 0);
    // A line of its own group's new template does not take it from the stored one's lines,
    // before or after a restart: both compete for every line.
    let publickey = "1707664391 node-8 Accepted publickey for erin from 10.0.0.2 port 50461 ssh2";
    let accepted = "1707664392 node-9 Accepted password for erin from 10.0.0.3 port 50462 ssh2";
    upgraded.line(publickey);
    assert_eq!(upgraded.line(accepted).fingerprint, stored.fingerprint);
    let mut restarted = Fingerprinter::default();
    for r in upgraded.miner().records() {
        restarted.miner().absorb(&r);
    }
    assert_eq!(restarted.line(accepted).fingerprint, stored.fingerprint);
    // A frame the first word fits is like `<*>` there.
    let framed = TemplateRecord {
        v: 1,
        fingerprint: Fingerprint(0xf4),
        template: "<*> user=<*> logged in".into(),
        settled: vec![],
        masked: vec![],
        masking: 0,
        grouping: 0,
    };
    upgraded.miner().absorb(&framed);
    assert_eq!(upgraded.line("17 user=bob logged in").fingerprint, framed.fingerprint);
    // The same template made by today's rules is only what its own group takes.
    records[0].grouping = tailrace_processors::template::miner::GROUPING;
    let mut today = Fingerprinter::default();
    today.miner().absorb(&records[0]);
    let failed = "1707664390 node-7 Failed password for carol from 10.0.0.7 port 50460 ssh2";
    assert_ne!(today.line(failed).fingerprint, stored.fingerprint);
}

#[test]
fn a_record_of_an_earlier_build_does_not_take_a_templates_word_away() {
    // During an upgrade, a build that grouped by first token stores the fingerprint we made
    // with its first word generalized. Our template keeps its word, so it stays in its group,
    // and after a restart the lines it took still find it.
    use tailrace_processors::template::TemplateRecord;
    let mut fp = Fingerprinter::default();
    let line = "1707664359 node-181 Accepted password for alice from 10.0.0.7 port 50122 ssh2";
    let made = fp.line(line).fingerprint;
    fp.miner().take_changes();
    fp.miner().absorb(&TemplateRecord {
        v: 1,
        fingerprint: made,
        template: "<*> <*> password for <*> from <*> port <*>".into(),
        settled: vec![],
        masked: vec![],
        masking: 0,
        grouping: 0,
    });
    assert_eq!(fp.miner().template_of(made), Some("<*> Accepted password for <*> from <*> port <*>"));
    // Ours is stored again, so the store does not keep theirs as the last word.
    let again = fp.miner().take_changes();
    assert!(again.iter().any(|r| r.fingerprint == made && r.template.contains("Accepted")), "{again:?}");
    let mut restarted = Fingerprinter::default();
    for r in fp.miner().records() {
        restarted.miner().absorb(&r);
    }
    assert_eq!(restarted.line(line).fingerprint, made);
}

#[test]
fn a_wildcard_that_held_only_masked_values_does_not_take_a_word() {
    // BGL's `floating point instr. enabled.....1` and `8 floating point alignment exceptions`
    // behind a header whose pid joins the count: `<*> floating point instr. <*>` and
    // `<*> floating point alignment exceptions`. A masked value (`enabled.....1`) and the word
    // `exceptions` are not two values of one variable, so the lines are two events, in this
    // instance and in one that absorbed its templates.
    let mut fp = Fingerprinter::default();
    let instr = fp.content("12 floating point instr. enabled.....1").fingerprint;
    let records = fp.miner().take_changes();
    assert_eq!(records[0].masked, [0, 4], "{records:?}");
    assert_ne!(fp.content("8 floating point alignment exceptions").fingerprint, instr);
    let mut other = Fingerprinter::default();
    for r in &records {
        other.miner().absorb(r);
    }
    assert_ne!(other.content("8 floating point alignment exceptions").fingerprint, instr);
    // Once a word has stood there (a line that joined on the rest), it is a value like any
    // other, here and in an instance that absorbed the change.
    let job = fp.content("job 12 finished now").fingerprint;
    assert_eq!(fp.content("job alpha finished now").fingerprint, job, "3 of 4 alike");
    let records = fp.miner().take_changes();
    assert!(records.iter().any(|r| r.fingerprint == job && r.masked.is_empty()), "{records:?}");
    for r in &records {
        other.miner().absorb(r);
    }
    // Two of four alike with a masked-only wildcard; three with one that words have filled.
    assert_eq!(fp.content("job beta finished later").fingerprint, job);
    assert_eq!(other.content("job gamma finished later").fingerprint, job);
}

#[test]
fn todays_templates_are_taken_as_written_after_a_restart() {
    // Quotes, quoted values and frames of every kind: an instance that absorbs the templates
    // migrates none and gives every line the fingerprint it had.
    let lines = [
        "",
        r#""main.c":12: warning: "FOO" redefined"#,
        r#"{"level":"info", "ts":1707664359.1, "msg":"started"}"#,
        r#"sync err="failed to "StartContainer"" pod=web"#,
        r#"acquire lock=1, flags=0x1, tag="View Lock", name=com.android.systemui, ws=null"#,
        r#"set a=b,c="x y" done alice"#,
        r#"k="a "b" c d e"#,
        r#"k="a "q" c d e"#,
        "Received disconnect from 10.0.0.1: 11: Bye Bye [preauth]",
    ];
    let mut fp = Fingerprinter::default();
    let before: Vec<_> = lines.iter().map(|l| fp.content(l).fingerprint).collect();
    let records = fp.miner().take_changes();
    let mut restarted = Fingerprinter::default();
    for r in &records {
        restarted.miner().absorb(r);
    }
    assert!(restarted.miner().take_changes().is_empty(), "nothing migrated");
    let after: Vec<_> = lines.iter().map(|l| restarted.content(l).fingerprint).collect();
    assert_eq!(after, before);
    assert_eq!(restarted.miner().templates(), fp.miner().templates());
}

#[test]
fn a_field_whose_value_was_a_word_then_masked_is_one_position() {
    // The first word of these lines is a field: grouped by its key, a word value and a masked
    // one meet in one group, where they are one position of one event.
    let mut fp = Fingerprinter::default();
    let login = fp.content("user=bob logged in").fingerprint;
    let m = fp.content("user=1207 logged in");
    assert_eq!(m.fingerprint, login);
    assert_eq!(m.template, "user=<*> logged in");
    assert_ne!(fp.content("user=bob logged out").fingerprint, login);
}
