#!/bin/sh
# airlock-self-sha256 -
# Airlock agent installer (docs/installers.md). The api builds one per site:
# line 2 then carries the SHA-256 of this file without line 2, the block
# marked EMBEDDED below carries the site's configuration and enrollment key,
# and the payload (agent, shell client, systemd units) follows the
# __AIRLOCK_PAYLOAD__ line. Installed as /opt/airlock-agent/lib/installer.sh
# without either, for --uninstall and the first-boot enrollment.

# shellcheck disable=SC2015
# (A && B || die is used only where die exits.)
set -u
umask 077
LC_ALL=C
export LC_ALL

PROG=airlock-agent-installer
EXIT_USAGE=2
EXIT_KEY_RETIRED=20
EXIT_DAMAGED=21
EXIT_NOT_ROOT=22
EXIT_NO_CONFIG=23

say() { printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  code=$1
  shift
  warn "$*"
  exit "$code"
}

SELF=$0
PAYLOAD_MARK=__AIRLOCK_PAYLOAD__

# ---- self-check, before anything else runs ---------------------------------
# A built installer carries its own checksum on line 2; a source or installed
# copy carries "-" and must then hold neither configuration nor payload.
[ -r "$SELF" ] || die "$EXIT_DAMAGED" "cannot read $SELF to check it; run it as: sh FILE"
want=$(sed -n '2s/^# airlock-self-sha256 //p' "$SELF")
if [ "$want" = "-" ]; then
  if grep -q "^$PAYLOAD_MARK\$" "$SELF" || grep -q '^AIRLOCK_EMBEDDED=1$' "$SELF"; then
    die "$EXIT_DAMAGED" "checksum missing: this installer was altered; do not use it, get it again from your Airlock operator"
  fi
else
  got=$(sed '2d' "$SELF" | sha256sum | cut -d' ' -f1)
  [ -n "$want" ] && [ "$want" = "$got" ] ||
    die "$EXIT_DAMAGED" "checksum mismatch: this installer is damaged or was altered; nothing was run. Get it again from your Airlock operator (and check its .sha256 and .sig)"
fi

AIRLOCK_EMBEDDED=0
AIRLOCK_SITE=''
AIRLOCK_SERVER=''
AIRLOCK_PIN=''
AIRLOCK_CA_B64=''
AIRLOCK_KEY=''
AIRLOCK_KEY_VERSION=''
AIRLOCK_KEY_FINGERPRINT=''
# @@AIRLOCK_EMBEDDED_CONFIG@@

PREFIX=/opt/airlock-agent
STATE_DEFAULT=/var/lib/airlock-agent
UNIT_DIR=/etc/systemd/system
LINK=/usr/local/bin/airlock-agent
UNITS='airlock-agent-enroll.service airlock-agent-tunnel.service airlock-agent-renew.service airlock-agent-renew.timer'

usage() {
  cat <<EOF
Airlock agent installer${AIRLOCK_SITE:+ for site $AIRLOCK_SITE, enrollment key $AIRLOCK_KEY_FINGERPRINT}.

  sh FILE.run                      install under $PREFIX, enroll now, set up systemd (root)
  sh FILE.run --state-dir D --no-install
                                   only enroll into D (no root needed, nothing installed)
  sh FILE.run --uninstall [--purge]
                                   remove what it installed; --purge also removes $STATE_DEFAULT

Options:
  --name NAME     host name to enroll as (default: this machine's)
  --machine-uid UID
                  this machine's identity (default: derived from /etc/machine-id)
  --no-start      install and enroll, but do not start the tunnel now
  --no-seal       keep the agent's secrets as 0600 files even where systemd-creds
                  could seal them to this host
  -h, --help      this help

Exit codes: 0 done, 2 usage, 20 the embedded enrollment key was rotated out,
21 this file is damaged or altered, 22 must run as root, 23 no configuration
and no terminal to ask on; otherwise the agent's own exit code.
EOF
}

STATE_DIR='' NO_INSTALL=0 UNINSTALL=0 PURGE=0 NO_START=0 NO_SEAL=0 NAME='' MACHINE_UID='' ENROLL_PENDING=0
while [ $# -gt 0 ]; do
  case $1 in
    --state-dir) [ $# -ge 2 ] || die "$EXIT_USAGE" "--state-dir needs a directory"; STATE_DIR=$2; shift 2 ;;
    --no-install) NO_INSTALL=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --no-start) NO_START=1; shift ;;
    --no-seal) NO_SEAL=1; shift ;;
    --name) [ $# -ge 2 ] || die "$EXIT_USAGE" "--name needs a value"; NAME=$2; shift 2 ;;
    --machine-uid) [ $# -ge 2 ] || die "$EXIT_USAGE" "--machine-uid needs a value"; MACHINE_UID=$2; shift 2 ;;
    --enroll-pending) ENROLL_PENDING=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "$EXIT_USAGE" "unknown option $1 (see --help)" ;;
  esac
