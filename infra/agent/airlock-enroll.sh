#!/bin/sh
# airlock-enroll.sh: enroll an appliance with Airlock where Node is not
# available. POSIX sh + curl + ssh-keygen + coreutils; jq is not needed.
# openssl is used when present (to turn --pin into a curl public-key pin).
#
# Same flags, flow, state layout and exit codes as `airlock-agent enroll`
# (apps/agent/README.md). Run with --help for usage.

# shellcheck disable=SC2015,SC2018,SC2019
# (A && B || fail is used only where fail exits; tr ranges are ASCII on purpose, see LC_ALL.)
set -u
# Everything this script creates (keys, poll token, credentials) is private.
umask 077
# Byte-wise, ASCII-only text handling: codes, site codes and hex are ASCII.
LC_ALL=C
export LC_ALL

VERSION=0.1.0
PROG=airlock-enroll.sh

EXIT_OK=0
EXIT_INTERNAL=1
EXIT_USAGE=2
EXIT_REJECTED=3
EXIT_EXPIRED=4
EXIT_DENIED=5
EXIT_RATE_LIMITED=6
EXIT_NETWORK=7
EXIT_TIMEOUT=8
EXIT_ALREADY_ENROLLED=9
EXIT_NOT_ENROLLED=10
EXIT_INTERRUPTED=130

usage() {
  cat <<EOF
$PROG $VERSION: enroll this machine with Airlock (shell client).

Attended, with a pairing code from your operator:
  $PROG --server https://HOST[:PORT] --site SITE --code XXXX-XXXX-XXXX [--name NAME]
Zero-touch, with the site's enrollment key (or AIRLOCK_ENROLLMENT_KEY):
  $PROG --server https://HOST[:PORT] --site SITE --enrollment-key cek_... [--machine-uid UID]
Continue waiting after an interruption or a timeout:
  $PROG --resume [--state-dir DIR]
The machine uid zero-touch enrollment sends (--explain: which signals, never their values):
  $PROG machine-id [--explain]
Replace the enrolled key with a new one, approved by the old key (no operator):
  $PROG rotate-key [--state-dir DIR] [--enrollment-key cek_... | --code CODE]

Options:
  --server URL          the Airlock edge (https:// only, unless --insecure)
  --site SITE           site code (any case)
  --code CODE           pairing code; spaces, hyphens and case do not matter
                        (left out on a terminal: asked for)
  --enrollment-key KEY  site enrollment key for zero-touch enrollment
  --machine-uid UID     zero-touch only; default: the one in credentials.json, else
                        a hash of the hardware ids (DMI product_uuid, board serial,
                        first disk's serial; /etc/machine-id only when none is
                        readable; the raw ids never leave). AIRLOCK_MACHINE_ROOT:
                        read them under this directory instead of /
  --name NAME           host name to enroll as (default: this machine's)
  --label KEY=VALUE     attach a label; repeatable, at most 16
  --state-dir DIR       default /var/lib/airlock-agent as root, else
                        \$XDG_STATE_HOME/airlock-agent or ~/.local/state/airlock-agent
  --ca-file FILE        trust this CA (PEM) in addition to the system CAs
  --pin sha256:HEX      accept only the server certificate with this SHA-256
                        fingerprint (colons optional, any case)
  --insecure            allow http:// and unverified certificates (lab only)
  --timeout DURATION    how long to wait for approval: 600, 90s, 30m, 2h (default 30m)
  --force               enroll even if enrolled or an enrollment is pending
  --no-tls              do not ask for a certificate from Airlock's CA (asked
                        for by default when openssl >= 1.1.1 is installed)
  --resume              continue the stored enrollment
  -h, --help            this help

Exit codes:
    0  enrolled
    1  unexpected error
    2  usage error (bad flag, malformed pairing code, invalid input)
    3  rejected by an operator
    4  enrollment expired (or credentials already collected)
    5  denied (wrong/used/expired code, wrong key or site, bad signature, site conflict)
    6  rate limited or locked out
    7  network, TLS or pin failure; server unavailable
    8  timed out waiting for approval (resumable)
    9  already enrolled or enrollment pending (use --force / --resume)
   10  not enrolled / nothing to resume
  130  interrupted by Ctrl-C or SIGTERM (resumable)
EOF
}

# ---------------------------------------------------------------- output

if [ -t 1 ]; then IS_TTY=1; else IS_TTY=0; fi
WAIT_LINE=0

clear_wait_line() {
  if [ "$WAIT_LINE" = 1 ]; then printf '\r\033[2K'; WAIT_LINE=0; fi
}
say_ok() { clear_wait_line; if [ "$IS_TTY" = 1 ]; then printf '\342\234\223 %s\n' "$1"; else printf '[ok] %s\n' "$1"; fi; }
say_info() { clear_wait_line; if [ "$IS_TTY" = 1 ]; then printf '  %s\n' "$1"; else printf '[..] %s\n' "$1"; fi; }
say_highlight() { clear_wait_line; if [ "$IS_TTY" = 1 ]; then printf '\033[1m\342\206\222 %s\033[0m\n' "$1"; else printf '[>>] %s\n' "$1"; fi; }
say_plain() { clear_wait_line; printf '%s\n' "$1"; }
say_warn() { clear_wait_line; if [ "$IS_TTY" = 1 ]; then printf '! %s\n' "$1" >&2; else printf '[warn] %s\n' "$1" >&2; fi; }

# fail EXIT TITLE DETAIL ACTION: print the explanation and exit.
fail() {
  clear_wait_line
  if [ "$IS_TTY" = 1 ]; then printf '\342\234\227 %s\n' "$2" >&2; else printf '[error] %s\n' "$2" >&2; fi
  [ -n "$3" ] && printf '  %s\n' "$3" >&2
  printf '  What to do: %s\n' "$4" >&2
  exit "$1"
}

die_usage() {
  printf '%s: %s\nRun %s --help for usage.\n' "$PROG" "$1" "$PROG" >&2
  exit "$EXIT_USAGE"
}

# seconds -> "45 s", "15 min", "2 h 5 min"
fmt_seconds() {
  s=$1
  if [ "$s" -lt 120 ]; then printf '%s s' "$s"; return; fi
  m=$(( (s + 59) / 60 ))
  if [ "$m" -lt 120 ]; then printf '%s min' "$m"; return; fi
  if [ $((m % 60)) -eq 0 ]; then printf '%s h' $((m / 60)); else printf '%s h %s min' $((m / 60)) $((m % 60)); fi
}

fmt_elapsed() {
  t=$1
  if [ "$t" -ge 3600 ]; then printf '%d:%02d:%02d' $((t / 3600)) $((t % 3600 / 60)) $((t % 60)); else printf '%02d:%02d' $((t / 60)) $((t % 60)); fi
}

# ---------------------------------------------------------------- JSON

# json_raw KEY FILE: the raw JSON value of the first "KEY": in FILE (string
# with its quotes, number, literal, object or array). A small scanner that
# honours strings and nesting, so jq is not required.
json_raw() {
  awk -v k="$1" '
    { buf = buf $0 "\n" }
    function skipws() { while (i <= n && index(" \t\r\n", substr(buf, i, 1)) > 0) i++ }
    function strend(p,   q, d) {
      q = p + 1
      while (q <= n) { d = substr(buf, q, 1); if (d == "\\") { q += 2; continue }; if (d == "\"") return q; q++ }
      return n
    }
    END {
      n = length(buf); i = 1; key = "\"" k "\""
      while (i <= n) {
        c = substr(buf, i, 1)
        if (c != "\"") { i++; continue }
        j = strend(i); tok = substr(buf, i, j - i + 1); i = j + 1
        if (tok != key) continue
        skipws()
        if (substr(buf, i, 1) != ":") continue
        i++; skipws(); s = i; c = substr(buf, i, 1)
        if (c == "\"") { e = strend(i) }
        else if (c == "{" || c == "[") {
          depth = 0; e = i
          while (e <= n) {
            d = substr(buf, e, 1)
            if (d == "\"") { e = strend(e) + 1; continue }
            if (d == "{" || d == "[") depth++
            if (d == "}" || d == "]") { depth--; if (depth == 0) break }
            e++
          }
        } else {
          e = i
          while (e <= n && index(",}] \t\r\n", substr(buf, e, 1)) == 0) e++
          e--
        }
        print substr(buf, s, e - s + 1)
        exit
      }
    }' "$2"
}

# json_str KEY FILE: a string or number value, unquoted and unescaped, with
# control characters (terminal escapes from a hostile server) turned to spaces.
json_str() {
  json_raw "$1" "$2" | sed -e 's/^"//' -e 's/"$//' -e 's/\\"/"/g' -e 's/\\\//\//g' -e 's/\\[nrt]/ /g' -e 's/\\\\/\\/g' |
    tr '\000-\011\013-\037\177' ' '
}

# json_text KEY FILE: server text for display only. Escape sequences a server
# wrote as \u001b… are dropped whole (CSI, and OSC up to its BEL), every other
# control character becomes a space, and what is left is printable ASCII
# (control or non-ASCII bytes become ?), on one line.
json_text() {
  json_raw "$1" "$2" | sed -e 's/^"//' -e 's/"$//' \
    -e 's/\\u001[bB]][^\\]*\\u0007//g' -e 's/\\u001[bB]\[[0-?]*[ -\/]*[@-~]//g' \
    -e 's/\\u00[0189][0-9a-fA-F]/ /g' -e 's/\\u007[fF]/ /g' \
    -e 's/\\"/"/g' -e 's/\\\//\//g' -e 's/\\[nrtbf]/ /g' -e 's/\\\\/\\/g' |
    tr -d '\n' | tr '\000-\037\177-\377' '?'
}

# ---------------------------------------------------------------- formats
# Every value from a server (or read back from a state file) is matched as a
# whole against the contract's format before it is used, stored or shown.
# Values that pass contain no quote, backslash or control character, so they
# can be written into JSON as they are.

NL='
'
UUID_RE='[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
CHALLENGE_RE='[A-Za-z0-9+/]{43}='
TIME_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})'
POLL_TOKEN_RE='ept_[A-Za-z0-9_-]{43}'
AGENT_KEY_RE='cak_[A-Za-z0-9_-]{43}'
SITE_RE='[A-Z0-9][A-Z0-9-]{1,31}'
HOSTNAME_RE='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*'
MACHINE_UID_RE='[A-Za-z0-9._:-]{8,128}'
FINGERPRINT_RE='SHA256:[A-Za-z0-9+/]{43}'
NET_HOST_RE='[A-Za-z0-9][A-Za-z0-9.:-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\]'
HOST_PORT_RE='([A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}'
SERVER_RE='https?://[A-Za-z0-9.:-]{1,253}|https?://\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?'
# A path this script wrote into JSON: absolute, printable, no quote or backslash.
PATH_RE='/[] !#-[^-~]*'

