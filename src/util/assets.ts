import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding Bulwark's data files (units/, provisioning/, firewall/): the repository root when
 * running from a checkout (dist/src/...), or the runtime's install dir on a node (/usr/lib/bulwark).
 */
export function assetRoot(from: string = import.meta.url): string {
  if (process.env.BULWARK_ASSETS) return process.env.BULWARK_ASSETS;
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'units')) && existsSync(join(dir, 'provisioning'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('cannot find Bulwark assets (units/, provisioning/); set BULWARK_ASSETS');
}

export function assetPath(...parts: string[]): string {
  return join(assetRoot(), ...parts);
}
