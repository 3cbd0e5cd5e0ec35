/**
 * A gzipped ustar archive of a few regular files, enough for an installer's
 * payload (`tar -xzf` on any Linux reads it). Written by hand: a dozen lines
 * against a dependency for the one format every target's tar understands.
 */
import { gzipSync } from 'node:zlib';

export interface TarFile {
  /** Relative path, at most 100 bytes (no prefix field needed for ours). */
  name: string;
  mode: number;
  body: Buffer;
}

const BLOCK = 512;

const octal = (value: number, width: number): string => `${value.toString(8).padStart(width - 1, '0')}\0`;

const header = (file: TarFile, mtime: number): Buffer => {
  if (Buffer.byteLength(file.name) > 100 || file.name.startsWith('/') || file.name.split('/').includes('..')) {
    throw new RangeError(`tar: unsuitable file name ${file.name}`);
  }
  const h = Buffer.alloc(BLOCK);
  h.write(file.name, 0, 'utf8');
  h.write(octal(file.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(file.body.length, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum counts as spaces while summing
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\u000000', 257, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
};

/** The archive, gzipped. `mtime` in seconds since the epoch, for every entry. */
export const tarGz = (files: readonly TarFile[], mtime: number): Buffer => {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f, mtime), f.body, Buffer.alloc((BLOCK - (f.body.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(parts), { level: 9 });
};