# is_match ERE VALUE: VALUE as a whole matches ^(ERE)$. grep alone would
# accept a multi-line value when any one line matches, so a newline (or any
# other control character) fails outright.
is_match() {
  case $2 in *"$NL"* | *[[:cntrl:]]*) return 1 ;; esac
  printf '%s\n' "$2" | grep -Eq "^($1)\$"
}

# off_contract WHAT FIELD: the server answered 2xx with something this client
# must not trust. Names the field, never its value.
off_contract() {
  fail "$EXIT_INTERNAL" "Unexpected answer to $1: $2 is missing or malformed (off the contract)." "" \
    "Check --server (it must be the Airlock edge), and report this with the client version ($VERSION)."
}

# server_str KEY FILE ERE WHAT: a JSON string value that must match ERE whole;
# prints it, or stops with off_contract. Valid values never need JSON escapes,
# so any backslash in the raw token is a refusal, not something to unescape.
server_str() {
  raw=$(json_raw "$1" "$2")
  case $raw in
    \"*\") val=${raw#\"}; val=${val%\"} ;;
    *) off_contract "$4" "$1" ;;
  esac
  case $val in *\\* | *\"*) off_contract "$4" "$1" ;; esac
  is_match "$3" "$val" || off_contract "$4" "$1"
  printf '%s' "$val"
}

# server_int KEY FILE WHAT: a JSON integer 0-99999, or empty when absent.
server_int() {
  raw=$(json_raw "$1" "$2")
  [ -z "$raw" ] && return 0
  is_match '[0-9]{1,5}' "$raw" || off_contract "$3" "$1"
  printf '%s' "$raw"
}

state_bad() {
  fail "$EXIT_INTERNAL" "$ENROLLMENT_FILE is not in the expected format ($1)." "" "Move it away to start over."
}

# state_str KEY ERE [optional]: a value of enrollment.json, checked like server_str.
state_str() {
  raw=$(json_raw "$1" "$ENROLLMENT_FILE")
  if [ -z "$raw" ] && [ "${3:-}" = optional ]; then return 0; fi
  case $raw in \"*\") val=${raw#\"}; val=${val%\"} ;; *) state_bad "$1" ;; esac
  case $val in *\\* | *\"*) state_bad "$1" ;; esac
  is_match "$2" "$val" || state_bad "$1"
  printf '%s' "$val"
}

# file_str FILE KEY ERE [optional]: a value of another state file (credentials.json), checked like state_str.
file_str() {
  raw=$(json_raw "$2" "$1")
  if [ -z "$raw" ] && [ "${4:-}" = optional ]; then return 0; fi
  case $raw in \"*\") val=${raw#\"}; val=${val%\"} ;; *) fail "$EXIT_INTERNAL" "$1 is not in the expected format ($2)." "" "Move it away to start over." ;; esac
  case $val in *\\* | *\"*) fail "$EXIT_INTERNAL" "$1 is not in the expected format ($2)." "" "Move it away to start over." ;; esac
  is_match "$3" "$val" || fail "$EXIT_INTERNAL" "$1 is not in the expected format ($2)." "" "Move it away to start over."
  printf '%s' "$val"
}

# ---------------------------------------------------------------- arguments

SERVER='' SITE='' CODE='' ENROLLMENT_KEY='' MACHINE_UID='' NAME='' STATE_DIR='' CA_FILE='' PIN=''
INSECURE=0 FORCE=0 RESUME=0 TIMEOUT_S=1800 TIMEOUT_SET=0 NO_TLS=0 MODE=enroll EXPLAIN=0
# rotate-key: the enrolled key that signs the re-key proof, and its fingerprint.
ROTATING=0 OLD_KEY_FILE='' OLD_FINGERPRINT='' APPROVED_MSG=''
# LABELS_JSON: the labels as JSON members (', "k": "v"' each); LABEL_COUNT: how many --label flags.
LABELS_JSON='' LABEL_COUNT=0

# add_label KEY=VALUE: checked as the api checks labels (key [a-z0-9_.-]{1,32},
# value at most 128 printable ASCII characters), then JSON-escaped.
add_label() {
  case $1 in *=*) ;; *) die_usage "--label must be key=value with key [a-z0-9_.-]{1,32}, got \"$1\"" ;; esac
  lkey=${1%%=*} lval=${1#*=}
  is_match '[a-z0-9_.-]{1,32}' "$lkey" || die_usage "--label must be key=value with key [a-z0-9_.-]{1,32}, got \"$1\""
  # JSON.parse would make these the object's own prototype keys; the api refuses them too.
  case $lkey in __proto__ | constructor | prototype) die_usage "--label key $lkey is reserved" ;; esac
  case $lval in *[![:print:]]*) die_usage "--label $lkey: value must be at most 128 printable characters" ;; esac
  [ "${#lval}" -le 128 ] || die_usage "--label $lkey: value must be at most 128 printable characters"
  LABEL_COUNT=$((LABEL_COUNT + 1))
  [ "$LABEL_COUNT" -le 16 ] || die_usage 'at most 16 --label flags'
  lval=$(printf '%s' "$lval" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
  LABELS_JSON="$LABELS_JSON, \"$lkey\": \"$lval\""
}

need_value() {
  [ $# -ge 2 ] || die_usage "$1 needs a value"
  case $2 in --*) die_usage "$1 needs a value" ;; esac
}

while [ $# -gt 0 ]; do
  case $1 in
    --*=*) flag=${1%%=*}; value=${1#*=}; shift; set -- "$flag" "$value" "$@"; continue ;;
  esac
  case $1 in
    -h | --help) usage; exit "$EXIT_OK" ;;
    --version) printf '%s %s\n' "$PROG" "$VERSION"; exit "$EXIT_OK" ;;
    --server) need_value "$@"; SERVER=$2; shift 2 ;;
    --site) need_value "$@"; SITE=$2; shift 2 ;;
    --code) need_value "$@"; CODE=$2; shift 2 ;;
    --enrollment-key) need_value "$@"; ENROLLMENT_KEY=$2; shift 2 ;;
    --machine-uid) need_value "$@"; MACHINE_UID=$2; shift 2 ;;
    --name) need_value "$@"; NAME=$2; shift 2 ;;
    --label) need_value "$@"; add_label "$2"; shift 2 ;;
    --explain) EXPLAIN=1; shift ;;
    --state-dir) need_value "$@"; STATE_DIR=$2; shift 2 ;;
    --ca-file) need_value "$@"; CA_FILE=$2; shift 2 ;;
    --pin) need_value "$@"; PIN=$2; shift 2 ;;
    --timeout) need_value "$@"; TIMEOUT_ARG=$2; TIMEOUT_SET=1; shift 2 ;;
    --insecure) INSECURE=1; shift ;;
    --no-tls) NO_TLS=1; shift ;;
    --force) FORCE=1; shift ;;
    --resume) RESUME=1; shift ;;
    enroll) shift ;; # accepted so the command line reads like `airlock-agent enroll`
    machine-id) MODE=machine_id; shift ;;
    rotate-key) MODE=rotate; shift ;;
    *) die_usage "unknown option '$1'" ;;
  esac
done

if [ "$TIMEOUT_SET" = 1 ]; then
  is_match '[0-9]{1,7}[smhSMH]?' "$TIMEOUT_ARG" || die_usage "--timeout must be a positive duration like 600, 90s, 30m or 2h, got \"$TIMEOUT_ARG\""
  num=$(printf '%s' "$TIMEOUT_ARG" | tr -d 'smhSMH')
  [ "$num" -gt 0 ] || die_usage "--timeout must be a positive duration like 600, 90s, 30m or 2h, got \"$TIMEOUT_ARG\""
  case $TIMEOUT_ARG in
    *[mM]) TIMEOUT_S=$((num * 60)) ;;
    *[hH]) TIMEOUT_S=$((num * 3600)) ;;
    *) TIMEOUT_S=$num ;;
  esac
fi

# --pin: sha256:HEX, bare HEX, colons optional, any case, or openssl's
# "sha256 Fingerprint=AB:CD:..." line.
if [ -n "$PIN" ]; then
  PIN=$(printf '%s' "$PIN" | sed -e 's/^[[:space:]]*//' -e 's/^[sS][hH][aA]-\{0,1\}256[[:space:]]*[fF][iI][nN][gG][eE][rR][pP][rR][iI][nN][tT][[:space:]]*=[[:space:]]*//' \
    -e 's/^[sS][hH][aA]-\{0,1\}256://' -e 's/[[:space:]]*$//' | tr -d ':' | tr 'A-F' 'a-f')
  is_match '[0-9a-f]{64}' "$PIN" ||
    die_usage "--pin must be sha256: followed by the 64 hex digits of the certificate fingerprint (colons optional), as printed by \`openssl x509 -noout -fingerprint -sha256\`"
