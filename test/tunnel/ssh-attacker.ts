/**
 * A hostile SSH client for tests: it completes key exchange (npm `ssh2`,
 * which speaks the modern algorithms the endpoint offers; Debian's paramiko
 * 2.12 has neither chacha20-poly1305 nor AES-GCM), then sends raw
 * `userauth-request` messages whose public-key algorithm string is any text
 * it likes, newlines included. sshd logs that string at VERBOSE
 * ("userauth_pubkey: unsupported public key algorithm: …"), which is the
 * log-injection of issue 18, finding 1.
 */
import { Client } from 'ssh2';

/** One request: the algorithm name as sent, and an OpenSSH public key line (`ssh-ed25519 AAAA…`) as the key blob. */
export interface AuthRequest {
  algorithm: string;
  publicKey: string;
}

/** ssh2's protocol layer, which the Client keeps private; authPK without a signer sends a query. */
interface RawProtocol {
  authPK(username: string, publicKey: string, algorithm: string): void;
}

/**
 * Connects, sends each request and waits for sshd's answer to it (sshd ends
 * the connection after MaxAuthTries failures, so send at most 3), then
 * disconnects. Resolves with how many answers came back.
 */
export const sendAuthRequests = (o: { host: string; port: number; username?: string; requests: AuthRequest[] }): Promise<number> =>
  new Promise((resolve) => {
    const client = new Client();
    const username = o.username ?? 'airlock';
    let next = 0;
    let answered = -1;
    const done = () => {
      client.end();
      resolve(Math.max(0, answered));
    };
    client.on('error', () => done());
    client.on('close', () => done());
    client.connect({
      host: o.host,
      port: o.port,
      username,
      readyTimeout: 20_000,
      hostVerifier: () => true,
      // Called once for the first attempt, then after every failure answer sshd sends.
      authHandler: (_methodsLeft, _partial, callback) => {
        answered++;
        if (answered === 0) return callback({ type: 'none', username });
        const request = o.requests[next++];
        // `false` ends authentication (ssh2 accepts it; its type declarations do not list it).
        if (!request) return (callback as unknown as (next: false) => void)(false);
        const proto = (client as unknown as { _protocol: RawProtocol })._protocol;
        proto.authPK(username, request.publicKey, request.algorithm);
      },
    });
  });
