import { describe, expect, it } from 'vitest';
import { TransportError } from './errors.ts';
import { describeProxy, proxyFor } from './proxy.ts';

const https = new URL('https://edge.example.com');
const http = new URL('http://edge.example.com:8080');

describe('proxyFor', () => {
  it('reads https_proxy / HTTPS_PROXY for https and http_proxy / HTTP_PROXY for http, lower case first', () => {
    expect(proxyFor(https, { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128' })?.host).toBe('lower:3128');
    expect(proxyFor(https, { HTTPS_PROXY: 'http://upper:3128' })?.host).toBe('upper:3128');
    expect(proxyFor(https, { HTTP_PROXY: 'http://plain:3128' })).toBeNull();
    expect(proxyFor(http, { HTTP_PROXY: 'http://plain:3128' })?.host).toBe('plain:3128');
    expect(proxyFor(https, {})).toBeNull();
    expect(proxyFor(https, { HTTPS_PROXY: '' })).toBeNull();
  });

  it('accepts a proxy without a scheme, as curl does', () => {
    expect(proxyFor(https, { HTTPS_PROXY: 'proxy.corp:3128' })?.href).toBe('http://proxy.corp:3128/');
  });

  it('honours NO_PROXY: exact host, domain suffix, leading dot, port and *', () => {
    const env = (noProxy: string) => ({ HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
    expect(proxyFor(https, env('edge.example.com'))).toBeNull();
    expect(proxyFor(https, env('example.com'))).toBeNull();
    expect(proxyFor(https, env('.example.com'))).toBeNull();
    expect(proxyFor(https, env('localhost, *'))).toBeNull();
    expect(proxyFor(https, env('edge.example.com:443'))).toBeNull();
    expect(proxyFor(https, env('edge.example.com:8443'))).not.toBeNull();
    expect(proxyFor(https, env('ample.com'))).not.toBeNull();
    expect(proxyFor(new URL('https://10.0.0.5'), env('10.0.0.5'))).toBeNull();
    expect(proxyFor(new URL('https://10.0.0.5'), env('0.0.5'))).not.toBeNull();
  });

  it('refuses a proxy it cannot use, instead of silently going direct', () => {
    expect(() => proxyFor(https, { HTTPS_PROXY: 'https://proxy:3128' })).toThrow(TransportError);
    expect(() => proxyFor(https, { HTTPS_PROXY: 'http://[bad' })).toThrow(TransportError);
  });

  it('never shows proxy credentials', () => {
    const proxy = proxyFor(https, { HTTPS_PROXY: 'http://user:s3cret@proxy:3128' });
    expect(proxy && describeProxy(proxy)).toBe('http://proxy:3128');
  });
});
