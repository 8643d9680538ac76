# tailrace follower, Perl edition: the same protocol as follow.sh (see there), in one process
# with no forks, so a change reaches the reader in well under a millisecond. Used whenever the
# host has perl (every Debian, RHEL and CentOS does); follow.sh is the fallback.
# Arguments: tailrace-follow PATH OFFSET IDENT LAST_LINES INTERVAL [ROOT...]
# Each file opened is checked as follow.sh says (X frame: refused, and we exit).
# Waiting: inotify through raw syscalls (x86_64, aarch64, i386) on the file (writes) and its
# directory (our name appearing or going), so an append wakes us at once; with no inotify, a
# poll every INTERVAL seconds.
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time);

shift @ARGV;    # the "tailrace-follow" tag, so the process is findable by name
my ($f, $off, $want, $last, $interval, @roots) = @ARGV;
$| = 1;
binmode STDOUT;
$SIG{PIPE} = $SIG{HUP} = $SIG{INT} = $SIG{TERM} = sub { exit 0 };
my $max = 1048576;
my $last_out = time;

sub out { print @_; $last_out = time; }

my ($dir, $base) = $f =~ m{^(.*)/([^/]*)$} ? ($1 eq '' ? '/' : $1, $2) : ('.', $f);

# inotify_init1 and inotify_add_watch syscall numbers per architecture.
my %nr = (x86_64 => [294, 254], aarch64 => [26, 27], i686 => [332, 292], i386 => [332, 292]);
my $sys = $nr{(POSIX::uname())[4]};
my $ino;
# The directory is watched only for names coming and going (rotation, creation), filtered by
# our file's name; the file itself for writes. A busy directory of other logs wakes no one.
sub add_watch {
    my ($path, $mask) = @_;
    return $ino && syscall($sys->[1], fileno($ino), $path, $mask) >= 0;
}
if ($sys) {
    my $fd = syscall($sys->[0], 0);
    if ($fd >= 0 && open(my $fh, '<&=', $fd)) {
        $ino = $fh;
        # CREATE|DELETE|MOVED_FROM|MOVED_TO
        undef $ino unless add_watch($dir, 0x100 | 0x200 | 0x40 | 0x80);
    }
}
# MODIFY|ATTRIB|CLOSE_WRITE|MOVE_SELF|DELETE_SELF, on the file now at the path.
sub watch_file { add_watch($f, 0x2 | 0x4 | 0x8 | 0x800 | 0x400); }

# Sleeps until the file may have changed: an inotify event naming it, or the poll interval.
sub pause {
    unless ($ino) { select(undef, undef, undef, $interval); return; }
    my $until = time + 1;
    while (1) {
        my $rin = '';
        vec($rin, fileno($ino), 1) = 1;
        my $left = $until - time;
        return if $left <= 0;
        return unless select(my $rout = $rin, undef, undef, $left > 0.5 ? 0.5 : $left);
        my $n = sysread($ino, my $buf, 65536);
        if (!$n) { undef $ino; return; }
        my ($hit, $p) = (0, 0);
        while ($p + 16 <= length $buf) {
            my ($wd, $mask, $cookie, $len) = unpack('lLLL', substr($buf, $p, 16));
            my $name = unpack('Z*', substr($buf, $p + 16, $len));
            $hit = 1 if $len == 0 || $name eq $base;    # a file watch's events carry no name
            $p += 16 + $len;
        }
        return if $hit;
    }
}

# Why the open file may not be served ('' if it may): not a regular file, or, resolved through
# /proc/self/fd (the file we actually opened, not what the path names a moment later), outside
# the roots or under /proc, /sys, /dev.
sub refusal {
    my ($fh) = @_;
    return "$f is a directory, not a file" if -d $fh;
    return "$f is not a regular file" unless -f _;
    my $links = (stat _)[3];
    return "$f has $links hard links, so it may be a file outside the roots under another name" if $links > 1;
    return '' unless @roots;
    my $real = readlink('/proc/self/fd/' . fileno($fh));
    unless (defined $real) { require Cwd; $real = Cwd::abs_path($f); }
    return "$f cannot be resolved" unless defined $real;
    for my $t ('/proc', '/sys', '/dev') {
        return "$real is under $t, which is never served" if $real eq $t || index($real, "$t/") == 0;
    }
    for my $r (@roots) { return '' if $r eq '/' || $real eq $r || index($real, "$r/") == 0; }
    return "$real is outside the roots this host serves";
}

sub keepalive { out("K\n") if time - $last_out >= 2; }

# Where the last $last lines start (a last line without newline counts, as with tail -n).
sub last_lines_offset {
    my ($fh, $size) = @_;
    return $size if $last <= 0;
    my $need = $last;
    my $end = $size;
    my $c = '';
    $end = $size - 1 if $size > 0 && sysseek($fh, $size - 1, 0) && sysread($fh, $c, 1) && $c eq "\n";
    my $pos = $end;
    while ($pos > 0) {
        my $len = $pos >= 65536 ? 65536 : $pos;
        $pos -= $len;
        sysseek($fh, $pos, 0);
        sysread($fh, my $buf, $len) == $len or return 0;
        for (my $i = $len - 1; $i >= 0; $i--) {
            if (substr($buf, $i, 1) eq "\n") {
                return $pos + $i + 1 if --$need == 0;
            }
        }
    }
    return 0;
}

# Sends what $fh holds from $off on (at most $max bytes); returns whether it sent anything.
sub send_from {
    my ($fh) = @_;
    sysseek($fh, $off, 0) or return 0;
    my $n = sysread($fh, my $buf, $max);
    return 0 unless $n;
    out("D $off $n\n", $buf);
    $off += $n;
    return 1;
}

my ($ident, $state, $fh) = ('', '');
while (1) {
    my @st = stat($f);
    if (!@st) {
        out("M\n") if $state ne 'M';
        $state = 'M';
        keepalive(); pause(); next;
    }
    my $now = "$st[0]:$st[1]";
    my $size = $st[7];
    if ($now ne $ident) {
        my $new;
        if (!open($new, '<', $f)) {
            out("P\n") if $state ne 'P';
            $state = 'P';
            keepalive(); pause(); next;
        }
        binmode $new;
        my $why = refusal($new);
        if ($why ne '') { out("X $why\n"); exit 0; }
        my @fst = stat($new);
        ($now, $size) = ("$fst[0]:$fst[1]", $fst[7]);
        if ($ident eq '' && $want eq $now) {
            # resuming the same file where we left it
        } elsif ($ident eq '' && $want eq '-') {
            $off = last_lines_offset($new, $size);
        } elsif ($ident eq '') {
            $off = 0; out("R $now\n");    # a different file than the one we were reading
        } else {
            1 while send_from($fh);       # the rotated file's last bytes first
            $off = 0; out("R $now\n");
        }
        out("O $now $off\n") if $ident eq '';
        close $fh if $fh;
        ($fh, $ident, $state) = ($new, $now, '');
        watch_file();
    } elsif ($size < $off) {
        $off = 0; out("T\n");
    }
    $state = '';
    next if $size > $off && send_from($fh);
    keepalive();
    pause();
}
