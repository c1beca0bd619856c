import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint, keyType } from '../../../src/remote/known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'bw-kh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newKey(name: string): { blob: Buffer; fp: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  const blob = Buffer.from(readFileSync(`${f}.pub`, 'utf8').split(' ')[1]!, 'base64');
  const fp = execFileSync('ssh-keygen', ['-l', '-f', `${f}.pub`])
    .toString()
    .split(' ')[1]!;
  return { blob, fp };
}

describe('host key pinning', () => {
  const file = join(dir, 'bulwark.known_hosts');
  const a = newKey('a');
  const b = newKey('b');

  it('computes the same fingerprint as ssh-keygen and reads the key type from the blob', () => {
    expect(fingerprint(a.blob)).toBe(a.fp);
    expect(keyType(a.blob)).toBe('ssh-ed25519');
  });

  it('pins on first use, accepts the same key after, refuses a different one', () => {
    expect(checkHostKey(file, '198.51.100.11:22', a.blob)).toEqual({ status: 'pinned', fingerprint: a.fp });
    expect(checkHostKey(file, '198.51.100.11:22', a.blob)).toEqual({ status: 'known' });
    const r = checkHostKey(file, '198.51.100.11:22', b.blob);
    expect(r.status).toBe('changed');
    if (r.status === 'changed') {
      expect(r.error.message).toContain(`pinned ${a.fp}, offered ${b.fp}`);
      expect(r.error.message).toContain('nothing was done on this node');
    }
    // The refused key was not pinned.
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('pins per host and port', () => {
    expect(checkHostKey(file, '198.51.100.11:2222', b.blob).status).toBe('pinned');
  });
});