fi
if [ -n "$CA_FILE" ] && [ ! -r "$CA_FILE" ]; then die_usage "cannot read --ca-file $CA_FILE"; fi
case $CA_FILE in *'"'* | *\\* | *[[:cntrl:]]*) die_usage '--ca-file must not contain ", a backslash or a control character' ;; esac
case $CA_FILE in '' | /*) ;; *) CA_FILE=$(pwd)/$CA_FILE ;; esac

if [ -z "$STATE_DIR" ]; then
  if [ "$(id -u)" = 0 ]; then
    STATE_DIR=/var/lib/airlock-agent
  else
    case ${XDG_STATE_HOME:-} in
      /*) STATE_DIR=$XDG_STATE_HOME/airlock-agent ;;
      *) STATE_DIR=$HOME/.local/state/airlock-agent ;;
    esac
  fi
fi
# The path is written into JSON files; refusing the two characters that need escaping keeps that exact.
case $STATE_DIR in *'"'* | *\\* | *[[:cntrl:]]*) die_usage '--state-dir must not contain ", a backslash or a control character' ;; esac
case $STATE_DIR in /*) ;; *) STATE_DIR=$(pwd)/$STATE_DIR ;; esac

KEY_FILE=$STATE_DIR/id_ed25519
PUB_FILE=$STATE_DIR/id_ed25519.pub
ENROLLMENT_FILE=$STATE_DIR/enrollment.json
CREDENTIALS_FILE=$STATE_DIR/credentials.json

# ---------------------------------------------------------------- state

ensure_state_dir() {
  if [ -L "$STATE_DIR" ]; then
    fail "$EXIT_INTERNAL" "The state directory cannot be used: $STATE_DIR is a symlink." "" "Fix it, or pass --state-dir DIR."
  fi
  mkdir -p "$STATE_DIR" 2>/dev/null ||
    fail "$EXIT_INTERNAL" "Cannot create $STATE_DIR." "" "Run as root (the default directory is /var/lib/airlock-agent for root) or pass --state-dir DIR."
  [ -O "$STATE_DIR" ] ||
    fail "$EXIT_INTERNAL" "The state directory cannot be used: $STATE_DIR belongs to another user." "" "Choose another --state-dir."
  # The permission string of `ls -ld` is POSIX; `stat -c` and `find -perm /` are not everywhere.
  # shellcheck disable=SC2012
  perms=$(ls -ld "$STATE_DIR" | cut -c2-10)
  chmod 700 "$STATE_DIR"
  case $perms in rwx------) ;; *) say_warn "$STATE_DIR was readable by others; its mode is now 0700" ;; esac
}

# write_atomic FILE [MODE]: stdin -> FILE via a temp file (0600 unless MODE),
# fsync, rename, so a crash leaves the old or the complete new file, never a
# torn one.
write_atomic() {
  tmp=$(mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX") || return 1
  if ! { cat >"$tmp" && chmod "${2:-600}" "$tmp"; }; then
    rm -f "$tmp"
    return 1
  fi
  # `sync FILE` needs coreutils >= 8.24; a plain sync is the portable fallback.
  sync "$tmp" 2>/dev/null || sync
  mv -f "$tmp" "$1" || { rm -f "$tmp"; return 1; }
  sync "$STATE_DIR" 2>/dev/null || sync
}

now_s() { date +%s; }
now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }

tls_json() {
  sep=
  printf '{'
  if [ -n "$CA_FILE" ]; then printf '"ca_file": "%s"' "$CA_FILE"; sep=', '; fi
  if [ -n "$PIN" ]; then printf '%s"pin": "%s"' "$sep" "$PIN"; sep=', '; fi
  if [ "$INSECURE" = 1 ]; then printf '%s"insecure": true' "$sep"; fi
  printf '}'
}

# Values embedded below are validated to [A-Za-z0-9 ._:+/=-] or come from the
# server as raw JSON tokens, so no JSON escaping is needed.
write_enrollment() {
  {
    printf '{\n  "version": 1,\n  "server": "%s",\n  "site_code": "%s",\n  "method": "%s",\n' "$SERVER" "$SITE" "$METHOD"
    printf '  "enrollment_id": "%s",\n  "challenge": "%s",\n  "challenge_expires_at": "%s",\n' "$ENROLLMENT_ID" "$CHALLENGE" "$CHALLENGE_EXPIRES_AT"
    if [ -n "$POLL_TOKEN" ]; then printf '  "poll_token": "%s",\n  "poll_interval": %s,\n' "$POLL_TOKEN" "$POLL_INTERVAL"; fi
    printf '  "fingerprint": "%s",\n  "hostname": "%s",\n' "$FINGERPRINT" "$NAME"
    if [ -n "$MACHINE_UID" ]; then printf '  "machine_uid": "%s",\n' "$MACHINE_UID"; fi
    printf '  "started_at": "%s",\n  "tls": %s\n}\n' "$STARTED_AT" "$(tls_json)"
  } | write_atomic "$ENROLLMENT_FILE" || fail "$EXIT_INTERNAL" "Cannot write $ENROLLMENT_FILE." "" "Check the disk and the state directory."
}

# ---------------------------------------------------------------- TLS and HTTP

WORK=
cleanup() { [ -n "$WORK" ] && rm -rf "$WORK"; }
trap cleanup EXIT

CAFILE_ARG='' PIN_SPKI='' PIN_CACERT=''

is_tls_curl_error() {
  case $1 in 35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91) return 0 ;; esac
  return 1
}

# curl_call ARGS...: curl with the TLS policy applied. SIGINT/SIGTERM are
# ignored in curl so a request in flight (it may carry one-time credentials)
# completes; the shell honours the signal right after.
curl_call() {
  (
    trap '' INT TERM
    if [ -n "$PIN_SPKI" ]; then
      if [ -n "$CAFILE_ARG" ]; then exec curl --cacert "$CAFILE_ARG" --pinnedpubkey "sha256//$PIN_SPKI" "$@"; fi
      # The pin replaces chain and name checks: it names exactly one key, which a pinned self-signed certificate needs.
      exec curl -k --pinnedpubkey "sha256//$PIN_SPKI" "$@"
    elif [ -n "$PIN_CACERT" ]; then
      exec curl --cacert "$PIN_CACERT" "$@"
    elif [ -n "$CAFILE_ARG" ]; then
      exec curl --cacert "$CAFILE_ARG" "$@"
    elif [ "$INSECURE" = 1 ]; then
      exec curl -k "$@"
    else
      exec curl "$@"
    fi
  )
}

PROTO=https
setup_tls() {
  case $SERVER in http://*) PROTO=http ;; esac
  if [ -n "$CA_FILE" ]; then
    # --ca-file adds to the system CAs, as in airlock-agent; curl's --cacert would replace them.
    CAFILE_ARG=$WORK/ca.pem
    for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
      if [ -r "$bundle" ]; then cat "$bundle" >"$CAFILE_ARG"; break; fi
    done
    cat "$CA_FILE" >>"$CAFILE_ARG"
  fi
  [ -n "$PIN" ] && [ "$PROTO" = https ] || return 0
  # Fetch the certificate over a connection that carries nothing secret
  # (GET /healthz), check its SHA-256 against the pin, then bind every real
  # request to its public key, which curl checks before sending any byte.
  certs=$(curl -sk --proto =https --connect-timeout 15 --max-time 30 -o /dev/null -w '%{certs}' "$SERVER/healthz" 2>"$WORK/curl.err")
  rc=$?
  if [ $rc -ne 0 ]; then transport_fail "$rc"; fi
  printf '%s\n' "$certs" | awk '/-----BEGIN CERTIFICATE-----/{f=1} f{print} /-----END CERTIFICATE-----/{exit}' >"$WORK/leaf.pem"
  [ -s "$WORK/leaf.pem" ] ||
    fail "$EXIT_NETWORK" "Could not read the server certificate to check --pin." "curl 7.88 or newer is needed for --pin." "Upgrade curl, or use --ca-file."
  actual=$(sed -e '1d' -e '$d' "$WORK/leaf.pem" | tr -d '\r\n' | base64 -d | sha256sum | cut -d' ' -f1)
  if [ "$actual" != "$PIN" ]; then
    fail "$EXIT_NETWORK" "The server certificate does not match --pin; nothing was sent." \
      "the server presented a certificate with fingerprint sha256:$actual, which does not match --pin sha256:$PIN. Someone may be intercepting the connection, or the certificate was replaced." \
      "Confirm the fingerprint with your administrator (the edge prints it at start-up). Do not switch to --insecure."
  fi
  if command -v openssl >/dev/null 2>&1; then
    PIN_SPKI=$(openssl x509 -in "$WORK/leaf.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
  else
    # Without openssl the pinned certificate itself becomes the only trust
    # anchor; curl then also checks the host name against it.
    PIN_CACERT=$WORK/leaf.pem
  fi
}

transport_fail() {
  detail=$(head -n 1 "$WORK/curl.err" 2>/dev/null | sed 's/^curl: //')
  if [ "$1" = 90 ]; then
    fail "$EXIT_NETWORK" "The server certificate does not match --pin; nothing was sent." "$detail" \
      "Confirm the fingerprint with your administrator. Do not switch to --insecure."
  elif is_tls_curl_error "$1"; then
    fail "$EXIT_NETWORK" "Could not establish a trusted TLS connection; nothing was sent." "$detail" \
      "If the server uses a private CA, pass --ca-file FILE; for a self-signed certificate pass --pin sha256:HEX as given by your administrator. Check the clock too."
  elif [ "$1" = 28 ]; then
    fail "$EXIT_NETWORK" "The server did not answer in time." "$detail" "Check the network path to the server (firewall, proxy) and try again."
  else
    fail "$EXIT_NETWORK" "Cannot reach the server: $detail" "" "Check --server (host and port), DNS, and that outbound HTTPS to it is allowed."
  fi
}

# http METHOD PATH [BODYFILE] [BEARER]: sets HTTP_STATUS, RETRY_AFTER; the body
# is in $WORK/resp. Returns curl's exit code. Secrets go through files, not
# argv, so they never show in ps.
http() {
  set -- "$1" "$2" "${3:-}" "${4:-}"
  rm -f "$WORK/resp" "$WORK/hdr"
  if [ -n "$4" ]; then printf 'Authorization: Bearer %s\n' "$4" >"$WORK/auth"; else : >"$WORK/auth"; fi
  if [ -n "$3" ]; then
    HTTP_STATUS=$(curl_call -sS --proto "=$PROTO" --connect-timeout 15 --max-time 30 -X "$1" \
      -H 'accept: application/json' -H "user-agent: airlock-enroll.sh/$VERSION" -H 'content-type: application/json' \
      --data-binary "@$3" -o "$WORK/resp" -D "$WORK/hdr" -w '%{http_code}' "$SERVER$2" 2>"$WORK/curl.err")
  else
    HTTP_STATUS=$(curl_call -sS --proto "=$PROTO" --connect-timeout 15 --max-time 30 -X "$1" \
      -H 'accept: application/json' -H "user-agent: airlock-enroll.sh/$VERSION" -H "@$WORK/auth" \
      -o "$WORK/resp" -D "$WORK/hdr" -w '%{http_code}' "$SERVER$2" 2>"$WORK/curl.err")
  fi
  rc=$?
  rm -f "$WORK/auth"
  [ -f "$WORK/resp" ] || : >"$WORK/resp"
  RETRY_AFTER=$(sed -n 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$WORK/hdr" 2>/dev/null | tail -n 1)
  return $rc
}

# ---------------------------------------------------------------- messages

# explain PHASE: print what the error in $WORK/resp means and exit with its code.
explain() {
  phase=$1
  code=$(json_text code "$WORK/resp" | cut -c1-64)
  message=$(json_text message "$WORK/resp" | cut -c1-500)
  if [ "$METHOD" = pairing_code ]; then again='Ask your operator for a new pairing code and run the command again.'; else again='Run the command again.'; fi
  case $code in
    enrollment_denied)
      if [ "$phase" != enroll ]; then
        fail "$EXIT_DENIED" "The server no longer accepts this enrollment (it failed or was cancelled)." "" "$again"
      elif [ "$METHOD" = pairing_code ]; then
        fail "$EXIT_DENIED" "The pairing code was not accepted for site $SITE." \
          "It may be mistyped, expired (codes are valid for a few minutes), already used or revoked, or the site code may be wrong. For your safety the server does not say which." \
          "Ask your operator for a new pairing code (and confirm the site code), then run the command again."
      else
        fail "$EXIT_DENIED" "The enrollment key was not accepted for site $SITE." "It may be wrong or rotated out, or the site code may be wrong." \
          "Ask your administrator for the current enrollment key of site $SITE."
      fi ;;
    enrollment_rejected)
      # The title already says "rejected"; keep only the operator's words.
      reason=$(printf '%s' "$message" | sed 's/^[Ee]nrollment \(was \)\{0,1\}rejected\( by [^:]*\)\{0,1\}:[[:space:]]*//')
      [ -n "$reason" ] || reason=$message
      if [ -n "$message" ]; then detail="Reason given: $reason"; else detail="No reason was given."; fi
      fail "$EXIT_REJECTED" "An operator rejected this enrollment." "$detail" \
        "Talk to your operator before trying again; a new attempt needs a new pairing code or an approval." ;;
    expired_token)
      if [ "$phase" = status ]; then
        fail "$EXIT_EXPIRED" "The enrollment expired before an operator approved it." "" "$again"
      else
        fail "$EXIT_EXPIRED" "The challenge expired before this agent answered it." "Check this machine's clock and network." "$again"
      fi ;;
    credentials_already_issued)
      fail "$EXIT_EXPIRED" "The credentials for this enrollment were already collected and cannot be delivered twice." \
        "The answer that carried them was lost, or another process collected them. The enrollment is kept in $ENROLLMENT_FILE." \
        "Run airlock-agent recover --state-dir $STATE_DIR (it proves this machine's key and gets new credentials), or ask your operator to revoke the agent and enroll again." ;;
    signature_invalid)
      fail "$EXIT_DENIED" "The server could not verify this agent's signature over its challenge." \
        "After three bad signatures the server fails the enrollment for good." "$again If it happens again, move id_ed25519 out of the state directory and report it." ;;
    invalid_token)
      fail "$EXIT_DENIED" "The server does not recognise the stored poll token." "" "$again" ;;
    site_conflict)
      fail "$EXIT_DENIED" "This machine is already enrolled as an agent of another site, not $SITE." "" \
        "If the machine moved, ask an administrator to revoke the old agent first; otherwise check --site." ;;
    rate_limited | slow_down)
      if [ -n "$RETRY_AFTER" ]; then wait_text="Wait $(fmt_seconds "$RETRY_AFTER") before trying again."; else wait_text="Wait a few minutes before trying again."; fi
      fail "$EXIT_RATE_LIMITED" "The server is throttling enrollments from this address." \
        "Too many attempts, or a lockout after repeated failures (for example wrong pairing codes)." "$wait_text" ;;
    invalid_request)
      fail "$EXIT_USAGE" "The server rejected the request as invalid." "$message" "Check --name and --machine-uid; if they look right, report it." ;;
    payload_too_large)
      fail "$EXIT_USAGE" "The server refused the request as too large." "" "Report it." ;;
    not_found | method_not_allowed)
      fail "$EXIT_USAGE" "The server answered \"$code\" to an enrollment request." \
        "--server probably points at the wrong host or port (it must be the Airlock edge)." "Check the --server address with your operator." ;;
    unauthorized | forbidden | invalid_key | invalid_state | conflict | unsupported_media_type)
      fail "$EXIT_INTERNAL" "The server answered with an administrative error ($code) to an enrollment request." \
        "--server probably points at the internal API instead of the edge." "Check the --server address with your operator." ;;
    internal_error | bad_gateway | service_unavailable | gateway_timeout | request_timeout)
      fail "$EXIT_NETWORK" "The Airlock service is unavailable ($code)." "" "Try again in a few minutes. If it keeps happening, tell your operator." ;;
    *)
      case $HTTP_STATUS in
        429) fail "$EXIT_RATE_LIMITED" "The server is throttling enrollments from this address." "" "Wait a few minutes before trying again." ;;
        5??) fail "$EXIT_NETWORK" "The server answered HTTP $HTTP_STATUS." "" "Try again in a few minutes." ;;
        404 | 405) fail "$EXIT_USAGE" "The server answered HTTP $HTTP_STATUS." "--server probably points at the wrong host or port." "Check --server." ;;
        *) fail "$EXIT_INTERNAL" "The server answered HTTP $HTTP_STATUS without an Airlock error; it may not be an Airlock edge." "" "Check --server with your operator." ;;
      esac ;;
  esac
}

