import { EXIT_CODE_HELP } from './exit-codes.ts';
import { AGENT_VERSION } from './version.ts';

const exitTable = EXIT_CODE_HELP.map(([code, meaning]) => `  ${String(code).padStart(3)}  ${meaning}`).join('\n');

const USAGE = `Attended, with a pairing code from your operator:
  airlock-agent enroll --server https://HOST[:PORT] --site SITE --code XXXX-XXXX-XXXX [--name NAME]

Zero-touch, with the site's enrollment key:
  airlock-agent enroll --server https://HOST[:PORT] --site SITE --enrollment-key cek_… [--machine-uid UID]
  (or set AIRLOCK_ENROLLMENT_KEY instead of --enrollment-key, to keep the key out of ps)

Continue waiting after an interruption or a timeout:
  airlock-agent enroll --resume [--state-dir DIR] [--timeout 30m]

Keep the credentials (from a timer), or get new ones without an operator:
  airlock-agent renew [--state-dir DIR] [--rotate-key] [--force]
  airlock-agent recover [--state-dir DIR]`;

const ENROLL = `Enroll this machine with an Airlock server, through its edge.

${USAGE}

Options:
  --server URL          the Airlock edge (https:// only, unless --insecure)
  --site SITE           site code, e.g. ACME-PHX (any case)
  --code CODE           pairing code; spaces, hyphens and case do not matter
                        (left out on a terminal: asked for)
  --enrollment-key KEY  site enrollment key (cek_…) for zero-touch enrollment
  --machine-uid UID     zero-touch only; default: the one in credentials.json, else
                        a hash of the hardware ids (DMI product_uuid, board serial,
                        first disk's serial; /etc/machine-id only when none is
                        readable); see airlock-agent machine-id --explain
  --name NAME           host name to enroll as (default: this machine's)
  --label KEY=VALUE     attach a label; repeatable, at most 16
  --state-dir DIR       where keys and credentials live (default
                        /var/lib/airlock-agent as root, else
                        $XDG_STATE_HOME/airlock-agent or ~/.local/state/airlock-agent)
  --ca-file FILE        trust this CA (PEM) in addition to the system CAs
  --pin sha256:HEX      accept only the server certificate with this SHA-256
                        fingerprint (colons optional, any case), as printed by
                        openssl x509 -noout -fingerprint -sha256 or the edge
  --insecure            allow http:// and unverified certificates (lab only)
  --timeout DURATION    how long to wait for approval: 600, 90s, 30m, 2h (default 30m)
  --force               enroll even if this machine is enrolled or an enrollment is pending
  --no-tls              do not ask for a certificate from Airlock's CA (by default a
                        CSR for this machine's key is sent; the certificate lands in
                        STATE_DIR/tls/cert.pem, ca.pem and key.pem)
  --resume              continue the stored enrollment
  -h, --help            this help

Environment:
  AIRLOCK_ENROLLMENT_KEY           zero-touch key, instead of --enrollment-key
  AIRLOCK_MACHINE_ROOT             read the hardware ids under this directory (default /)
  AIRLOCK_AGENT_SEAL=systemd-creds seal the agent key and private key to this host (a fresh
                                   state directory; default off: 0600 files)
  HTTPS_PROXY, NO_PROXY (any case) an http:// proxy (CONNECT); TLS and --pin stay end to end
  NO_COLOR                         no colours on a terminal`;

export const ENROLL_HELP = `${ENROLL}\n\nExit codes:\n${exitTable}\n`;

/** The top-level help; `commands` is the registry's name and summary of each command. */
export const helpText = (commands: ReadonlyArray<{ name: string; summary: string }>): string => {
  const list = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n');
  return `airlock-agent ${AGENT_VERSION}: enroll this machine with Airlock and keep its credentials.

Commands:
${list}
  version    print the version

${USAGE}

Exit codes:
${exitTable}
`;
};