done
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "$EXIT_USAGE" "--purge goes with --uninstall"
[ "$NO_INSTALL" = 0 ] || [ -n "$STATE_DIR" ] || die "$EXIT_USAGE" "--no-install needs --state-dir D"
[ -z "$STATE_DIR" ] || [ "$NO_INSTALL" = 1 ] || die "$EXIT_USAGE" "--state-dir goes with --no-install (installed units use $STATE_DEFAULT)"
[ "$UNINSTALL" = 0 ] || [ "$NO_INSTALL" = 0 ] || die "$EXIT_USAGE" "--uninstall and --no-install do not go together"

need_root() {
  [ "$(id -u)" = 0 ] || die "$EXIT_NOT_ROOT" "$1 needs root (or use --state-dir D --no-install for a trial without installing)"
}

systemd_running() {
  command -v systemctl >/dev/null 2>&1 || return 1
  case $(systemctl is-system-running 2>/dev/null) in
    running | degraded | starting | initializing | maintenance) return 0 ;;
  esac
  return 1
}

# ---- uninstall -------------------------------------------------------------
uninstall() {
  need_root "--uninstall"
  if systemd_running; then
    for u in $UNITS; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
  fi
  for u in $UNITS; do rm -f "$UNIT_DIR/$u"; done
  if systemd_running; then systemctl daemon-reload || true; fi
  if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$PREFIX/bin/airlock-agent" ]; then rm -f "$LINK"; fi
  rm -rf "$PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$STATE_DEFAULT"
    say "Removed the Airlock agent, its units and its state ($STATE_DEFAULT)."
  else
    say "Removed the Airlock agent and its units. Kept the state in $STATE_DEFAULT (--purge removes it too)."
  fi
}

# ---- the runtime: Node >= 20 runs the agent bundle, else the shell client ---
node_bin() {
  n=${AIRLOCK_INSTALLER_NODE:-$(command -v node 2>/dev/null || true)}
  [ -n "$n" ] && [ "$n" != none ] && [ -x "$n" ] || return 1
  "$n" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || return 1
  printf '%s\n' "$n"
}

# Sealed state (docs/installers.md): the Node agent keeps its cak_ and private
# key encrypted to this host with systemd-creds (TPM2 when present, else the
# host key) when a round trip works here; else 0600 files, and it says which.
AGENT_SEAL=off
choose_protection() { # choose_protection node|shell
  why=''
  if [ "$1" = shell ]; then
    why='the shell client cannot seal'
  elif [ "$NO_SEAL" = 1 ]; then
    why='--no-seal'
  elif [ "$NO_INSTALL" = 1 ]; then
    why='a --no-install trial does not seal: it touches no host key'
  elif ! command -v systemd-creds >/dev/null 2>&1; then
    why='systemd-creds is not available here'
  else
    # The host key must exist before a sandboxed unit needs it (no-op when it does).
    [ "$(id -u)" != 0 ] || systemd-creds setup >/dev/null 2>&1 || true
    probe=$(printf 'airlock-seal-probe' | systemd-creds encrypt --with-key=auto --name=airlock-probe - - 2>/dev/null |
      systemd-creds decrypt --name=airlock-probe - - 2>/dev/null)
    [ "$probe" = airlock-seal-probe ] || why='systemd-creds cannot encrypt here'
  fi
  if [ -z "$why" ]; then
    AGENT_SEAL=systemd-creds
    say "Protection: the agent's secrets are sealed to this machine with systemd-creds (TPM2 when present, else the host key)."
  else
    AGENT_SEAL=off
    say "Protection: 0600 files in a 0700 directory ($why)."
  fi
}