# ---------------------------------------------------------------- signals

INTERRUPTED=0
RESUMABLE=0
on_signal() { INTERRUPTED=1; }
trap on_signal INT TERM

check_interrupted() {
  [ "$INTERRUPTED" = 1 ] || return 0
  if [ "$RESUMABLE" = 1 ]; then
    if [ "$STATE_DIR" = /var/lib/airlock-agent ]; then hint="$PROG --resume"; else hint="$PROG --resume --state-dir $STATE_DIR"; fi
    fail "$EXIT_INTERRUPTED" "Interrupted. The enrollment is saved; nothing was lost." "State: $ENROLLMENT_FILE" "Resume with: $hint"
  fi
  fail "$EXIT_INTERRUPTED" "Interrupted before the server accepted the enrollment." "" "Run the same command again."
}

# pause SECONDS: a sleep that a signal cuts short.
pause() {
  sleep "$1" &
  SLEEP_PID=$!
  wait "$SLEEP_PID" 2>/dev/null
  kill "$SLEEP_PID" 2>/dev/null
  check_interrupted
}

# ---------------------------------------------------------------- steps

# The machine uid: the same steps as airlock-agent (apps/agent/src/machine-uid.ts,
# docs/identity.md), so both clients give one machine the same uid. Hardware
# first (a re-image keeps it), /etc/machine-id only when no hardware id is
# readable; values are hashed here and never leave the machine or get printed.
MACHINE_ROOT=${AIRLOCK_MACHINE_ROOT:-/}
case $MACHINE_ROOT in '') MACHINE_ROOT=/ ;; esac
# Normalised (no whitespace, lower case); the list is PLACEHOLDERS in machine-uid.ts.
PLACEHOLDERS=' uninitialized 03000200-0400-0500-0006-000700080009 notspecified notapplicable notavailable tobefilledbyo.e.m. tobefilledbyoem defaultstring default none null n/a unknown invalid empty oem o.e.m. systemserialnumber baseboardserialnumber chassisserialnumber serialnumber 0123456789 123456789 1234567890 '
FALLBACK_WARNING='No hardware id was readable, so the machine uid comes from /etc/machine-id, which a reinstall regenerates: after a re-image this machine will enroll as a new one. Run as root to read the DMI ids.'

# take_signal NAME REL: adds NAME=value of $MACHINE_ROOT/REL to the material,
# or records why not.
take_signal() {
  f=${MACHINE_ROOT%/}/$2
  label="$1 (/$2)"
  problem=
  if [ ! -e "$f" ]; then
    problem='not present'
  elif [ ! -r "$f" ] || ! tr -d ' \t\r\n' <"$f" >"$UID_WORK" 2>/dev/null; then
    problem='not readable (root only: run as root)'
  else
    value=$(tr 'A-Z' 'a-z' <"$UID_WORK")
    if [ ! -s "$UID_WORK" ]; then
      problem=empty
    elif [ "$(tr -d '\041-\176' <"$UID_WORK" | wc -c)" -ne 0 ]; then
      problem='not printable text'
    elif [ "${#value}" -lt 4 ]; then
      problem='a vendor placeholder'
    else
      case $value in *[!0-]*) ;; *) problem='a vendor placeholder' ;; esac
      case $value in *[!f-]*) ;; *) problem='a vendor placeholder' ;; esac
      case $PLACEHOLDERS in *" $value "*) problem='a vendor placeholder' ;; esac
    fi
  fi
  if [ -n "$problem" ]; then
    UID_SKIPPED="${UID_SKIPPED}not used: $label: $problem$NL"
    return 0
  fi
  UID_MATERIAL="$UID_MATERIAL$NL$1=$value"
  UID_USED="$UID_USED${UID_USED:+ + }$label"
  UID_USED_LINES="${UID_USED_LINES}used: $label$NL"
}

# compute_machine_uid: sets DERIVED_UID (empty when nothing is readable),
# UID_USED, UID_USED_LINES, UID_SKIPPED and UID_FALLBACK.
compute_machine_uid() {
  UID_WORK=$(mktemp) || fail "$EXIT_INTERNAL" 'mktemp failed.' '' 'Check /tmp.'
  UID_MATERIAL=airlock-machine-uid-v2 UID_USED='' UID_USED_LINES='' UID_SKIPPED='' UID_FALLBACK=0 DERIVED_UID=''
  take_signal product_uuid sys/class/dmi/id/product_uuid
  take_signal board_serial sys/class/dmi/id/board_serial
  disk=
  for d in "${MACHINE_ROOT%/}"/sys/block/*; do
    [ -e "$d" ] || continue
    n=${d##*/}
    case $n in loop* | ram* | zram* | dm-* | md* | sr* | fd* | nbd*) continue ;; esac
    [ "$(cat "$d/removable" 2>/dev/null)" = 1 ] && continue
    disk=$n
    break
  done
  if [ -z "$disk" ]; then
    UID_SKIPPED="${UID_SKIPPED}not used: disk_serial (/sys/block/*): no disk found$NL"
  elif [ -e "${MACHINE_ROOT%/}/sys/block/$disk/device/serial" ]; then
    take_signal disk_serial "sys/block/$disk/device/serial"
  else
    take_signal disk_serial "sys/block/$disk/serial"
  fi
  if [ -z "$UID_USED" ]; then
    UID_FALLBACK=1
    take_signal machine_id etc/machine-id
  fi
  rm -f "$UID_WORK"
  [ -n "$UID_USED" ] || return 0
  DERIVED_UID=$(printf '%s' "$UID_MATERIAL" | sha256sum | cut -d' ' -f1)
}

# `machine-id [--explain]`: the same lines as `airlock-agent machine-id`.
print_machine_id() {
  compute_machine_uid
  if [ -z "$DERIVED_UID" ]; then
    fail "$EXIT_INTERNAL" 'No machine uid: no hardware id and no /etc/machine-id is readable.' '' 'Run as root, or enroll with --machine-uid UID.'
  fi
  printf '%s\n' "$DERIVED_UID"
  [ "$EXPLAIN" = 1 ] || exit "$EXIT_OK"
  printf 'root: %s\n' "$MACHINE_ROOT"
  printf '%s\n' 'derivation: sha256 of "airlock-machine-uid-v2" and one "name=value" line per used signal (values normalised, never shown)'
  printf '%s%s' "$UID_USED_LINES" "$UID_SKIPPED"
  if [ "$UID_FALLBACK" = 1 ]; then printf 'fallback: %s\n' "$FALLBACK_WARNING"; else printf '%s\n' 'fallback: no (hardware ids only; a re-image keeps this uid)'; fi
  exit "$EXIT_OK"
}

