import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { assetPath } from '../util/assets.js';

/** The distributions Bulwark supports and the packages it needs on each (provisioning/distros.json, provisioning/packages/). */
const distrosSchema = z.object({
  supported: z.array(z.object({ id: z.string(), version: z.string(), codename: z.string(), packages: z.string() })),
  architectures: z.record(z.string(), z.string()),
});
export type Distros = z.infer<typeof distrosSchema>;
export type Distro = Distros['supported'][number];

export function loadDistros(file = assetPath('provisioning', 'distros.json')): Distros {
  return distrosSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** Package names from a list file (comments and blank lines ignored). Pure. */
export function parsePackageList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

export function packagesFor(distro: Distro): string[] {
  return parsePackageList(readFileSync(assetPath('provisioning', 'packages', distro.packages), 'utf8'));
}
