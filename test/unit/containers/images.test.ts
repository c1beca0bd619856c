import { describe, expect, it } from 'vitest';
import { importArgv } from '../../../src/containers/podman.js';
import { appImageKeys, echoAppSpec } from '../../helpers/image-app.js';
import { imageAccounts, parseLdd } from '../../../src/containers/image-router.js';
import { join } from 'node:path';

describe('router image pieces', () => {
  it('takes every library path from ldd output, skipping the vdso', () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd)\n\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n`;
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
  it('gives the image a non-root router account with no shell and no home', () => {
    const { passwd, group } = imageAccounts(60500);
    expect(passwd).toContain('bulwark-router:x:60500:60500:Bulwark router:/nonexistent:/usr/sbin/nologin');
    expect(group).toContain('bulwark-router:x:60500:');
  });
  it('writes import changes as JSON-form instructions', () => {
    expect(importArgv('/x.tar', 'localhost/r:1', { entrypoint: ['/usr/lib/bulwark/node', '/usr/lib/bulwark/bulwark.mjs'], cmd: ['router'], user: '60500:60500' })).toEqual([
      'import',
      '--change',
      'ENTRYPOINT ["/usr/lib/bulwark/node","/usr/lib/bulwark/bulwark.mjs"]',
      '--change',
      'CMD ["router"]',
      '--change',
      'USER 60500:60500',
      '/x.tar',
      'localhost/r:1',
    ]);
  });
});

describe('app image cache keys', () => {
  const spec = echoAppSpec(join(import.meta.dirname, '../../fixtures/echo-app'), '/tmp/cache');
  it('the echo app ships its component and the autobahn + CBOR packages', () => {
    expect(spec.files.map((f) => f.split('/').pop())).toContain('echo.py');
    expect(spec.packages).toEqual(expect.arrayContaining(['python3-autobahn', 'python3-cbor2']));
  });
  it('changing the component changes only the image key; changing packages changes both', () => {
    const a = appImageKeys(spec, [Buffer.from('v1')]);
    const b = appImageKeys(spec, [Buffer.from('v2')]);
    const c = appImageKeys({ ...spec, packages: [...spec.packages, 'python3-msgpack'] }, [Buffer.from('v1')]);
    expect(b.rootfs).toBe(a.rootfs);
    expect(b.image).not.toBe(a.image);
    expect(c.rootfs).not.toBe(a.rootfs);
    expect(c.image).not.toBe(a.image);
    expect(appImageKeys(spec, [Buffer.from('v1')])).toEqual(a);
  });
});
