# tailrace follower, Perl edition: the same protocol as follow.sh (see there), in one process
# with no forks, so a change reaches the reader in well under a millisecond. Used whenever the
# host has perl (every Debian, RHEL and CentOS does); follow.sh is the fallback.
# Arguments: tailrace-follow PATH OFFSET IDENT LAST_LINES INTERVAL
# Waiting: inotify on the file's directory through raw syscalls (x86_64, aarch64, i386), so an
# append wakes us at once; with no inotify, a poll every INTERVAL seconds.
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time);

shift @ARGV;    # the "tailrace-follow" tag, so the process is findable by name
my ($f, $off, $want, $last, $interval) = @ARGV;
$| = 1;
binmode STDOUT;
$SIG{PIPE} = $SIG{HUP} = $SIG{INT} = $SIG{TERM} = sub { exit 0 };
my $max = 1048576;
my $last_out = time;

sub out { print @_; $last_out = time; }

my ($dir, $base) = $f =~ m{^(.*)/([^/]*)$} ? ($1 eq '' ? '/' : $1, $2) : ('.', $f);

# inotify_init1 and inotify_add_watch syscall numbers per architecture.
my %nr = (x86_64 => [294, 254], aarch64 => [26, 27], i686 => [332, 292], i386 => [332, 292]);
my $ino;
sub watch {
    my $n = $nr{(POSIX::uname())[4]} or return;
    my $fd = syscall($n->[0], 0);
    return if $fd < 0;
    open(my $fh, '<&=', $fd) or return;
    # MODIFY|ATTRIB|CLOSE_WRITE|MOVED_FROM|MOVED_TO|CREATE|DELETE
    my $mask = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200;
    if (syscall($n->[1], $fd, $dir, $mask) < 0) { close $fh; return; }
    $ino = $fh;
}
watch();

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
            $hit = 1 if $name eq $base;
            $p += 16 + $len;
        }
        return if $hit;
    }
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
    } elsif ($size < $off) {
        $off = 0; out("T\n");
    }
    $state = '';
    next if $size > $off && send_from($fh);
    keepalive();
    pause();
}
