export * from './client-ip.ts';
export * from './listen.ts';
