// @peculiar/x509 resolves its algorithm registry through tsyringe, which needs
// the Reflect metadata polyfill loaded first; ESM evaluates imports in order.
// Internal: every x509 module of this package imports the library from here.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's own WebCrypto (Ed25519 and ECDSA P-256, OpenSSL underneath): no
// JavaScript crypto in the signing or verifying path.
export const subtle = webcrypto.subtle;
// The library's types name the DOM's Crypto; Node's webcrypto is that object.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Node's WebCrypto types (this project compiles without the DOM library). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type SigningAlgorithm = webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams;

export { x509 };

/** DER SubjectPublicKeyInfo of an Ed25519 key is this 12-byte header + the raw 32-byte key (RFC 8410). */
export const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** PKCS#8 of an Ed25519 private key is this 16-byte header + the 32-byte seed (RFC 8410). */
export const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const ED25519 = { name: 'Ed25519' } as const;
