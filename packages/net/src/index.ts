export * from './client-ip.ts';
