import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BULWARK_SECURITY_SOURCES, BULWARK_SOURCES, parseSources, parseSourcesDump, planSources, restoreFile, securityEntries, type SourceFile } from '../../../src/updates/sources.js';

const BOOKWORM = { id: 'debian', codename: 'bookworm' };
const TRIXIE = { id: 'debian', codename: 'trixie' };
const NOBLE = { id: 'ubuntu', codename: 'noble' };
const NONE = { mirrors: [] as string[] };

/** Debian 12 as debootstrap leaves it: one line, no security suite. */
const DEBOOTSTRAP: SourceFile[] = [{ path: '/etc/apt/sources.list', text: 'deb http://deb.debian.org/debian bookworm main\n' }];

/** Debian 12 as the installer leaves it. */
const INSTALLER: SourceFile[] = [
  {
    path: '/etc/apt/sources.list',
    text: [
      '#deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main',
      'deb http://deb.debian.org/debian/ bookworm main non-free-firmware',
      'deb-src http://deb.debian.org/debian/ bookworm main non-free-firmware',
      '',
      'deb http://security.debian.org/debian-security bookworm-security main non-free-firmware',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/docker.gpg] https://download.docker.com/linux/debian bookworm stable',
      '',
    ].join('\n'),
  },
];

/** Debian 13's deb822 default. */
const DEB822: SourceFile[] = [
  {
    path: '/etc/apt/sources.list.d/debian.sources',
    text: [
      '# Modernized from /etc/apt/sources.list',
      'Types: deb deb-src',
      'URIs: http://deb.debian.org/debian/',
      'Suites: trixie trixie-updates',
      'Components: main non-free-firmware',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb deb-src',
      'URIs: http://security.debian.org/debian-security/',
      'Suites: trixie-security',
      'Components: main non-free-firmware',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
  },
];

/** Applies a plan to the files, as the adapter does. */
function apply(files: SourceFile[], plan: ReturnType<typeof planSources>): SourceFile[] {
  const m = new Map(files.map((f) => [f.path, f.text]));
  for (const w of plan.writes) m.set(w.path, w.text);
  for (const r of plan.removes) m.delete(r);
  return [...m].map(([path, text]) => ({ path, text }));
}

describe('apt sources: parsing', () => {
  it('reads one-line entries (options, deb-src, comments) and deb822 stanzas', () => {
    const e = parseSources([...INSTALLER, ...DEB822]);
    expect(e.filter((x) => x.format === 'list').map((x) => `${x.types[0]} ${x.uris[0]} ${x.suites.join(',')} ${x.components.join(',')}`)).toEqual([
      'deb http://deb.debian.org/debian/ bookworm main,non-free-firmware',
      'deb-src http://deb.debian.org/debian/ bookworm main,non-free-firmware',
      'deb http://security.debian.org/debian-security bookworm-security main,non-free-firmware',
      'deb https://download.docker.com/linux/debian bookworm stable',
    ]);
    const s = e.filter((x) => x.format === 'deb822');
    expect(s.map((x) => x.suites)).toEqual([['trixie', 'trixie-updates'], ['trixie-security']]);
    expect(s[0]?.types).toEqual(['deb', 'deb-src']);
  });

  it('an Enabled: no stanza is not an enabled entry', () => {
    const f = [{ path: '/etc/apt/sources.list.d/x.sources', text: 'Types: deb\nURIs: http://x/\nSuites: trixie-security\nComponents: main\nEnabled: no\n' }];
    expect(securityEntries(f, TRIXIE)).toEqual([]);
  });

  it('parses the SSH dump of the sources files', () => {
    expect(parseSourcesDump('\0/etc/apt/sources.list\0deb a b c\n\0/etc/apt/sources.list.d/d.sources\0Types: deb\n')).toEqual([
      { path: '/etc/apt/sources.list', text: 'deb a b c\n' },
      { path: '/etc/apt/sources.list.d/d.sources', text: 'Types: deb\n' },
    ]);
  });
});

describe('apt sources: the security suite without mirrors', () => {
  it('adds bookworm-security from security.debian.org when the node lacks it (debootstrap), and only once', () => {
    const plan = planSources(DEBOOTSTRAP, BOOKWORM, NONE);
    expect(plan.writes.map((w) => w.path)).toEqual([BULWARK_SECURITY_SOURCES]);
    const text = plan.writes[0]?.text ?? '';
    expect(text).toContain('URIs: http://security.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg');
    const after = apply(DEBOOTSTRAP, plan);
    expect(securityEntries(after, BOOKWORM)).toHaveLength(1);
    const again = planSources(after, BOOKWORM, NONE);
    expect(again.writes).toEqual([]);
    expect(again.removes).toEqual([]);
  });

  it('leaves an installer sources.list (which has the security suite) alone', () => {
    const plan = planSources(INSTALLER, BOOKWORM, NONE);
    expect(plan.writes).toEqual([]);
    expect(plan.summary).toContain('security.debian.org');
  });

  it("Debian 13's deb822 default has trixie-security: nothing to do", () => {
    expect(planSources(DEB822, TRIXIE, NONE).writes).toEqual([]);
  });

  it('Ubuntu: noble-security from security.ubuntu.com with the four components', () => {
    const f = [
      { path: '/etc/apt/sources.list.d/ubuntu.sources', text: 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates\nComponents: main restricted universe multiverse\n' },
    ];
    const plan = planSources(f, NOBLE, NONE);
    expect(plan.writes[0]?.text).toContain(
      'URIs: http://security.ubuntu.com/ubuntu\nSuites: noble-security\nComponents: main restricted universe multiverse\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
    );
  });

  it('a securityMirror replaces the security-only entries and keeps the rest', () => {
    const plan = planSources(DEB822, TRIXIE, { mirrors: [], securityMirror: 'https://sec.example.org/debian-security' });
    const after = apply(DEB822, plan);
    const sec = securityEntries(after, TRIXIE);
    expect(sec.map((e) => e.uris)).toEqual([['https://sec.example.org/debian-security']]);
    expect(parseSources(after).filter((e) => e.enabled && e.suites.includes('trixie'))).toHaveLength(1);
    expect(planSources(after, TRIXIE, { mirrors: [], securityMirror: 'https://sec.example.org/debian-security' }).writes).toEqual([]);
  });
});

describe('apt sources: configured mirrors', () => {
  const MIRRORS = { mirrors: ['http://mirror.example.org/debian', 'http://192.0.2.1/debian'], securityMirror: 'http://192.0.2.1/debian-security' };

  it('writes bulwark.sources, disables the distro entries of sources.list reversibly, leaves third-party entries', () => {
    const plan = planSources(INSTALLER, BOOKWORM, MIRRORS);
    expect(plan.writes.map((w) => w.path).sort()).toEqual(['/etc/apt/sources.list', BULWARK_SOURCES]);
    const after = apply(INSTALLER, plan);
    const enabled = parseSources(after).filter((e) => e.enabled);
    expect(enabled.map((e) => `${e.file} ${e.uris.join(' ')} ${e.suites.join(' ')}`).sort()).toEqual([
      `/etc/apt/sources.list https://download.docker.com/linux/debian bookworm`,
      `${BULWARK_SOURCES} http://192.0.2.1/debian-security bookworm-security`,
      `${BULWARK_SOURCES} http://mirror.example.org/debian http://192.0.2.1/debian bookworm bookworm-updates`,
    ]);
    // components follow the node's own main entry
    expect(enabled.find((e) => e.file === BULWARK_SOURCES)?.components).toEqual(['main', 'non-free-firmware']);
    // idempotent
    expect(planSources(after, BOOKWORM, MIRRORS).writes).toEqual([]);
    // and reversible: without mirrors the node's own file comes back byte for byte
    const back = apply(after, planSources(after, BOOKWORM, NONE));
    expect(back.find((f) => f.path === '/etc/apt/sources.list')?.text).toBe(INSTALLER[0]?.text);
    expect(back.map((f) => f.path)).toEqual(['/etc/apt/sources.list']);
  });

  it('disables deb822 stanzas with Enabled: no, and restores them exactly (an Enabled: yes line included)', () => {
    const withYes = [{ path: DEB822[0]!.path, text: DEB822[0]!.text.replace('Suites: trixie trixie-updates\n', 'Suites: trixie trixie-updates\nEnabled: yes\n') }];
    const plan = planSources(withYes, TRIXIE, MIRRORS);
    const after = apply(withYes, plan);
    const own = after.find((f) => f.path === DEB822[0]!.path)!;
    expect(own.text.match(/^Enabled: no$/gm)).toHaveLength(2);
    expect(parseSources([own]).every((e) => !e.enabled)).toBe(true);
    expect(restoreFile(own).text).toBe(withYes[0]!.text);
    expect(planSources(after, TRIXIE, MIRRORS).writes).toEqual([]);
  });

  it('an armored signing key goes into Signed-By as a deb822 multi-line field', () => {
    const key = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0abc\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n';
    const plan = planSources(DEBOOTSTRAP, BOOKWORM, { ...MIRRORS, signedBy: key });
    const text = plan.writes.find((w) => w.path === BULWARK_SOURCES)?.text ?? '';
    expect(text).toContain('Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZ0abc\n =AbCd\n -----END PGP PUBLIC KEY BLOCK-----');
    // the key's lines stay in their stanza (no blank line inside)
    expect(parseSources([{ path: BULWARK_SOURCES, text }]).map((e) => e.suites)).toEqual([['bookworm', 'bookworm-updates'], ['bookworm-security']]);
  });
});

describe('apt sources: any node, any config (property)', () => {
  const nodes = [DEBOOTSTRAP, INSTALLER, DEB822, [...INSTALLER, ...DEB822], []];
  const configs = [
    NONE,
    { mirrors: ['http://192.0.2.1/debian'], securityMirror: 'http://192.0.2.1/debian-security' },
    { mirrors: [], securityMirror: 'https://sec.example.org/debian-security' },
    { mirrors: ['https://m.example.org/debian'], securityMirror: 'https://m.example.org/debian-security', components: ['main', 'contrib'] },
  ];
  it('a plan applied is converged (the next plan is empty), and every config then switched back to none gives the node its own files back', () => {
    fc.assert(
      fc.property(fc.constantFrom(...nodes), fc.array(fc.constantFrom(...configs), { minLength: 1, maxLength: 4 }), fc.constantFrom(BOOKWORM, TRIXIE), (files, seq, distro) => {
        let cur = files;
        for (const cfg of seq) {
          cur = apply(cur, planSources(cur, distro, cfg));
          const again = planSources(cur, distro, cfg);
          expect(again.writes).toEqual([]);
          expect(again.removes).toEqual([]);
          expect(securityEntries(cur, distro).length).toBeGreaterThan(0);
        }
        const back = apply(cur, planSources(cur, distro, NONE));
        for (const f of files) expect(back.find((b) => b.path === f.path)?.text).toBe(f.text);
      }),
      { numRuns: 200 },
    );
  });
});