# The enrollment, as the agent (or the shell client) runs it, with the key in
# its environment: never on a command line, never in a file of ours.
enroll() { # enroll STATE_DIR AGENT...
  state=$1
  shift
  if [ -f "$state/credentials.json" ]; then
    say "This machine is already enrolled (state in $state); nothing to enroll. Re-running the installer is harmless."
    return 0
  fi
  if [ "$1" = sh ] || { [ "$1" = "$LINK" ] && [ ! -f "$PREFIX/lib/airlock-agent.mjs" ]; }; then choose_protection shell; else choose_protection node; fi
  set -- "$@" --server "$AIRLOCK_SERVER" --site "$AIRLOCK_SITE" --state-dir "$state"
  if [ -n "$AIRLOCK_PIN" ]; then set -- "$@" --pin "$AIRLOCK_PIN"; else set -- "$@" --ca-file "$state/server-ca.pem"; fi
  [ -z "$NAME" ] || set -- "$@" --name "$NAME"
  [ -z "$MACHINE_UID" ] || set -- "$@" --machine-uid "$MACHINE_UID"
  say "Enrolling with $AIRLOCK_SERVER as site $AIRLOCK_SITE (enrollment key $AIRLOCK_KEY_FINGERPRINT)..."
  AIRLOCK_ENROLLMENT_KEY=$AIRLOCK_KEY AIRLOCK_AGENT_SEAL=$AGENT_SEAL "$@"
  rc=$?
  if [ "$rc" = 5 ]; then
    warn "the server refused this installer's enrollment key $AIRLOCK_KEY_FINGERPRINT (version $AIRLOCK_KEY_VERSION) for site $AIRLOCK_SITE: it was rotated out (or expired, or used up)."
    warn "Get the current installer for site $AIRLOCK_SITE from your Airlock operator."
    return "$EXIT_KEY_RETIRED"
  fi
  return "$rc"
}

# The embedded configuration, written only when enrollment must wait for the
# next boot (network down); the first-boot unit deletes it once used.
write_pending() {
  # --name and --machine-uid go with it (sourced as shell: no quote may slip in).
  case $NAME$MACHINE_UID in *"'"*) die "$EXIT_USAGE" "--name and --machine-uid cannot contain a quote" ;; esac
  (
    umask 077
    printf "AIRLOCK_SITE='%s'\nAIRLOCK_SERVER='%s'\nAIRLOCK_PIN='%s'\nAIRLOCK_KEY='%s'\nAIRLOCK_KEY_VERSION='%s'\nAIRLOCK_KEY_FINGERPRINT='%s'\nNO_SEAL='%s'\nNAME='%s'\nMACHINE_UID='%s'\n" \
      "$AIRLOCK_SITE" "$AIRLOCK_SERVER" "$AIRLOCK_PIN" "$AIRLOCK_KEY" "$AIRLOCK_KEY_VERSION" "$AIRLOCK_KEY_FINGERPRINT" "$NO_SEAL" "$NAME" "$MACHINE_UID" >"$1/enroll.env"
  )
}

enroll_pending() {
  need_root "--enroll-pending"
  pending=$STATE_DEFAULT/enroll.env
  [ -f "$pending" ] || { say "No pending enrollment in $STATE_DEFAULT."; return 0; }
  # shellcheck disable=SC1090
  . "$pending"
  enroll "$STATE_DEFAULT" "$LINK" enroll
  rc=$?
  # Used (enrolled) or useless (refused): either way the key leaves the disk.
  case $rc in 0 | "$EXIT_KEY_RETIRED") rm -f "$pending" ;; esac
  if [ "$rc" = 0 ] && systemd_running; then systemctl start airlock-agent-tunnel.service airlock-agent-renew.timer || true; fi
  return "$rc"
}

extract_payload() { # extract_payload DIR
  grep -q "^$PAYLOAD_MARK\$" "$SELF" || return 1
  sed -n "/^$PAYLOAD_MARK\$/,\$p" "$SELF" | sed 1d | base64 -d | tar -xzf - -C "$1" --no-same-owner
}

write_ca() { # write_ca STATE_DIR
  [ -z "$AIRLOCK_CA_B64" ] || printf '%s' "$AIRLOCK_CA_B64" | base64 -d >"$1/server-ca.pem"
}

make_state_dir() {
  mkdir -p "$1" && chmod 0700 "$1" || die 1 "cannot create the state directory $1"
}

install_wrapper() { # install_wrapper NODE|''
  if [ -n "$1" ]; then
    printf '#!/bin/sh\n# Airlock agent (Node.js bundle), installed by the Airlock installer.\nexec %s %s/lib/airlock-agent.mjs "$@"\n' "$1" "$PREFIX" >"$PREFIX/bin/airlock-agent"
  else
    cat >"$PREFIX/bin/airlock-agent" <<EOF
#!/bin/sh
# Airlock agent (shell client: no Node.js >= 20 on this machine), installed by the Airlock installer.
case \${1:-} in
  enroll) shift; exec sh $PREFIX/lib/airlock-enroll.sh "\$@" ;;
  *) echo "airlock-agent: only 'enroll' is available with the shell client; install Node.js >= 20 and re-run the installer for the tunnel and renewals" >&2; exit 2 ;;
esac
EOF
  fi
  chmod 0755 "$PREFIX/bin/airlock-agent"
}