# --machine-uid, else the uid in credentials.json (the one the server knows
# this machine by, also when an older client derived it), else derived.
derive_machine_uid() {
  if [ -f "$CREDENTIALS_FILE" ]; then
    stored=$(json_str machine_uid "$CREDENTIALS_FILE")
    if [ -n "$stored" ] && is_match "$MACHINE_UID_RE" "$stored"; then
      MACHINE_UID=$stored
      say_ok "Machine uid kept from $CREDENTIALS_FILE (the one the server knows this machine by)"
      return 0
    fi
  fi
  compute_machine_uid
  [ -n "$DERIVED_UID" ] || die_usage "cannot derive a machine uid: no hardware id (product_uuid, board_serial, a disk serial) and no /etc/machine-id is readable; pass --machine-uid UID (see: $PROG machine-id --explain)"
  MACHINE_UID=$DERIVED_UID
  say_ok "Machine uid derived from $UID_USED (hashed; the raw ids stay on this machine)"
  [ "$UID_FALLBACK" = 0 ] || say_warn "$FALLBACK_WARNING"
  printf '%s' "$UID_SKIPPED" | while IFS= read -r line; do say_info "$line"; done
}

# code_problem CODE: prints what is wrong with a typed pairing code (nothing if
# it is fine) and sets NORMALISED_CODE to the canonical 12 symbols.
code_problem() {
  NORMALISED_CODE=$(printf '%s' "$1" | tr -d ' \t-' | tr 'a-z' 'A-Z' | tr 'ILO' '110')
  bad=$(printf '%s' "$NORMALISED_CODE" | tr -d '0-9ABCDEFGHJKMNPQRSTVWXYZ' | cut -c1)
  if [ -n "$bad" ]; then
    case $bad in
      [[:print:]]) printf "the pairing code contains '%s', which is not used in pairing codes." "$bad" ;;
      *) printf 'the pairing code contains a non-ASCII or control character, which may look like a code symbol but is not one.' ;;
    esac
  elif [ "${#NORMALISED_CODE}" -ne 12 ]; then
    printf 'the pairing code has %s symbols, expected 12.' "${#NORMALISED_CODE}"
  fi
}

normalise_code() {
  problem=$(code_problem "$CODE")
  [ -z "$problem" ] || die_usage "$problem Nothing was sent; check the code with your operator (format XXXX-XXXX-XXXX)."
  code_problem "$CODE" >/dev/null
  CODE=$NORMALISED_CODE
}

# On a terminal, ask for a missing code (three tries) rather than fail; it also
# keeps the code out of shell history and ps.
prompt_code() {
  tries=0
  while [ "$tries" -lt 3 ]; do
    printf 'Pairing code from your operator (XXXX-XXXX-XXXX): '
    IFS= read -r CODE || return 1
    problem=$(code_problem "$CODE")
    [ -z "$problem" ] && return 0
    printf '%s Try again.\n' "$problem" >&2
    tries=$((tries + 1))
  done
  die_usage "$problem"
}

load_or_create_key() {
  if [ -f "$KEY_FILE" ]; then
    chmod 600 "$KEY_FILE"
    pub=$(ssh-keygen -y -f "$KEY_FILE" 2>/dev/null) ||
      fail "$EXIT_INTERNAL" "$KEY_FILE is not an unencrypted OpenSSH key." "" "Move it away to generate a new one."
    case $pub in ssh-ed25519\ *) ;; *) fail "$EXIT_INTERNAL" "$KEY_FILE is not an Ed25519 key." "" "Move it away to generate a new one." ;; esac
    generated=0
  else
    ssh-keygen -q -t ed25519 -N '' -C "$NAME" -f "$KEY_FILE" </dev/null >/dev/null ||
      fail "$EXIT_INTERNAL" "ssh-keygen could not create $KEY_FILE." "" "Check the state directory."
    chmod 600 "$KEY_FILE"
    generated=1
  fi
  PUBLIC_LINE="$(ssh-keygen -y -f "$KEY_FILE" | cut -d' ' -f1,2) $NAME"
  printf '%s\n' "$PUBLIC_LINE" >"$PUB_FILE"
  chmod 644 "$PUB_FILE"
  FINGERPRINT=$(ssh-keygen -lf "$PUB_FILE" | cut -d' ' -f2)
  if [ "$generated" = 1 ]; then say_ok "Generated a new Ed25519 key pair $FINGERPRINT ($KEY_FILE)"; else say_ok "Reusing the Ed25519 key pair $FINGERPRINT ($KEY_FILE)"; fi
}

verify() {
  printf 'airlock-enroll-v1\n%s\n%s' "$ENROLLMENT_ID" "$CHALLENGE" >"$WORK/msg"
  rm -f "$WORK/msg.sig"
  ssh-keygen -Y sign -n airlock-enroll -f "$KEY_FILE" "$WORK/msg" 2>"$WORK/sign.err" ||
    fail "$EXIT_INTERNAL" "ssh-keygen could not sign the challenge: $(tr '\n' ' ' <"$WORK/sign.err")" "" "OpenSSH 8.1 or newer is needed for ssh-keygen -Y sign."
  sig=$(awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }' "$WORK/msg.sig")
  rekey=
  if [ -n "$OLD_KEY_FILE" ]; then
    # rotate-key: the current key signs the new key's enrollment (the re-key proof, docs/security.md).
    printf 'airlock-rekey-v1\n%s\n%s\n%s' "$ENROLLMENT_ID" "$CHALLENGE" "$FINGERPRINT" >"$WORK/rekey"
    rm -f "$WORK/rekey.sig"
    ssh-keygen -Y sign -n airlock-rekey -f "$OLD_KEY_FILE" "$WORK/rekey" 2>"$WORK/sign.err" ||
      fail "$EXIT_INTERNAL" "ssh-keygen could not sign the re-key proof: $(tr '\n' ' ' <"$WORK/sign.err")" "" "Check $OLD_KEY_FILE."
    rekey=$(awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }' "$WORK/rekey.sig")
    rekey=", \"rekey_signature\": \"$rekey\""
  fi
  printf '{"enrollment_id": "%s", "signature": "%s"%s}' "$ENROLLMENT_ID" "$sig" "$rekey" >"$WORK/verify.json"
  attempt=1
  while :; do
    http POST /api/v1/enroll/verify "$WORK/verify.json"
    rc=$?
    [ $rc -eq 0 ] && break
    # A repeated verify is allowed by the contract; retry only what may be transient.
    if is_tls_curl_error "$rc" || [ "$attempt" -ge 3 ]; then transport_fail "$rc"; fi
    say_warn "Connection problem while verifying; retrying in 5 s"
    attempt=$((attempt + 1))
    pause 5
  done
  check_interrupted
  if [ "$HTTP_STATUS" != 200 ]; then
    rm -f "$ENROLLMENT_FILE"
    explain verify
  fi
  POLL_TOKEN=$(server_str poll_token "$WORK/resp" "$POLL_TOKEN_RE" verify) || exit
  VERIFY_STATUS=$(server_str status "$WORK/resp" 'awaiting_approval|approved|pending_confirmation' verify) || exit
  POLL_INTERVAL=$(server_int poll_interval "$WORK/resp" verify) || exit
  [ -n "$POLL_INTERVAL" ] || POLL_INTERVAL=5
  write_enrollment
  say_ok "Challenge signed and verified"
}

# make_tls_key: $WORK/key.pem, the agent's Ed25519 key as PKCS#8 PEM (what
# TLS stacks load), derived from the OpenSSH key file. In an unencrypted
# OpenSSH Ed25519 key every field before the private key has a fixed length,
# so its 32-byte seed starts at byte 161 of the decoded blob; PKCS#8 is a
# fixed 16-byte header + that seed (RFC 8410). Checked against the public key.
make_tls_key() {
  [ -s "$WORK/key.pem" ] && return 0
  seed=$(sed -e '1d' -e '$d' "$KEY_FILE" | tr -d '\n' | base64 -d 2>/dev/null | od -An -v -tx1 -j161 -N32 | tr -d ' \n')
  is_match '[0-9a-f]{64}' "$seed" || return 1
  octal=$(printf '%s' "302e020100300506032b657004220420$seed" | awk '{
    for (i = 1; i <= length($0); i += 2) {
      h = index("0123456789abcdef", substr($0, i, 1)) - 1; l = index("0123456789abcdef", substr($0, i + 1, 1)) - 1
      printf "\\%03o", h * 16 + l
    } }')
  # shellcheck disable=SC2059 # the format is only octal escapes made just above
  { printf -- '-----BEGIN PRIVATE KEY-----\n'; printf "$octal" | base64; printf -- '-----END PRIVATE KEY-----\n'; } >"$WORK/key.pem"
  if command -v openssl >/dev/null 2>&1; then
    derived=$(openssl pkey -in "$WORK/key.pem" -pubout -outform der 2>/dev/null | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
    enrolled=$(ssh-keygen -y -f "$KEY_FILE" | cut -d' ' -f2 | base64 -d | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
    [ -n "$derived" ] && [ "$derived" = "$enrolled" ] || { rm -f "$WORK/key.pem"; return 1; }
  fi
}

# make_csr: $WORK/csr.pem, a PKCS#10 request for the agent's key asking for
# CN and SAN DNS = the host name only (Airlock decides everything else).
make_csr() {
  command -v openssl >/dev/null 2>&1 || return 1
  printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n' "$NAME" >"$WORK/req.cnf"
  openssl req -new -key "$WORK/key.pem" -config "$WORK/req.cnf" -addext "subjectAltName=DNS:$NAME" -out "$WORK/csr.pem" 2>/dev/null &&
    is_match '-----BEGIN CERTIFICATE REQUEST-----' "$(head -n 1 "$WORK/csr.pem")"
}

# rescue_credentials: the one-time answer is off the contract; keep it (0600)
# for the operator rather than lose it, and stop.
rescue_credentials() {
  cp "$WORK/resp" "$STATE_DIR/credentials.unparsed.json"
  fail "$EXIT_INTERNAL" "Approved, but the credentials are not in the format this client expects ($1 is missing or malformed)." \
    "What the server sent was saved to $STATE_DIR/credentials.unparsed.json (0600)." "Report this to your operator."
}

# approved_str KEY FILE ERE: server_str for the approved answer, rescuing it on failure.
approved_str() {
  ( server_str "$1" "$2" "$3" status ) >"$WORK/val" 2>/dev/null || rescue_credentials "$1"
  cat "$WORK/val"
}

# ssh_json FILE: the `ssh` object of FILE checked field by field and written
# out again from the checked values (or `null`); never spliced as received.
ssh_json() {
  raw=$(json_raw ssh "$1")
  case $raw in null) printf 'null'; return 0 ;; '{'*) ;; *) rescue_credentials ssh ;; esac
  printf '%s' "$raw" >"$WORK/ssh"
  host=$(approved_str host "$WORK/ssh" "$NET_HOST_RE") || exit
  user=$(approved_str user "$WORK/ssh" '[a-z_][a-z0-9_-]{0,31}') || exit
  port=$(json_raw port "$WORK/ssh")
  is_match '[0-9]{1,5}' "$port" && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || rescue_credentials ssh.port
  # known_hosts: one JSON string of key lines joined by \n escapes; no other escape, quote or control character.
  kh=$(json_raw known_hosts "$WORK/ssh")
  is_match '"([] !#-[^-~]|\\n)*"' "$kh" || rescue_credentials ssh.known_hosts
  printf '%s' "$kh" | sed -e 's/^"//' -e 's/"$//' | awk '{ gsub(/\\n/, "\n"); printf "%s", $0 }' >"$WORK/known_hosts"
  grep -Evq '^$|^(@cert-authority |@revoked )?[][A-Za-z0-9.:,*?!_-]{1,300} (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|rsa-sha2-(256|512)) [A-Za-z0-9+/]+={0,2}( [ -~]{0,100})?$' "$WORK/known_hosts" &&
    rescue_credentials ssh.known_hosts
  [ -s "$WORK/known_hosts" ] || rescue_credentials ssh.known_hosts
  # permit_open: an array of "host:port" strings; whitespace between them is JSON's, not the values'.
  po=$(json_raw permit_open "$WORK/ssh" | tr -d ' \t\r\n')
  is_match "\\[(\"($HOST_PORT_RE)\"(,\"($HOST_PORT_RE)\")*)?\\]" "$po" || rescue_credentials ssh.permit_open
  printf '{"host": "%s", "port": %s, "user": "%s", "known_hosts": %s, "permit_open": %s}' "$host" "$port" "$user" "$kh" "$po"
}

