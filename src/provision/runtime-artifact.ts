import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../version.js';

export function runtimeArtifactPath(root: string, arch: string = process.arch): string {
  return join(root, 'build', `bulwark-runtime-${VERSION}-linux-${arch}.tar.gz`);
}

/** Reads the artifact's recorded SHA-256 (written by `make build`). */
export function runtimeArtifact(root: string): { path: string; sha256: string } {
  const path = runtimeArtifactPath(root);
  let line: string;
  try {
    line = readFileSync(`${path}.sha256`, 'utf8');
  } catch {
    throw new Error(`no runtime artifact at ${path}: run \`make build\` first`);
  }
  const sha256 = line.split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`bad checksum file ${path}.sha256`);
  return { path, sha256 };
}
