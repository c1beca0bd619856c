import type { Config } from '../config/schema.js';
import { BOOT_UNIT, BOOT_UNIT_PATH, bootFiles, renderBootUnit, renderFallback } from '../firewall/boot.js';
import { FIREWALL_STATE_DIR } from '../firewall/confirm.js';
import type { NodeSession } from '../remote/ssh.js';
import type { StepResult } from './steps.js';

/**
 * Fail-closed at boot from the first bootstrap on (src/firewall/boot.ts): the fallback ruleset rendered from
 * the config and bulwark-firewall.service, installed and enabled before the agent starts. The agent then
 * keeps both and saves the table it applies.
 */
export async function installFirewallBoot(s: NodeSession, cfg: Config): Promise<StepResult> {
  if (!cfg.firewall.enabled) return { step: 'firewall-boot', changed: false, detail: 'firewall.enabled is false: no boot ruleset' };
  const files = bootFiles(FIREWALL_STATE_DIR);
  await s.execOk(`mkdir -p -m 0700 /var/lib/bulwark && mkdir -p -m 0700 ${FIREWALL_STATE_DIR}`);
  const did: string[] = [];
  if (await s.writeFileIfChanged(files.fallback, renderFallback(cfg.firewall), '0600')) did.push('fallback ruleset written');
  if (await s.writeFileIfChanged(BOOT_UNIT_PATH, renderBootUnit(FIREWALL_STATE_DIR), '0644')) {
    await s.execOk('systemctl daemon-reload');
    did.push(`${BOOT_UNIT} installed`);
  }
  if ((await s.exec(`systemctl is-enabled ${BOOT_UNIT}`)).stdout.trim() !== 'enabled') {
    await s.execOk(`systemctl enable -q ${BOOT_UNIT}`);
    did.push('enabled');
  }
  return { step: 'firewall-boot', changed: did.length > 0, detail: did.length ? did.join(', ') : 'no changes' };
}