# tls_bad FIELD: the certificate part of an approved answer is unusable. The
# agent key is saved by then (it is delivered once); the certificate can be
# asked for again.
tls_bad() {
  fail "$EXIT_INTERNAL" "Enrolled and the credentials are saved, but the certificate was not stored ($1 is missing or malformed)." "" \
    "Run airlock-agent renew --tls --state-dir $STATE_DIR to ask for a new one; report this if it happens again."
}

# pem_field KEY FILE OUT: a JSON string holding PEM certificates only (base64
# lines and BEGIN/END CERTIFICATE markers joined by \n), decoded into OUT.
pem_field() {
  raw=$(json_raw "$1" "$2")
  is_match '"(-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/=]|\\r|\\n)+"' "$raw" || tls_bad "tls.$1"
  printf '%s' "$raw" | sed -e 's/^"//' -e 's/"$//' -e 's/\\r//g' | awk '{ gsub(/\\n/, "\n"); printf "%s", $0 }' >"$3"
  [ -z "$(tail -c 1 "$3")" ] || printf '\n' >>"$3"
  head -n 1 "$3" | grep -qx -- '-----BEGIN CERTIFICATE-----' || tls_bad "tls.$1"
  if command -v openssl >/dev/null 2>&1; then
    openssl x509 -in "$3" -noout 2>/dev/null || tls_bad "tls.$1"
  fi
}

# tls_certificate_json FILE: checks `tls` of the answer (null, absent, or the
# agent's certificate and CA bundle), writes tls/ (key.pem 0600, ca.pem and
# cert.pem 0644) and prints the credentials.json `certificate` value.
tls_certificate_json() {
  raw=$(json_raw tls "$1")
  case $raw in '' | null) printf 'null'; return 0 ;; '{'*) ;; *) tls_bad tls ;; esac
  printf '%s' "$raw" >"$WORK/tls"
  expires=$( (server_str expires_at "$WORK/tls" "$TIME_RE" status) 2>/dev/null) || tls_bad tls.expires_at
  pem_field certificate "$WORK/tls" "$WORK/cert.pem"
  pem_field ca_certificates "$WORK/tls" "$WORK/ca.pem"
  make_tls_key || tls_bad "the key ($KEY_FILE as PKCS#8)"
  if command -v openssl >/dev/null 2>&1; then
    # Only a certificate for this agent's own key is worth storing.
    for_key=$(openssl x509 -in "$WORK/cert.pem" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform der 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
    ours=$(openssl pkey -in "$WORK/key.pem" -pubout -outform der 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
    [ -n "$ours" ] && [ "$for_key" = "$ours" ] || tls_bad "tls.certificate (not for this agent's key)"
  fi
  mkdir -p "$STATE_DIR/tls" && chmod 755 "$STATE_DIR/tls" &&
    write_atomic "$STATE_DIR/tls/key.pem" 600 <"$WORK/key.pem" &&
    write_atomic "$STATE_DIR/tls/ca.pem" 644 <"$WORK/ca.pem" &&
    write_atomic "$STATE_DIR/tls/cert.pem" 644 <"$WORK/cert.pem" ||
    fail "$EXIT_INTERNAL" "Enrolled and the credentials are saved, but $STATE_DIR/tls could not be written." "" "Free disk space, then run airlock-agent renew --tls."
  printf '{"cert_file": "%s", "ca_file": "%s", "key_file": "%s", "expires_at": "%s", "issued_at": "%s"}' \
    "$STATE_DIR/tls/cert.pem" "$STATE_DIR/tls/ca.pem" "$STATE_DIR/tls/key.pem" "$expires" "$(now_iso)"
}

# write_credentials CERTIFICATE_JSON: credentials.json from checked values only.
write_credentials() {
  {
    printf '{\n  "version": 1,\n  "agent_id": "%s",\n  "site_code": "%s",\n  "agent_key": "%s",\n' "$agent_id" "$site_code" "$agent_key"
    printf '  "server": "%s",\n  "fingerprint": "%s",\n  "hostname": "%s",\n' "$SERVER" "$FINGERPRINT" "$NAME"
    if [ -n "$MACHINE_UID" ]; then printf '  "machine_uid": "%s",\n' "$MACHINE_UID"; fi
    printf '  "enrolled_at": "%s",\n  "private_key_file": "%s",\n  "ssh": %s,\n  "tls": %s,\n  "certificate": %s\n}\n' \
      "$ENROLLED_AT" "$KEY_FILE" "$ssh" "$(tls_json)" "$1"
  } | write_atomic "$CREDENTIALS_FILE"
}

save_credentials() {
  agent_id=$(approved_str agent_id "$WORK/resp" "$UUID_RE") || exit
  site_code=$(approved_str site_code "$WORK/resp" "$SITE_RE") || exit
  json_raw credentials "$WORK/resp" >"$WORK/creds"
  agent_key=$(approved_str agent_key "$WORK/creds" "$AGENT_KEY_RE") || exit
  ssh=$(ssh_json "$WORK/creds") || exit
  ENROLLED_AT=$(now_iso)
  # The agent key first: it is delivered once.
  write_credentials null ||
    fail "$EXIT_INTERNAL" "Approved, but $CREDENTIALS_FILE could not be written." "" "Free disk space, then ask your operator to revoke this agent and enroll again."
  rm -f "$ENROLLMENT_FILE"
  say_ok "Approved: enrolled as agent $agent_id of site $site_code"
  say_ok "Credentials saved"
  certificate=$(tls_certificate_json "$WORK/creds") || exit
  if [ "$certificate" != null ]; then
    write_credentials "$certificate" || fail "$EXIT_INTERNAL" "Cannot update $CREDENTIALS_FILE with the certificate." "" "Run airlock-agent renew --tls."
    say_ok "Certificate from Airlock's CA saved, valid until $(printf '%s' "$certificate" | sed 's/.*"expires_at": "\([^"]*\)".*/\1/')"
  fi
  say_plain ""
  say_plain "Written:"
  say_plain "  $CREDENTIALS_FILE  (0600) agent id, site, server, agent key (cak_..., not shown)"
  say_plain "  $KEY_FILE  (0600) SSH private key, for ssh -i"
  say_plain "  $PUB_FILE  public key $FINGERPRINT"
  if [ "$certificate" != null ]; then
    say_plain "  $STATE_DIR/tls/cert.pem, $STATE_DIR/tls/ca.pem  (0644) certificate and CA bundle"
    say_plain "  $STATE_DIR/tls/key.pem  (0600) the same key, PKCS#8 PEM for TLS"
  fi
  [ "$ssh" != null ] && say_plain "  SSH tunnel settings are included in credentials.json."
  [ "$ssh" != null ] && start_tunnel_service
  exit "$EXIT_OK"
}

# Issue 21, as airlock-agent enroll does it: as root under systemd, enable and
# start the tunnel unit when it is installed for this state directory; else
# print the exact command. Never fails the enrollment.
start_tunnel_service() {
  unit=airlock-agent-tunnel.service
  by_hand="airlock-agent tunnel --state-dir $STATE_DIR"
  running=$(systemctl is-system-running 2>/dev/null | head -n 1)
  case $running in
    running|degraded|starting|initializing|maintenance) ;;
    *) say_plain "Start the tunnel with: $by_hand"; return 0 ;;
  esac
  if [ "$(id -u)" != 0 ]; then
    say_plain "Start the tunnel with: sudo systemctl enable --now $unit  (or: $by_hand)"
    return 0
  fi
  exec_start=$(systemctl show -p ExecStart --value "$unit" 2>/dev/null)
  case " $exec_start " in
    *" --state-dir $STATE_DIR "*|*" --state-dir $STATE_DIR;"*) ;;
    *)
      say_plain "$unit is not installed for $STATE_DIR: install infra/systemd/$unit (its ExecStart names the state directory), then"
      say_plain "  systemctl enable --now $unit"
      say_plain "or start the tunnel with: $by_hand"
      return 0 ;;
  esac
  if systemctl enable --now "$unit" >/dev/null 2>&1; then
    say_ok "Tunnel service $unit enabled and started"
  else
    say_warn "Could not enable $unit"
    say_plain "Start it with: systemctl enable --now $unit  (or: $by_hand)"
  fi
}

