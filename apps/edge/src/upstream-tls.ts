import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ClientRequestArgs } from 'node:http';

export interface UpstreamTrust {
  /** PEM bundle that must have signed the api's certificate; null: system CAs (unless pinned). */
  ca: Buffer | null;
  /** Upper-case hex SHA-256 of the api's DER certificate; null: no pin. */
  pin: string | null;
}

/**
 * An https.Agent for the edge → api hop that hands a socket to the request
 * only after the api's certificate passed the CA check and/or the pin, so not
 * one byte of an enrollment request is written to an impostor.
 *
 * With a pin alone the chain is not checked (a self-signed api certificate
 * is the common case); the pin is then the whole trust.
 */
export class VerifyingAgent extends https.Agent {
  constructor(
    options: https.AgentOptions,
    private readonly trust: UpstreamTrust,
  ) {
    super(options);
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const tlsOptions: ConnectionOptions = {
      host: options.host ?? undefined,
      port: Number(options.port),
      servername: (options as { servername?: string }).servername ?? undefined,
      ...(this.trust.ca !== null ? { ca: this.trust.ca } : {}),
      rejectUnauthorized: this.trust.ca !== null || this.trust.pin === null,
      minVersion: 'TLSv1.2',
    };
    const socket: TLSSocket = connect(tlsOptions);
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      if (err !== null) socket.destroy();
      callback?.(err, socket);
    };
    socket.once('secureConnect', () => {
      if (this.trust.pin !== null) {
        const seen = socket.getPeerCertificate().fingerprint256?.replace(/:/g, '').toUpperCase();
        if (seen !== this.trust.pin) {
          finish(Object.assign(new Error('upstream certificate does not match EDGE_UPSTREAM_PIN'), { code: 'EPINMISMATCH' }));
          return;
        }
      }
      finish(null);
    });
    socket.once('error', (err: Error) => finish(err));
    return undefined;
  }
}
