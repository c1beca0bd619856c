import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, parseConfig } from '../../../src/config/index.js';
import { parseMirrorUrl } from '../../../src/updates/schema.js';

const BASE = `cluster: lab
nodes:
  - name: n1
    ssh: root@198.51.100.11
    endpoint: 192.0.2.11
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('provisioning.packages and updates: in bulwark.yaml', () => {
  it('`packages: apt` (what bulwark init writes) and `packages: bundle` still mean the mode, with no mirrors', () => {
    expect(parseConfig(`${BASE}provisioning:\n  packages: apt\n`).provisioning.packages).toEqual({ mode: 'apt', mirrors: [] });
    expect(parseConfig(`${BASE}provisioning:\n  packages: bundle\n`).provisioning.packages).toEqual({ mode: 'bundle', mirrors: [] });
    expect(parseConfig(BASE).provisioning.packages).toEqual({ mode: 'apt', mirrors: [] });
  });

  it('the object form: mirrors, a security mirror, components', () => {
    const c = parseConfig(
      `${BASE}provisioning:\n  packages:\n    mirrors: [http://deb.example.org/debian]\n    securityMirror: https://sec.example.org/debian-security/\n    components: [main, non-free-firmware]\n`,
    );
    expect(c.provisioning.packages).toEqual({
      mode: 'apt',
      mirrors: ['http://deb.example.org/debian'],
      securityMirror: 'https://sec.example.org/debian-security/',
      components: ['main', 'non-free-firmware'],
    });
  });

  it('mirrors without a security mirror are refused, naming the field and line', () => {
    expect(problems(`${BASE}provisioning:\n  packages:\n    mirrors: [http://deb.example.org/debian]\n`)).toEqual([
      expect.stringMatching(/^c\.yaml:8:5: provisioning\.packages\.securityMirror: is required with mirrors/) as string,
    ]);
  });

  it('a bad mirror URL is refused with its position', () => {
    const ps = problems(`${BASE}provisioning:\n  packages:\n    mirrors: [ftp://deb.example.org/debian]\n    securityMirror: http://s.example.org/x\n`);
    expect(ps.join('\n')).toMatch(/c\.yaml:8:\d+: provisioning\.packages\.mirrors\.0: must start with http:\/\/ or https:\/\//);
  });

  it('updates: defaults are on, no reboot, automatic restarts; a bad reboot time is refused', () => {
    const c = parseConfig(BASE);
    expect(c.updates).toEqual({ enabled: true, reboot: { enabled: false, time: '04:00' }, restartServices: true, maxAgeDays: 3 });
    expect(problems(`${BASE}updates:\n  reboot: { enabled: true, time: "25:00" }\n`)).toEqual([expect.stringMatching(/^c\.yaml:7:\d+: updates\.reboot\.time: must be HH:MM/) as string]);
  });

  it('mirror URLs: port defaults by scheme, credentials and queries refused', () => {
    expect(parseMirrorUrl('http://192.0.2.1/debian/')).toEqual({ url: 'http://192.0.2.1/debian', scheme: 'http', host: '192.0.2.1', port: 80 });
    expect(parseMirrorUrl('https://[2001:db8::1]:8443/d')).toMatchObject({ host: '2001:db8::1', port: 8443, scheme: 'https' });
    expect(parseMirrorUrl('http://u:p@x.example/d')).toMatch(/credentials/);
    expect(parseMirrorUrl('http://x.example/d?a=1')).toMatch(/query/);
    expect(parseMirrorUrl('deb.debian.org/debian')).toMatch(/URL/);
  });
});