wait_for_approval() {
  deadline=$(( $(now_s) + TIMEOUT_S ))
  since=$(date -d "$STARTED_AT" +%s 2>/dev/null || now_s)
  interval=$POLL_INTERVAL
  failures=0
  last_status=
  last_log=0
  RESUMABLE=1
  if [ "$VERIFY_STATUS" = approved ]; then
    # Site policy auto, or a signed re-key: the first status read carries the credentials.
    say_ok "${APPROVED_MSG:-Approved automatically by the site policy}"
  else
    say_highlight "Ask your operator to approve $FINGERPRINT ($NAME, $SITE)"
    [ "$IS_TTY" = 1 ] || say_info "Waiting for approval..."
  fi
  while :; do
    http GET /api/v1/enroll/status "" "$POLL_TOKEN"
    rc=$?
    if [ $rc -ne 0 ]; then
      # A TLS or pin failure mid-wait could be an attack: stop rather than keep offering the token.
      if is_tls_curl_error "$rc"; then transport_fail "$rc"; fi
      failures=$((failures + 1))
      backoff=$((interval * (1 << (failures > 5 ? 4 : failures - 1))))
      [ "$backoff" -gt 60 ] && backoff=60
      if [ $(( $(now_s) + backoff )) -gt "$deadline" ]; then timed_out; fi
      say_warn "Cannot reach the server ($(head -n 1 "$WORK/curl.err" | sed 's/^curl: //')); still waiting, retrying in $(fmt_seconds "$backoff")"
      pause "$backoff"
      continue
    fi
    [ "$failures" -gt 0 ] && say_info "Connection restored"
    failures=0
    [ "$HTTP_STATUS" = 200 ] && save_credentials
    check_interrupted
    wait_s=$interval
    case $HTTP_STATUS in
      202)
        pi=$(server_int poll_interval "$WORK/resp" status) || exit
        [ -n "$pi" ] && [ "$pi" -ge 1 ] && interval=$pi
        wait_s=$interval
        st=$(server_str status "$WORK/resp" 'awaiting_approval|pending_confirmation' status) || exit
        if [ "$st" != "$last_status" ] && [ "$st" = pending_confirmation ]; then
          say_info "This machine matches an agent that is already known; an operator must confirm it is the same machine."
        fi
        last_status=$st ;;
      429)
        code=$(json_text code "$WORK/resp")
        if [ "$code" = slow_down ]; then
          interval=$((interval + 5))
          wait_s=$interval
          [ -n "$RETRY_AFTER" ] && [ "$RETRY_AFTER" -gt "$wait_s" ] && wait_s=$RETRY_AFTER
          say_info "The server asked for slower polling; now every $(fmt_seconds "$interval")"
        else
          wait_s=${RETRY_AFTER:-60}
          [ "$wait_s" -lt "$interval" ] && wait_s=$interval
          say_warn "The server is rate limiting this address; waiting $(fmt_seconds "$wait_s")"
        fi ;;
      5??)
        wait_s=${RETRY_AFTER:-15}
        [ "$wait_s" -lt "$interval" ] && wait_s=$interval
        say_warn "The server answered HTTP $HTTP_STATUS; still waiting, retrying in $(fmt_seconds "$wait_s")" ;;
      *)
        code=$(json_text code "$WORK/resp")
        # Not credentials_already_issued: `airlock-agent recover` works from enrollment.json and the key.
        case $code in enrollment_rejected | expired_token | invalid_token | enrollment_denied) rm -f "$ENROLLMENT_FILE" ;; esac
        explain status ;;
    esac
    if [ $(( $(now_s) + wait_s )) -gt "$deadline" ]; then timed_out; fi
    elapsed=$(( $(now_s) - since ))
    if [ "$IS_TTY" = 1 ]; then
      printf '\r\033[2K... Waiting for approval %s elapsed' "$(fmt_elapsed "$elapsed")"
      WAIT_LINE=1
    elif [ $(( $(now_s) - last_log )) -ge 60 ]; then
      [ "$last_log" -gt 0 ] && say_info "Waiting for approval ($(fmt_elapsed "$elapsed") elapsed)"
      last_log=$(now_s)
    fi
    pause "$wait_s"
  done
}

timed_out() {
  fail "$EXIT_TIMEOUT" "Not approved yet after $(fmt_seconds "$TIMEOUT_S"); stopped waiting (--timeout)." \
    "The enrollment is saved in $ENROLLMENT_FILE." "Run $PROG --resume$([ "$STATE_DIR" = /var/lib/airlock-agent ] || printf ' --state-dir %s' "$STATE_DIR") to keep waiting."
}

# rotate-key, after verify: approved means the server now knows only the new
# key, so it becomes id_ed25519 before anything else can fail.
promote_rotated_key() {
  if [ "$VERIFY_STATUS" != approved ]; then
    rm -f "$ENROLLMENT_FILE" "$KEY_FILE" "$PUB_FILE"
    fail "$EXIT_DENIED" 'The server did not approve the new key at once; it holds it for an operator (an api older than this client, or it refused the re-key proof).' \
      "The current key $OLD_FINGERPRINT stays in use. The held enrollment is $ENROLLMENT_ID." 'Ask your operator to reject that enrollment, and report this.'
  fi
  mv "$KEY_FILE" "$OLD_KEY_FILE" && mv "$PUB_FILE" "$STATE_DIR/id_ed25519.pub" ||
    fail "$EXIT_INTERNAL" "The new key was approved but could not be moved into place: it is in $KEY_FILE." "" "Move it to $OLD_KEY_FILE and run airlock-agent recover."
  KEY_FILE=$OLD_KEY_FILE PUB_FILE=$STATE_DIR/id_ed25519.pub
  APPROVED_MSG='Approved by the re-key proof of the previous key (no operator)'
}

# ---------------------------------------------------------------- main

[ "$MODE" != machine_id ] || print_machine_id
[ "$EXPLAIN" = 0 ] || die_usage '--explain goes with machine-id: '"$PROG"' machine-id --explain'

for tool in curl ssh-keygen sha256sum base64 awk; do
  command -v "$tool" >/dev/null 2>&1 || fail "$EXIT_INTERNAL" "$tool is required but not installed." "" "apt-get install -y curl openssh-client"
done

if [ "$RESUME" = 1 ]; then
  for flag in "$SERVER" "$SITE" "$CODE" "$ENROLLMENT_KEY" "$MACHINE_UID" "$NAME" "$LABELS_JSON"; do
    [ -z "$flag" ] || die_usage "--resume continues the stored enrollment and cannot be combined with --server, --site, --code, --enrollment-key, --machine-uid, --name or --label"
  done
  [ "$FORCE" = 0 ] || die_usage "--resume cannot be combined with --force"
  ensure_state_dir
  WORK=$(mktemp -d "$STATE_DIR/.work.XXXXXX")
  if [ ! -f "$ENROLLMENT_FILE" ]; then
    if [ -f "$CREDENTIALS_FILE" ]; then say_ok "Nothing to resume: already enrolled."; exit "$EXIT_OK"; fi
    fail "$EXIT_NOT_ENROLLED" "No enrollment to resume in $STATE_DIR." "" "Start one with $PROG --server ... --site ... --code ... (add --state-dir if you used one)."
  fi
  # Read back with the same checks as a server answer: whatever is in the
  # file (written by either client, or tampered with) must still be well formed.
  SERVER=$(state_str server "$SERVER_RE") || exit
  SITE=$(state_str site_code "$SITE_RE") || exit
  METHOD=$(state_str method 'pairing_code|enrollment_key') || exit
  ENROLLMENT_ID=$(state_str enrollment_id "$UUID_RE") || exit
  CHALLENGE=$(state_str challenge "$CHALLENGE_RE") || exit
  CHALLENGE_EXPIRES_AT=$(state_str challenge_expires_at "$TIME_RE") || exit
  POLL_TOKEN=$(state_str poll_token "$POLL_TOKEN_RE" optional) || exit
  POLL_INTERVAL=$(json_raw poll_interval "$ENROLLMENT_FILE")
  is_match '[0-9]{1,5}' "$POLL_INTERVAL" || POLL_INTERVAL=5
  NAME=$(state_str hostname "$HOSTNAME_RE") || exit
  MACHINE_UID=$(state_str machine_uid "$MACHINE_UID_RE" optional) || exit
  STARTED_AT=$(state_str started_at "$TIME_RE") || exit
  VERIFY_STATUS=
  stored_fp=$(state_str fingerprint "$FINGERPRINT_RE") || exit
  # TLS settings of the original run apply unless given again now.
  [ -n "$CA_FILE" ] || CA_FILE=$(state_str ca_file "$PATH_RE" optional) || exit
  [ -n "$PIN" ] || PIN=$(state_str pin '[0-9a-f]{64}' optional) || exit
  case $(json_raw insecure "$ENROLLMENT_FILE") in true) INSECURE=1 ;; '' | false) ;; *) state_bad insecure ;; esac
  if [ "$INSECURE" = 1 ]; then say_warn "WARNING: --insecure: the server is NOT verified. Use --insecure only in a lab."; fi
  say_plain "$PROG $VERSION: resuming the enrollment of $NAME into site $SITE at $SERVER"
  load_or_create_key
  [ "$FINGERPRINT" = "$stored_fp" ] ||
    fail "$EXIT_INTERNAL" "$KEY_FILE ($FINGERPRINT) is not the key this enrollment was made with ($stored_fp)." "" "Restore the original key or start over with --force."
  setup_tls
  RESUMABLE=1
  [ -n "$POLL_TOKEN" ] || verify
  wait_for_approval
fi

# rotate-key: everything but the credential comes from credentials.json; the
# new key is made as id_ed25519.next and becomes id_ed25519 once approved.
if [ "$MODE" = rotate ]; then
  for flag in "$SERVER" "$SITE" "$MACHINE_UID" "$NAME" "$LABELS_JSON"; do
    [ -z "$flag" ] || die_usage "rotate-key takes the server, site, name and machine uid from credentials.json; give only --enrollment-key or --code (and --state-dir)"
  done
  [ "$RESUME$FORCE" = 00 ] || die_usage 'rotate-key cannot be combined with --resume or --force'
  [ -f "$CREDENTIALS_FILE" ] || fail "$EXIT_NOT_ENROLLED" "Not enrolled: no credentials in $STATE_DIR." "" "Enroll this machine with $PROG first."
  SERVER=$(file_str "$CREDENTIALS_FILE" server "$SERVER_RE") || exit
  SITE=$(file_str "$CREDENTIALS_FILE" site_code "$SITE_RE") || exit
  NAME=$(file_str "$CREDENTIALS_FILE" hostname "$HOSTNAME_RE") || exit
  MACHINE_UID=$(file_str "$CREDENTIALS_FILE" machine_uid "$MACHINE_UID_RE" optional) || exit
  OLD_FINGERPRINT=$(file_str "$CREDENTIALS_FILE" fingerprint "$FINGERPRINT_RE") || exit
  # The connection settings of the enrollment (the "tls" object; "certificate" has a ca_file of its own).
  tls_file=$(mktemp) || fail "$EXIT_INTERNAL" 'mktemp failed.' '' 'Check /tmp.'
  json_raw tls "$CREDENTIALS_FILE" >"$tls_file"
  [ -n "$CA_FILE" ] || CA_FILE=$(file_str "$tls_file" ca_file "$PATH_RE" optional) || exit
  [ -n "$PIN" ] || PIN=$(file_str "$tls_file" pin '[0-9a-f]{64}' optional) || exit
  case $(json_raw insecure "$tls_file") in true) INSECURE=1 ;; esac
  rm -f "$tls_file"
  [ -n "$MACHINE_UID" ] || fail "$EXIT_USAGE" 'This agent has no machine uid (it enrolled with a pairing code), so the server cannot match a new key to it.' '' \
    "Enroll again with $PROG --force (an operator approves it), or enroll zero-touch once."
  [ -f "$KEY_FILE" ] && [ "$(ssh-keygen -lf "$KEY_FILE" 2>/dev/null | cut -d' ' -f2)" = "$OLD_FINGERPRINT" ] ||
    fail "$EXIT_INTERNAL" "$KEY_FILE is missing or is not the enrolled key ($OLD_FINGERPRINT)." "" 'Restore the enrolled key; without it only an operator can re-enroll this machine.'
  OLD_KEY_FILE=$KEY_FILE
  KEY_FILE=$STATE_DIR/id_ed25519.next PUB_FILE=$STATE_DIR/id_ed25519.next.pub
  rm -f "$KEY_FILE" "$PUB_FILE"
  ROTATING=1 FORCE=1