install_all() {
  need_root "Installing"
  work=$(mktemp -d) || die 1 "cannot make a temporary directory"
  trap 'rm -rf "$work"' EXIT
  trap 'rm -rf "$work"; exit 130' INT TERM
  extract_payload "$work" || die "$EXIT_DAMAGED" "this file carries no agent payload; use the .run file your Airlock operator built"
  node=$(node_bin || true)
  umask 022
  mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$UNIT_DIR"
  if [ -n "$node" ]; then
    cp "$work/lib/airlock-agent.mjs" "$PREFIX/lib/airlock-agent.mjs"
    say "Installed the Airlock agent (Node.js $("$node" --version)) in $PREFIX."
  else
    say "Node.js >= 20 not found: installed the shell client in $PREFIX (enrollment only; no tunnel or renewal units)."
  fi
  cp "$work/lib/airlock-enroll.sh" "$work/lib/installer.sh" "$PREFIX/lib/"
  install_wrapper "$node"
  if [ -e "$LINK" ] && ! { [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$PREFIX/bin/airlock-agent" ]; }; then
    warn "$LINK exists and is not ours; left it alone (the units run $LINK)"
  else
    mkdir -p "$(dirname "$LINK")" && ln -sfn "$PREFIX/bin/airlock-agent" "$LINK"
  fi
  units='airlock-agent-enroll.service'
  [ -z "$node" ] || units="$units airlock-agent-tunnel.service airlock-agent-renew.service airlock-agent-renew.timer"
  for u in $units; do cp "$work/units/$u" "$UNIT_DIR/$u" && chmod 0644 "$UNIT_DIR/$u"; done
  umask 077
  state=$STATE_DEFAULT
  make_state_dir "$state"
  write_ca "$state"

  enroll "$state" "$LINK" enroll
  rc=$?
  case $rc in
    0) ;;
    7)
      write_pending "$state"
      warn "could not reach $AIRLOCK_SERVER now; airlock-agent-enroll.service will enroll at the next boot (or: systemctl start airlock-agent-enroll)"
      ;;
    *) exit "$rc" ;;
  esac

  enable='airlock-agent-enroll.service'
  start=''
  [ -z "$node" ] || { enable="$enable airlock-agent-tunnel.service airlock-agent-renew.timer"; start='airlock-agent-renew.timer airlock-agent-tunnel.service'; }
  if systemd_running; then
    systemctl daemon-reload && systemctl enable $enable >/dev/null || die 1 "systemctl enable failed"
    say "Enabled: $enable"
    if [ "$rc" = 0 ] && [ "$NO_START" = 0 ] && [ -n "$start" ]; then
      systemctl start $start || die 1 "systemctl start failed"
      say "Started: $start"
    fi
  else
    say "systemd is not running here: installed the units in $UNIT_DIR but did not enable or start them."
    say "Skipped: systemctl daemon-reload; systemctl enable --now $enable"
  fi
  say "Done.${start:+ Check with: airlock-agent status}"
}

trial() {
  work=$(mktemp -d) || die 1 "cannot make a temporary directory"
  trap 'rm -rf "$work"' EXIT
  trap 'rm -rf "$work"; exit 130' INT TERM
  extract_payload "$work" || die "$EXIT_DAMAGED" "this file carries no agent payload; use the .run file your Airlock operator built"
  make_state_dir "$STATE_DIR"
  write_ca "$STATE_DIR"
  if node=$(node_bin); then
    enroll "$STATE_DIR" "$node" "$work/lib/airlock-agent.mjs" enroll
  else
    say "Node.js >= 20 not found: enrolling with the shell client."
    enroll "$STATE_DIR" sh "$work/lib/airlock-enroll.sh"
  fi
  rc=$?
  [ "$rc" != 0 ] || say "Enrolled into $STATE_DIR (nothing installed)."
  exit "$rc"
}

if [ "$UNINSTALL" = 1 ]; then uninstall; exit 0; fi
if [ "$ENROLL_PENDING" = 1 ]; then enroll_pending; exit $?; fi
if [ "$AIRLOCK_EMBEDDED" != 1 ]; then
  # No site configuration (the installed copy, /opt/airlock-agent/lib/installer.sh):
  # on a console, the setup wizard asks for it; unattended there is nothing to do.
  if [ -t 0 ] && [ -t 1 ] && [ -x "$LINK" ] && [ "$NO_INSTALL" = 0 ]; then
    choose_protection "$([ -f "$PREFIX/lib/airlock-agent.mjs" ] && echo node || echo shell)"
    AIRLOCK_AGENT_SEAL=$AGENT_SEAL exec "$LINK" setup
  fi
  die "$EXIT_NO_CONFIG" "this installer carries no site configuration: on a terminal with the agent installed it starts airlock-agent setup; otherwise ask your Airlock operator for the site's installer"
fi
if [ "$NO_INSTALL" = 1 ]; then trial; fi
install_all
exit 0
