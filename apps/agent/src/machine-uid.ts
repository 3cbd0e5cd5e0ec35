/**
 * The machine uid for zero-touch enrollment (issue 22): derived from the
 * hardware first, so a re-image of the same machine gives the same uid and
 * the server sees the same machine instead of a ghost.
 *
 * Signals, in this order (all readable ones are used):
 *   product_uuid   /sys/class/dmi/id/product_uuid
 *   board_serial   /sys/class/dmi/id/board_serial
 *   disk_serial    the first disk's serial: the first name, in byte order, under
 *                  /sys/block that is not a virtual or removable device, read
 *                  from device/serial when that file exists, else serial
 * Only when none of them is readable: machine_id, /etc/machine-id (which a
 * reinstall regenerates; the agent says so).
 *
 * Each value is normalised (spaces, tabs, CR and LF removed everywhere, ASCII
 * upper case lowered) and refused when empty, shorter than 4 characters, not
 * printable ASCII, all zeros, all F, or a known vendor placeholder
 * ("Not Specified", "To be filled by O.E.M.", "Default string", …).
 *
 * uid = lower-case hex SHA-256 of UTF-8
 *   "airlock-machine-uid-v2" + for each used signal "\n{name}={value}"
 * The names separate the signals and the first line separates this hash from
 * any other use of the same ids. infra/agent/airlock-enroll.sh implements the
 * same steps; test/agent/shell-client.test.ts holds them to the same uid.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256Hex } from '@airlock/crypto';

export type SignalName = 'product_uuid' | 'board_serial' | 'disk_serial' | 'machine_id';

export interface DerivedMachineUid {
  machineUid: string;
  /** Signal names with the path read (relative to the root), e.g. `product_uuid (/sys/class/dmi/id/product_uuid)`. */
  used: string[];
  skipped: { label: string; reason: string }[];
  /** True when no hardware signal was readable and /etc/machine-id was used. */
  fallback: boolean;
}

const DOMAIN = 'airlock-machine-uid-v2';

/** What the agent says when it had to fall back (enroll and `machine-id --explain`). */
export const FALLBACK_WARNING =
  'No hardware id was readable, so the machine uid comes from /etc/machine-id, which a reinstall regenerates: after a re-image this machine will enroll as a new one. Run as root to read the DMI ids.';

/** Placeholders vendors ship on many machines (normalised: no spaces, lower case); hashing them would make unrelated machines collide. */
const PLACEHOLDERS = new Set([
  'uninitialized',
  '03000200-0400-0500-0006-000700080009',
  'notspecified',
  'notapplicable',
  'notavailable',
  'tobefilledbyo.e.m.',
  'tobefilledbyoem',
  'defaultstring',
  'default',
  'none',
  'null',
  'n/a',
  'unknown',
  'invalid',
  'empty',
  'oem',
  'o.e.m.',
  'systemserialnumber',
  'baseboardserialnumber',
  'chassisserialnumber',
  'serialnumber',
  '0123456789',
  '123456789',
  '1234567890',
]);

/** Block devices that are not a machine's disk. */
const VIRTUAL_BLOCK = /^(loop|ram|zram|dm-|md|sr|fd|nbd)/;

/** The normalised value, or why it cannot identify a machine. */
export const normaliseSignal = (raw: string): { value: string } | { problem: string } => {
  const value = raw.replace(/[ \t\r\n]/g, '').replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (value === '') return { problem: 'empty' };
  if (/[^\x21-\x7e]/.test(value)) return { problem: 'not printable text' };
  if (value.length < 4 || /^[0-]+$/.test(value) || /^[f-]+$/.test(value) || PLACEHOLDERS.has(value)) {
    return { problem: 'a vendor placeholder' };
  }
  return { value };
};

type Read = { value: string } | { problem: string };

const readSignal = async (file: string): Promise<Read> => {
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unreadable';
    if (code === 'EACCES' || code === 'EPERM') return { problem: 'not readable (root only: run as root)' };
    if (code === 'ENOENT' || code === 'ENOTDIR') return { problem: 'not present' };
    return { problem: `not readable (${code})` };
  }
  return normaliseSignal(raw);
};

/** The first non-virtual, non-removable disk under /sys/block, by name in byte order (as `LC_ALL=C ls`). */
const firstDisk = async (root: string): Promise<string | null> => {
  let names: string[];
  try {
    names = await fs.readdir(path.join(root, 'sys/block'));
  } catch {
    return null;
  }
  const sorted = names.filter((n) => !VIRTUAL_BLOCK.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of sorted) {
    const removable = await fs.readFile(path.join(root, 'sys/block', name, 'removable'), 'utf8').catch(() => '0');
    if (removable.trim() !== '1') return name;
  }
  return null;
};

/**
 * Derives the uid under `root` (default `/`; tests and containers point it at
 * a fake or bind-mounted tree). Never returns a raw value, only signal names.
 *
 * @example
 *   const { machineUid, used, fallback } = await deriveMachineUid()
 *   // machineUid: 64 hex chars; used: ['product_uuid (/sys/class/dmi/id/product_uuid)']; fallback: false
 */
export const deriveMachineUid = async (root = '/'): Promise<DerivedMachineUid | null> => {
  const used: string[] = [];
  const skipped: { label: string; reason: string }[] = [];
  const parts: string[] = [];
  const take = async (name: SignalName, rel: string): Promise<void> => {
    const label = `${name} (/${rel})`;
    const read = await readSignal(path.join(root, rel));
    if ('problem' in read) {
      skipped.push({ label, reason: read.problem });
      return;
    }
    parts.push(`${name}=${read.value}`);
    used.push(label);
  };
  await take('product_uuid', 'sys/class/dmi/id/product_uuid');
  await take('board_serial', 'sys/class/dmi/id/board_serial');
  const disk = await firstDisk(root);
  if (disk === null) {
    skipped.push({ label: 'disk_serial (/sys/block/*)', reason: 'no disk found' });
  } else {
    const viaDevice = await fs.stat(path.join(root, 'sys/block', disk, 'device/serial')).then(() => true, () => false);
    await take('disk_serial', viaDevice ? `sys/block/${disk}/device/serial` : `sys/block/${disk}/serial`);
  }
  let fallback = false;
  if (parts.length === 0) {
    fallback = true;
    await take('machine_id', 'etc/machine-id');
  }
  if (parts.length === 0) return null;
  const machineUid = sha256Hex(Buffer.from([DOMAIN, ...parts].join('\n'), 'utf8'));
  return { machineUid, used, skipped, fallback };
};

/** The root the agent reads hardware ids under: AIRLOCK_MACHINE_ROOT, else `/`. */
export const machineRoot = (env: NodeJS.ProcessEnv): string => {
  const root = env.AIRLOCK_MACHINE_ROOT?.trim();
  return root !== undefined && root !== '' ? root : '/';
};