fi

[ -n "$SERVER" ] || die_usage '--server is required, e.g. --server https://airlock.example.com'
[ -n "$SITE" ] || die_usage '--site is required, e.g. --site ACME-PHX'
case $SERVER in
  https://*) ;;
  http://*) [ "$INSECURE" = 1 ] || die_usage 'refusing plain http:// - the pairing code and your credentials would cross the network unencrypted. Use https:// (or --insecure for a lab)' ;;
  *) die_usage '--server must start with https://' ;;
esac
case $SERVER in http://*) [ -z "$PIN$CA_FILE" ] || die_usage '--pin and --ca-file apply to https:// servers only' ;; esac
SERVER=${SERVER%/}
hostport=${SERVER#*://}
case $hostport in '' | */* | *\?* | *\#* | *@* | *\"* | *\\* | *' '* | *[[:cntrl:]]*) die_usage '--server takes only scheme, host and port, e.g. https://airlock.example.com:8443' ;; esac

SITE=$(printf '%s' "$SITE" | tr 'a-z' 'A-Z')
is_match "$SITE_RE" "$SITE" || die_usage '--site must be 2-32 characters of A-Z, 0-9 and -, starting with a letter or digit'

[ -n "$ENROLLMENT_KEY" ] || [ -n "$CODE" ] || ENROLLMENT_KEY=${AIRLOCK_ENROLLMENT_KEY:-}
if [ -z "$ENROLLMENT_KEY" ] && [ -z "$CODE" ] && [ -t 0 ]; then prompt_code || true; fi
if [ -n "$CODE" ] && [ -n "$ENROLLMENT_KEY" ]; then die_usage 'give either --code (attended) or --enrollment-key (zero-touch), not both'; fi
if [ -n "$CODE" ]; then
  METHOD=pairing_code
  [ -z "$MACHINE_UID" ] || [ "$ROTATING" = 1 ] || die_usage '--machine-uid is only used with --enrollment-key'
  normalise_code
elif [ -n "$ENROLLMENT_KEY" ]; then
  METHOD=enrollment_key
  is_match 'cek_[A-Za-z0-9_-]{16,}' "$ENROLLMENT_KEY" || die_usage 'the enrollment key should look like cek_... (copy it exactly as the administrator gave it)'
  if [ -n "$MACHINE_UID" ]; then
    is_match "$MACHINE_UID_RE" "$MACHINE_UID" || die_usage '--machine-uid must be 8-128 characters of A-Z a-z 0-9 . _ : -'
  fi
else
  die_usage 'give --code XXXX-XXXX-XXXX (from your operator) or --enrollment-key cek_... (or AIRLOCK_ENROLLMENT_KEY) for zero-touch'
fi

if [ -z "$NAME" ]; then
  NAME=$(uname -n)
  rfc1123_msg="this machine's host name \"$NAME\" is not a valid RFC 1123 name; pass --name NAME"
else
  rfc1123_msg='--name must be a host name: letters, digits and hyphens, dot-separated, at most 253 characters'
fi
if [ "${#NAME}" -gt 253 ] || ! is_match "$HOSTNAME_RE" "$NAME"; then
  die_usage "$rfc1123_msg"
fi

if [ "$INSECURE" = 1 ]; then
  if [ "$PROTO" = http ] || case $SERVER in http://*) true ;; *) false ;; esac; then
    say_warn 'WARNING: --insecure with http:// - the pairing code, poll token and agent key cross the network in clear text.'
  elif [ -z "$PIN" ]; then
    say_warn 'WARNING: --insecure - the server certificate is NOT verified; anyone on the path can impersonate the server.'
  fi
  say_warn 'WARNING: use --insecure only in a lab. Prefer --ca-file FILE or --pin sha256:HEX.'
fi

say_plain "$PROG $VERSION: enrolling $NAME into site $SITE at $SERVER"
ensure_state_dir
WORK=$(mktemp -d "$STATE_DIR/.work.XXXXXX")

if [ "$FORCE" = 0 ]; then
  if [ -f "$CREDENTIALS_FILE" ]; then
    fail "$EXIT_ALREADY_ENROLLED" "This machine is already enrolled: agent $(json_str agent_id "$CREDENTIALS_FILE") of site $(json_str site_code "$CREDENTIALS_FILE") at $(json_str server "$CREDENTIALS_FILE")." \
      "" "Nothing to do. To enroll again (the old agent stays until an operator revokes it), add --force."
  fi
  if [ -f "$ENROLLMENT_FILE" ]; then
    fail "$EXIT_ALREADY_ENROLLED" "An enrollment into site $(json_str site_code "$ENROLLMENT_FILE") is already waiting for approval (started $(json_str started_at "$ENROLLMENT_FILE"))." \
      "" "Run $PROG --resume to keep waiting, or add --force to start a new one."
  fi
elif [ "$ROTATING" = 0 ] && { [ -f "$CREDENTIALS_FILE" ] || [ -f "$ENROLLMENT_FILE" ]; }; then
  say_warn '--force: starting a new enrollment; current credentials stay until the new ones arrive.'
fi

if [ "$METHOD" = pairing_code ]; then
  say_ok 'Pairing code format checked'
else
  say_ok 'Enrollment key format checked'
  if [ -z "$MACHINE_UID" ]; then
    derive_machine_uid
  elif [ "$ROTATING" = 1 ]; then
    say_ok "Machine uid kept from $CREDENTIALS_FILE; rotating the key $OLD_FINGERPRINT"
  else
    say_ok 'Machine uid taken from --machine-uid'
  fi
fi

load_or_create_key
setup_tls

STARTED_AT=$(now_iso)
START_S=$(now_s)
POLL_TOKEN=
POLL_INTERVAL=5
VERIFY_STATUS=
{
  printf '{"site_code": "%s", "public_key": "%s", "hostname": "%s", "agent_version": "%s"' "$SITE" "$PUBLIC_LINE" "$NAME" "$VERSION"
  if [ "$METHOD" = pairing_code ]; then printf ', "pairing_code": "%s"' "$CODE"; else printf ', "enrollment_key": "%s"' "$ENROLLMENT_KEY"; fi
  if [ -n "$MACHINE_UID" ]; then printf ', "machine_uid": "%s"' "$MACHINE_UID"; fi
  if [ -n "$LABELS_JSON" ]; then printf ', "labels": {%s}' "${LABELS_JSON#, }"; fi
} >"$WORK/enroll.head"
{ cat "$WORK/enroll.head"; printf '}'; } >"$WORK/enroll.json"
if [ "$NO_TLS" = 0 ]; then
  if make_tls_key && make_csr; then
    # The CSR is base64 lines and two markers: joined with \n escapes it is a JSON string as is.
    { cat "$WORK/enroll.head"; printf ', "csr": "'; awk '{ printf "%s\\n", $0 }' "$WORK/csr.pem"; printf '"}'; } >"$WORK/enroll.csr.json"
    mv "$WORK/enroll.json" "$WORK/enroll.plain.json"
    mv "$WORK/enroll.csr.json" "$WORK/enroll.json"
  else
    say_info 'No certificate requested: openssl 1.1.1 or newer (for Ed25519) is needed to make the request.'
  fi
fi
rm -f "$WORK/enroll.head"

# Zero-touch roll-outs hit many machines behind one NAT: wait out a 429 as
# the server asks, until --timeout. An attended run reports it instead.
while :; do
  http POST /api/v1/enroll "$WORK/enroll.json"
  rc=$?
  [ $rc -eq 0 ] || transport_fail "$rc"
  [ "$HTTP_STATUS" = 201 ] && break
  check_interrupted
  [ "$HTTP_STATUS" = 429 ] && [ "$METHOD" = enrollment_key ] || break
  wait_s=${RETRY_AFTER:-30}
  [ "$wait_s" -ge 1 ] || wait_s=1
  [ $(( $(now_s) + wait_s )) -le $(( START_S + TIMEOUT_S )) ] || break
  say_info "The server is rate limiting enrollments from this address; waiting $(fmt_seconds "$wait_s") before retrying (as it asked)."
  pause "$wait_s"
done
# A server before contract v1.1 refuses the unknown csr field before it
# consumes anything: enroll again without it.
if [ "$HTTP_STATUS" = 400 ] && [ -f "$WORK/enroll.plain.json" ] && [ "$(json_raw csr "$WORK/resp")" = '"unknown field"' ]; then
  say_warn 'This server does not issue certificates (no csr support); enrolling without one. Use --no-tls to skip asking.'
  http POST /api/v1/enroll "$WORK/enroll.plain.json" || transport_fail "$?"
fi
rm -f "$WORK/enroll.json" "$WORK/enroll.plain.json"
[ "$HTTP_STATUS" = 201 ] || explain enroll

# Command substitution runs in a subshell, so off_contract's exit only ends
# that; `|| exit` carries its exit code (the message is already printed).
ENROLLMENT_ID=$(server_str enrollment_id "$WORK/resp" "$UUID_RE" enroll) || exit
CHALLENGE=$(server_str challenge "$WORK/resp" "$CHALLENGE_RE" enroll) || exit
CHALLENGE_EXPIRES_AT=$(server_str expires_at "$WORK/resp" "$TIME_RE" enroll) || exit
case $PIN in '') tls_text='certificate verified' ;; *) tls_text="certificate matches pin sha256:$(printf '%s' "$PIN" | cut -c1-16)..." ;; esac
[ "$PROTO" = http ] && tls_text='plain HTTP: NOT ENCRYPTED'
[ "$PROTO" = https ] && [ "$INSECURE" = 1 ] && [ -z "$PIN" ] && tls_text='certificate NOT VERIFIED'
say_ok "Connected to $hostport ($tls_text)"
say_ok "Enrollment requested (id $ENROLLMENT_ID)"
write_enrollment
RESUMABLE=1
check_interrupted
verify
[ "$ROTATING" = 0 ] || promote_rotated_key
wait_for_approval
