import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { generatePrivateKey, publicKeyOf } from './keys.js';
import { DEFAULT_MESH_ROOT } from '../config/locate.js';
import { generateKemKeyPair, kemPublicKeyOf } from './psk.js';
import { generateSigningKey, signingPublicKey } from './signing.js';

export { DEFAULT_MESH_ROOT } from '../config/locate.js';

/** Writes a secret file atomically with mode 0600 (util/atomic-write.ts). */
export function writeSecretFile(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, data, { mode: 0o600 });
}

/** Overwrites then removes a key file (best effort on journaling filesystems; the key is gone from here). */
export function destroyFile(path: string): void {
  if (!existsSync(path)) return;
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, randomBytes(Math.max(size, 1)), 0, Math.max(size, 1), 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  rmSync(path, { force: true });
}

export interface PairPsk {
  epoch: number;
  psk: string;
  /** Unix ms when this PSK was made (for the rotation timer). */
  created?: number;
}

/** The public identity of a node: what travels in its facts. */
export interface NodeKeys {
  name: string;
  /** WireGuard public key. */
  publicKey: string;
  /** Ed25519 public key (base64) that signs membership and key messages. */
  signKey: string;
  /** ML-KEM-768 encapsulation key (base64). */
  kemKey: string;
}

/**
 * A node's mesh secrets on disk under `root` (0700 dir, 0600 files): the WireGuard private key (`wg.key`,
 * `wg.key.next` while a rotation is staged), the Ed25519 node key (`sign.key`), the ML-KEM key (`kem.key`)
 * and the pair PSKs (`psk/PEER.json`). Keys are made here, by this node, and never leave it.
 */
export class KeyStore {
  constructor(readonly root: string = DEFAULT_MESH_ROOT) {}

  get wgKeyPath(): string {
    return join(this.root, 'wg.key');
  }
  get nextWgKeyPath(): string {
    return join(this.root, 'wg.key.next');
  }
  private path(name: string): string {
    return join(this.root, name);
  }

  /** Creates the directory and any missing key. Idempotent. */
  init(): void {
    mkdirSync(join(this.root, 'psk'), { recursive: true, mode: 0o700 });
    chmodSync(this.root, 0o700);
    chmodSync(join(this.root, 'psk'), 0o700);
    if (!existsSync(this.wgKeyPath)) writeSecretFile(this.wgKeyPath, generatePrivateKey() + '\n');
    if (!existsSync(this.path('sign.key'))) writeSecretFile(this.path('sign.key'), Buffer.from(generateSigningKey()).toString('base64') + '\n');
    if (!existsSync(this.path('kem.key'))) writeSecretFile(this.path('kem.key'), Buffer.from(generateKemKeyPair().secretKey).toString('base64') + '\n');
  }

  initialized(): boolean {
    return existsSync(this.wgKeyPath) && existsSync(this.path('sign.key')) && existsSync(this.path('kem.key'));
  }

  private read(name: string): string {
    return readFileSync(this.path(name), 'utf8').trim();
  }

  wgPublicKey(): string {
    return publicKeyOf(this.read('wg.key'));
  }
  signSecret(): Uint8Array {
    return new Uint8Array(Buffer.from(this.read('sign.key'), 'base64'));
  }
  kemSecret(): Uint8Array {
    return new Uint8Array(Buffer.from(this.read('kem.key'), 'base64'));
  }

  identity(name: string): NodeKeys {
    return {
      name,
      publicKey: this.wgPublicKey(),
      signKey: signingPublicKey(this.signSecret()),
      kemKey: Buffer.from(kemPublicKeyOf(this.kemSecret())).toString('base64'),
    };
  }

  /** Makes the next WireGuard key (for a rotation); returns its public key. */
  stageNextWgKey(): string {
    const k = generatePrivateKey();
    writeSecretFile(this.nextWgKeyPath, k + '\n');
    return publicKeyOf(k);
  }
  nextWgPublicKey(): string | null {
    return existsSync(this.nextWgKeyPath) ? publicKeyOf(this.read('wg.key.next')) : null;
  }
  /** The rotation is confirmed: the next key becomes the key; the old one is destroyed. */
  promoteNextWgKey(): void {
    const old = this.path(`wg.key.old.${randomBytes(4).toString('hex')}`);
    renameSync(this.wgKeyPath, old);
    renameSync(this.nextWgKeyPath, this.wgKeyPath);
    destroyFile(old);
  }
  /** The rotation was rolled back: forget the next key. */
  discardNextWgKey(): void {
    destroyFile(this.nextWgKeyPath);
  }

  psk(peer: string): PairPsk | null {
    const p = join(this.root, 'psk', `${peer}.json`);
    if (!existsSync(p)) return null;
    return JSON.parse(readFileSync(p, 'utf8')) as PairPsk;
  }
  setPsk(peer: string, v: PairPsk): void {
    writeSecretFile(join(this.root, 'psk', `${peer}.json`), JSON.stringify({ created: Date.now(), ...v }));
  }
  psks(): Map<string, string> {
    const dir = join(this.root, 'psk');
    const out = new Map<string, string>();
    if (!existsSync(dir)) return out;
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      const v = this.psk(f.slice(0, -5));
      if (v) out.set(f.slice(0, -5), v.psk);
    }
    return out;
  }
  forgetPsk(peer: string): void {
    destroyFile(join(this.root, 'psk', `${peer}.json`));
  }

  /** Destroys every key of this node (it left the mesh). */
  destroyAll(): void {
    if (!existsSync(this.root)) return;
    for (const f of [this.wgKeyPath, this.nextWgKeyPath, this.path('sign.key'), this.path('kem.key')]) destroyFile(f);
    const dir = join(this.root, 'psk');
    if (existsSync(dir)) for (const f of readdirSync(dir)) destroyFile(join(dir, f));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Every secret file with its mode (for the audit). */
  secretFiles(): { path: string; mode: number }[] {
    const files = [this.wgKeyPath, this.nextWgKeyPath, this.path('sign.key'), this.path('kem.key')].filter((f) => existsSync(f));
    const dir = join(this.root, 'psk');
    if (existsSync(dir)) for (const f of readdirSync(dir)) files.push(join(dir, f));
    return files.map((path) => ({ path, mode: statSync(path).mode & 0o777 }));
  }
}
