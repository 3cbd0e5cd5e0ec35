/**
 * `--format deb`: the same installer in a Debian package, for fleets pushed
 * through apt, Ansible or MDM. The package carries the signed .run; its
 * postinst runs it (install, enroll, units) and then deletes it, so the key
 * is not left on disk; its prerm runs the installed copy's --uninstall.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CliError } from './context.ts';

const RUN_PATH = '/usr/lib/airlock-agent/installer.run';

const postinst = `#!/bin/sh
set -e
case "$1" in
  configure)
    rc=0
    sh ${RUN_PATH} || rc=$?
    # The installer holds the site's enrollment key: used or not, it leaves the disk.
    rm -f ${RUN_PATH}
    exit $rc
    ;;
esac
exit 0
`;

const prerm = `#!/bin/sh
set -e
case "$1" in
  remove | deconfigure)
    if [ -f /opt/airlock-agent/lib/installer.sh ]; then sh /opt/airlock-agent/lib/installer.sh --uninstall || true; fi
    ;;
esac
exit 0
`;

const postrm = `#!/bin/sh
set -e
if [ "$1" = purge ]; then rm -rf /var/lib/airlock-agent; fi
exit 0
`;

export const buildDeb = async (o: { run: Buffer; fileName: string; site: string; keyVersion: number; outDir: string }): Promise<string> => {
  const stage = await mkdtemp(path.join(tmpdir(), 'airlock-deb-'));
  try {
    const debian = path.join(stage, 'DEBIAN');
    await mkdir(debian, { recursive: true, mode: 0o755 });
    await mkdir(path.join(stage, path.dirname(RUN_PATH)), { recursive: true, mode: 0o755 });
    await writeFile(path.join(stage, RUN_PATH), o.run, { mode: 0o700 });
    await writeFile(
      path.join(debian, 'control'),
      [
        'Package: airlock-agent',
        `Version: ${o.keyVersion}`,
        'Architecture: all',
        'Maintainer: Airlock <root@localhost>',
        'Priority: optional',
        'Section: admin',
        'Depends: coreutils, tar, gzip, sed',
        'Recommends: nodejs (>= 20) | curl',
        `Description: Airlock agent for site ${o.site}`,
        ` Installs, enrolls and starts the Airlock agent for site ${o.site}`,
        ` (installer ${o.fileName}).`,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    for (const [name, text] of [['postinst', postinst], ['prerm', prerm], ['postrm', postrm]] as const) {
      await writeFile(path.join(debian, name), text);
      await chmod(path.join(debian, name), 0o755);
    }
    const deb = path.join(o.outDir, `airlock-agent-${o.site}_${o.keyVersion}_all.deb`);
    try {
      await promisify(execFile)('dpkg-deb', ['--root-owner-group', '--build', stage, deb]);
    } catch (err) {
      throw new CliError(`dpkg-deb failed (is it installed?): ${(err as Error).message}`);
    }
    return deb;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
};
