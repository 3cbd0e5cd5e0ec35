export * from './codes.ts';
export * from './secrets.ts';
export * from './ssh.ts';
export * from './signatures.ts';
export * from './rekey.ts';
export * from './csr.ts';
export * from './certificates.ts';
export * from './name-constraints.ts';
