import { expect } from 'vitest';
import { buildCanary, CANARY, publishToLabMirror } from '../../src/lab/mirror.js';
import { planLab } from '../../src/lab/topology.js';
import { onMachine } from './lab.js';

// What the security-update tests share (38-updates on Debian 12, 50-debian13): the lab mirror's canary
// package, updated in the mirror's security suite and installed by the node's own unattended-upgrades.

const plan = planLab();

/** Runs a command on the node and returns its output; anything but exit 0 fails the test. */
export async function shOn(node: string, cmd: string, timeoutMs = 120_000): Promise<string> {
  const r = await onMachine(node, cmd, timeoutMs);
  expect(r.code, `${cmd}\n${r.stderr}\n${r.stdout}`).toBe(0);
  return r.stdout.trim();
}

/** Whether a TCP connection from the node to the lab mirror (port 80) opens, as apt's _apt user or as root. */
export const aptReaches = async (node: string, asApt: boolean) =>
  (
    await onMachine(node, `${asApt ? 'setpriv --reuid=_apt --regid=nogroup --clear-groups ' : ''}timeout 3 bash -c 'exec 3<>/dev/tcp/${plan.outsideAddr}/80' && echo open || echo closed`)
  ).stdout.trim();

/**
 * The canary (1.0) is installed from the mirror and its service runs; 1.2 is published in CODENAME-updates
 * and 1.1 in CODENAME-security; the distro's own apt-daily and apt-daily-upgrade services (as their timers
 * would start them) must install 1.1 only, and needrestart must restart the service whose program the
 * update replaced (the package's scripts never do). The firewall still keeps root from the mirror after.
 */
export async function expectSecurityUpdateInstalled(node: string, codename: string, work: string): Promise<void> {
  const sh = (cmd: string, ms?: number) => shOn(node, cmd, ms);
  // the lists as the node last fetched them may predate the canary (a node that installed nothing from the mirror)
  await sh(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${CANARY}`, 300_000);
  expect(await sh(`dpkg-query -W -f='\${Version}' ${CANARY}`)).toBe('1.0');
  expect(await sh(`systemctl is-active ${CANARY}`)).toBe('active');
  const pid0 = await sh(`systemctl show -p MainPID --value ${CANARY}`);
  await publishToLabMirror(plan, `${codename}-updates`, await buildCanary(work, '1.2'));
  await publishToLabMirror(plan, `${codename}-security`, await buildCanary(work, '1.1'));
  await sh('systemctl start apt-daily.service', 300_000);
  await sh('systemctl start apt-daily-upgrade.service', 300_000);
  expect(await sh(`dpkg-query -W -f='\${Version}' ${CANARY}`)).toBe('1.1');
  expect(await sh(`cat /usr/share/${CANARY}/version`)).toBe('1.1');
  const pid1 = await sh(`systemctl show -p MainPID --value ${CANARY}`);
  expect(await sh(`systemctl is-active ${CANARY}`)).toBe('active');
  const log = await sh('cat /var/log/unattended-upgrades/unattended-upgrades-dpkg.log /var/log/unattended-upgrades/unattended-upgrades.log 2>&1; journalctl -q --no-pager -u apt-daily-upgrade; true');
  // a new main process is needrestart's doing
  expect(pid1, log).not.toBe(pid0);
  expect(log).toMatch(new RegExp(`Packages that will be upgraded: ${CANARY}`));
  expect(log).toMatch(new RegExp(`Restarting services|restart ${CANARY}\\.service`));
  // nothing is left using the replaced program
  expect(await sh('needrestart -b -r l')).not.toContain(`${CANARY}.service`);
  // the upgrade left the firewall as it was: apt still reaches only the mirror
  expect(await aptReaches(node, false)).toBe('closed');
}
