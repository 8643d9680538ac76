# tailrace follower: reports one file by explicit byte offsets, so a reader can resume exactly.
# Runs under bash on the tailed host (over SSH, or locally for the `local` host).
# Arguments: PATH OFFSET IDENT LAST_LINES INTERVAL
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
set -u
f=$1; off=$2; want=$3; last=$4; interval=$5
tmp=$(mktemp "${TMPDIR:-/tmp}/tailrace-follow.XXXXXX") || exit 3
trap 'rm -f "$tmp"' EXIT
trap 'exit 0' HUP INT TERM PIPE
ident=""; state=""; idle=0; max=1048576
while :; do
  if ! st=$(stat -L -c '%d:%i %s' -- "$f" 2>/dev/null); then
    [ "$state" = M ] || { echo M; state=M; }
    sleep "$interval"; idle=$((idle+1)); continue
  fi
  if [ ! -r "$f" ]; then
    [ "$state" = P ] || { echo P; state=P; }
    sleep "$interval"; idle=$((idle+1)); continue
  fi
  now=${st% *}; size=${st#* }
  if [ "$now" != "$ident" ]; then
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
  idle=$((idle+1))
  if [ "$idle" -ge 100 ]; then echo K; idle=0; fi
  sleep "$interval"
done
