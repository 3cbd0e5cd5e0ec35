/**
 * Process exit codes. They are part of the agent's interface: provisioning
 * scripts branch on them, so each outcome gets its own number and the shell
 * client (infra/agent/airlock-enroll.sh) uses the same table.
 *
 * @example
 *   process.exitCode = ExitCode.Rejected // 3
 */
export const ExitCode = {
  /** Enrolled (or `status`: enrolled). */
  Ok: 0,
  /** Unexpected failure: a bug, or the server answered something off-contract. */
  Internal: 1,
  /** Bad flags or input, caught before or by the server (`invalid_request`). */
  Usage: 2,
  /** An operator rejected the enrollment. */
  Rejected: 3,
  /** The enrollment expired (challenge or approval window) or its credentials were already collected. */
  Expired: 4,
  /** The server refused: wrong/expired/used pairing code, wrong key or site, bad signature, site conflict. */
  Denied: 5,
  /** Throttled or locked out; the message says how long to wait. */
  RateLimited: 6,
  /** Network, TLS or pin failure, or the server is unavailable. */
  Network: 7,
  /** Still not approved when `--timeout` ran out; `enroll --resume` continues. */
  Timeout: 8,
  /** Already enrolled, or an enrollment is pending; `--force` / `--resume`. */
  AlreadyEnrolled: 9,
  /** `status` / `--resume` / `renew`: nothing enrolled, nothing to resume or renew. */
  NotEnrolled: 10,
  /** `tunnel`: the agent was revoked; the tunnel stops for good (commands/tunnel.ts). */
  Revoked: 11,
  /** `renew` / `recover`: another renew or recover holds this state directory; try again later. */
  Busy: 12,
  /** Ctrl-C or SIGTERM; state is kept and `enroll --resume` continues. */
  Interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The table printed by `--help` and mirrored in the README. */
export const EXIT_CODE_HELP: ReadonlyArray<readonly [ExitCode, string]> = [
  [ExitCode.Ok, 'enrolled (status: enrolled)'],
  [ExitCode.Internal, 'unexpected error'],
  [ExitCode.Usage, 'usage error (bad flag, malformed pairing code, invalid input)'],
  [ExitCode.Rejected, 'rejected by an operator'],
  [ExitCode.Expired, 'enrollment expired (or credentials already collected)'],
  [ExitCode.Denied, 'denied (wrong/used/expired code, wrong key or site, bad signature, site conflict)'],
  [ExitCode.RateLimited, 'rate limited or locked out'],
  [ExitCode.Network, 'network, TLS or pin failure; server unavailable'],
  [ExitCode.Timeout, 'timed out waiting for approval (resumable)'],
  [ExitCode.AlreadyEnrolled, 'already enrolled or enrollment pending (use --force / --resume)'],
  [ExitCode.NotEnrolled, 'not enrolled / nothing to resume or renew'],
  [ExitCode.Busy, 'renew/recover already running on this state directory'],
  [ExitCode.Interrupted, 'interrupted by Ctrl-C or SIGTERM (resumable)'],
];
