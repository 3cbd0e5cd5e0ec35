/**
 * @airlock/transport: the one verified HTTP client underneath every Airlock
 * program that calls another (the agent, the operator CLI and typed client,
 * the tunnel endpoint, the chaos tests' operator). URL, a private CA file
 * or a certificate pin checked before a byte of the request is written,
 * CONNECT through an http:// proxy (HTTPS_PROXY, NO_PROXY as curl reads
 * them), a timeout per phase, a bounded answer, and one error type whose
 * `kind` says what failed.
 *
 * @example
 *   import { createTransport, TransportError } from '@airlock/transport';
 *   const api = createTransport({ origin: new URL('https://10.0.0.5:8082'), trust: { pinSha256, pinSetting: 'AIRLOCK_API_PIN' } });
 *   const res = await api.request({ method: 'GET', path: '/readyz' });
 */
export * from './errors.ts';
export * from './proxy.ts';
export * from './tls.ts';
export * from './transport.ts';
