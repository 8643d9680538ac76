# tailrace follower: reports one file by explicit byte offsets, so a reader can resume exactly.
# Runs under bash on the tailed host (over SSH, or locally for the `local` host).
# Arguments: PATH OFFSET IDENT LAST_LINES INTERVAL [ROOT...]
#   OFFSET/IDENT: where to resume (IDENT is "dev:inode", or "-" for a fresh start, in which case
#   the last LAST_LINES lines are sent first). INTERVAL: seconds between polls (e.g. 0.02).
# Output, one header line per event, each starting with a letter:
#   O <ident> <offset>       following file <ident> from <offset>
#   D <offset> <len>         followed by exactly <len> bytes of the file from <offset>
#   R <ident>                the path now names another file (rotation): it is read from 0
#   T                        the file shrank (truncation): it is read again from 0
#   M                        the file does not exist (waiting for it)
#   P                        the file exists but cannot be read
#   K                        keep-alive when idle; a closed connection ends us with SIGPIPE
#   X <reason>               the file may not be served (a directory or device, or it has other
#                            hard links; resolved, it is outside the ROOTs or under /proc, /sys,
#                            /dev): we exit
# Every new file (at start and after a rotation) is checked before a byte of it is sent.
# Waiting: with inotifywait (inotify-tools) on the host, a change to the file's directory wakes
# us at once and we poll only twice a second as a safety net; without it we poll every INTERVAL.
set -u
f=$1; off=$2; want=$3; last=$4; interval=$5
shift 5; roots=("$@")
tmp=$(mktemp "${TMPDIR:-/tmp}/tailrace-follow.XXXXXX") || exit 3
watch_fd=""; WATCH_PID=""
trap 'rm -f "$tmp"; [ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null' EXIT
trap 'exit 0' HUP INT TERM PIPE
ident=""; state=""; idle=0; max=1048576
wait=$interval; keep=100
dir=${f%/*}; [ -n "$dir" ] || dir=/
base=${f##*/}
if command -v inotifywait >/dev/null 2>&1 && [ -d "$dir" ]; then
  coproc WATCH { exec inotifywait -m -q -e modify,attrib,close_write,create,moved_to,moved_from,delete --format '%f' -- "$dir" 2>/dev/null; }
  watch_fd=${WATCH[0]}; wait=0.5; keep=4
fi
# Why "$f" may not be served (nothing if it may).
refusal() {
  [ -d "$f" ] && { echo "$f is a directory, not a file"; return; }
  [ -f "$f" ] || { echo "$f is not a regular file"; return; }
  local links
  links=$(stat -L -c %h -- "$f" 2>/dev/null) || links=1
  [ "$links" -le 1 ] || { echo "$f has $links hard links, so it may be a file outside the roots under another name"; return; }
  [ ${#roots[@]} -gt 0 ] || return 0
  local real t r
  real=$(readlink -f -- "$f" 2>/dev/null) || { echo "$f cannot be resolved"; return; }
  for t in /proc /sys /dev; do
    case $real in "$t"|"$t"/*) echo "$real is under $t, which is never served"; return;; esac
  done
  for r in "${roots[@]}"; do
    [ "$r" = / ] && return 0
    case $real in "$r"|"$r"/*) return 0;; esac
  done
  echo "$real is outside the roots this host serves"
}
# One idle round: a keep-alive now and then (writing to a closed connection ends us, so a
# follower never outlives its reader, even while it waits for a missing file), then a pause.
idle_round() {
  idle=$((idle+1))
  if [ "$idle" -ge "$keep" ]; then echo K; idle=0; fi
  pause
}
# Sleeps until the file may have changed: an event naming it, or the poll interval.
pause() {
  [ -n "$watch_fd" ] || { sleep "$interval"; return; }
  local name rc
  while :; do
    read -r -t "$wait" -u "$watch_fd" name; rc=$?
    [ "$rc" -gt 128 ] && return                                  # timed out: poll anyway
    [ "$rc" -eq 0 ] || { watch_fd=""; wait=$interval; keep=100; return; }   # watcher gone
    [ "$name" = "$base" ] && break
  done
  while read -r -t 0 -u "$watch_fd"; do read -r -u "$watch_fd" name || break; done
}
while :; do
  if ! st=$(stat -L -c '%d:%i %s' -- "$f" 2>/dev/null); then
    [ "$state" = M ] || { echo M; state=M; }
    idle_round; continue
  fi
  if [ ! -r "$f" ]; then
    [ "$state" = P ] || { echo P; state=P; }
    idle_round; continue
  fi
  now=${st% *}; size=${st#* }
  if [ "$now" != "$ident" ]; then
    why=$(refusal)
    if [ -n "$why" ]; then echo "X $why"; exit 0; fi
    if [ -z "$ident" ] && [ "$want" = "$now" ]; then
      :                                    # resuming the same file where we left it
    elif [ -z "$ident" ] && [ "$want" = "-" ]; then
      off=$(( size - $(tail -n "$last" -- "$f" 2>/dev/null | wc -c) ))
      [ "$off" -ge 0 ] || off=0
    elif [ -z "$ident" ]; then
      off=0; echo "R $now"                 # a different file than the one we were reading
    else
      off=0; echo "R $now"
    fi
    [ -n "$ident" ] || echo "O $now $off"
    ident=$now; state=""
  elif [ "$size" -lt "$off" ]; then
    off=0; echo T
  fi
  state=""
  if [ "$size" -gt "$off" ]; then
    len=$(( size - off )); [ "$len" -le "$max" ] || len=$max
    tail -c +"$((off + 1))" -- "$f" 2>/dev/null | head -c "$len" > "$tmp"
    n=$(wc -c < "$tmp")
    if [ "$n" -gt 0 ]; then
      echo "D $off $n"; cat "$tmp"
      off=$((off + n)); idle=0
      continue
    fi
  fi
  idle_round
done
