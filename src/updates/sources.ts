import type { PackagesConfig } from './schema.js';

/**
 * apt sources: reading the node's (one-line `.list` and deb822 `.sources` files), and planning Bulwark's
 * changes to them. Pure: files in, files out.
 *
 * Bulwark owns two files and edits others only reversibly:
 * - `bulwark.sources`: with `mirrors`, the distro suites from the mirrors and the security suite from
 *   `securityMirror`; the node's own entries for the distro's suites are disabled (a one-line entry is
 *   commented out behind `# bulwark-disabled: `, a deb822 stanza gets `Enabled: no` under a
 *   `# bulwark-disabled: ` line). Third-party entries are left alone.
 * - `bulwark-security.sources`: without mirrors, the security suite when the node has no enabled entry for it
 *   (or `securityMirror` is set, which then replaces the node's security-only entries).
 * Every plan starts from the files with Bulwark's edits undone, so it is the same each pass (idempotent), and
 * dropping `mirrors` from the config gives the node its own sources back.
 */

export const SOURCES_LIST = '/etc/apt/sources.list';
export const SOURCES_DIR = '/etc/apt/sources.list.d';
export const BULWARK_SOURCES = `${SOURCES_DIR}/bulwark.sources`;
export const BULWARK_SECURITY_SOURCES = `${SOURCES_DIR}/bulwark-security.sources`;
const OWNED = [BULWARK_SOURCES, BULWARK_SECURITY_SOURCES];
const MARK = '# bulwark-disabled: ';

export interface SourceFile {
  path: string;
  text: string;
}

export interface DistroInfo {
  /** os-release ID: debian, ubuntu. */
  id: string;
  codename: string;
}

export interface SourceEntry {
  file: string;
  format: 'list' | 'deb822';
  enabled: boolean;
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

/** The distro's own archive, security archive, keyring and default components. Pure. */
export function distroArchive(d: DistroInfo): { archive: string; security: string; keyring: string; components: string[]; securitySuite: string } {
  if (d.id === 'ubuntu') {
    return {
      archive: 'http://archive.ubuntu.com/ubuntu',
      security: 'http://security.ubuntu.com/ubuntu',
      keyring: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
      components: ['main', 'restricted', 'universe', 'multiverse'],
      securitySuite: `${d.codename}-security`,
    };
  }
  return {
    archive: 'http://deb.debian.org/debian',
    security: 'http://security.debian.org/debian-security',
    keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
    components: ['main'],
    securitySuite: `${d.codename}-security`,
  };
}

/** A suite of the distro's own archive (release, updates, security, backports, proposed). Pure. */
export function isDistroSuite(suite: string, d: DistroInfo): boolean {
  const s = suite.replace(/\/$/, '');
  return s === d.codename || s.startsWith(`${d.codename}-`) || /^(stable|oldstable|testing|unstable)(-[a-z]+)?$/.test(s);
}

const DISTRO_COMPONENTS = new Set(['main', 'contrib', 'non-free', 'non-free-firmware', 'restricted', 'universe', 'multiverse']);

/**
 * An entry of the distro's own archive: its suites are the distro's and its components the distro's (a
 * third-party repository such as Docker's names the codename as suite too, but its own components). Pure.
 */
export function isDistroEntry(e: SourceEntry, d: DistroInfo): boolean {
  return e.suites.length > 0 && e.suites.every((s) => isDistroSuite(s, d)) && e.components.every((c) => DISTRO_COMPONENTS.has(c));
}

const isSecuritySuite = (suite: string, d: DistroInfo) => suite === `${d.codename}-security` || suite === 'stable-security';

/** One-line entries of a `.list` file (commented lines are not entries). Pure. */
function parseListEntries(f: SourceFile): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const raw of f.text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ file: f.path, format: 'list', enabled: true, types: [m[1] as string], uris: [m[2] as string], suites: [m[3] as string], components: (m[4] ?? '').split(/\s+/).filter(Boolean) });
  }
  return out;
}

/** Stanzas of a deb822 file: runs of lines between blank lines; comments kept in place. Pure. */
function stanzas(text: string): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push(line);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Fields of one deb822 stanza (continuation lines joined; comments skipped); keys lower-cased. Pure. */
export function stanzaFields(lines: readonly string[]): Map<string, string> {
  const f = new Map<string, string>();
  let key: string | undefined;
  for (const l of lines) {
    if (l.startsWith('#')) continue;
    if (/^\s/.test(l) && key) {
      f.set(key, `${f.get(key) ?? ''}\n${l.trim()}`);
      continue;
    }
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(l);
    if (m) {
      key = (m[1] as string).toLowerCase();
      f.set(key, (m[2] as string).trim());
    }
  }
  return f;
}

function parse822Entries(f: SourceFile): SourceEntry[] {
  return stanzas(f.text)
    .map((st) => stanzaFields(st))
    .filter((fl) => fl.has('uris') || fl.has('types'))
    .map((fl) => ({
      file: f.path,
      format: 'deb822' as const,
      enabled: !/^(no|false|0)$/i.test(fl.get('enabled') ?? 'yes'),
      types: (fl.get('types') ?? '').split(/\s+/).filter(Boolean),
      uris: (fl.get('uris') ?? '').split(/\s+/).filter(Boolean),
      suites: (fl.get('suites') ?? '').split(/\s+/).filter(Boolean),
      components: (fl.get('components') ?? '').split(/\s+/).filter(Boolean),
    }));
}

/** Every entry (enabled or not) of the given files, by each file's format. Pure. */
export function parseSources(files: readonly SourceFile[]): SourceEntry[] {
  return files.flatMap((f) => (f.path.endsWith('.sources') ? parse822Entries(f) : parseListEntries(f)));
}

/** The file with Bulwark's disabling undone. Pure. */
export function restoreFile(f: SourceFile): SourceFile {
  if (!f.path.endsWith('.sources')) {
    return { path: f.path, text: f.text.replace(new RegExp(`^${MARK}`, 'gm'), '') };
  }
  const lines = f.text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.startsWith(MARK)) {
      const was = l.slice(MARK.length);
      if (/^Enabled:\s*no$/i.test(lines[i + 1] ?? '')) i++;
      if (/^Enabled:/i.test(was)) out.push(was);
      continue;
    }
    out.push(l);
  }
  return { path: f.path, text: out.join('\n') };
}

/** Disables the entries `pick` chooses in one file (reversibly, see restoreFile). Pure. */
function disableIn(f: SourceFile, pick: (e: SourceEntry) => boolean): { file: SourceFile; disabled: number } {
  let disabled = 0;
  if (!f.path.endsWith('.sources')) {
    const lines = f.text.split('\n').map((l) => {
      const e = parseListEntries({ path: f.path, text: l })[0];
      if (e && pick(e)) {
        disabled++;
        return MARK + l;
      }
      return l;
    });
    return { file: { path: f.path, text: lines.join('\n') }, disabled };
  }
  // rebuild the file stanza by stanza, keeping blank-line structure and comments
  const parts = f.text.split(/(\n[ \t]*\n+)/);
  const rebuilt = parts.map((part) => {
    if (/^\n[ \t]*\n+$/.test(part) || part.trim() === '') return part;
    const lines = part.split('\n');
    const e = parse822Entries({ path: f.path, text: part })[0];
    if (!e?.enabled || !pick(e)) return part;
    disabled++;
    const idx = lines.findIndex((l) => /^Enabled:/i.test(l));
    if (idx >= 0) {
      // in place of the stanza's own Enabled line, which the marker keeps
      lines.splice(idx, 1, MARK + (lines[idx] as string), 'Enabled: no');
    } else {
      // before the first field, after any leading comments
      const at = lines.findIndex((l) => !l.startsWith('#'));
      lines.splice(at < 0 ? lines.length : at, 0, `${MARK}-`, 'Enabled: no');
    }
    return lines.join('\n');
  });
  return { file: { path: f.path, text: rebuilt.join('') }, disabled };
}

/** A deb822 field value that may span lines (an armored key): continuation lines indented, blank ones " .". Pure. */
function field822(name: string, value: string): string {
  const lines = value.trim().split('\n');
  if (lines.length === 1) return `${name}: ${value.trim()}`;
  return `${name}:\n${lines.map((l) => (l.trim() === '' ? ' .' : ` ${l.trim()}`)).join('\n')}`;
}

function stanza(uris: string[], suites: string[], components: string[], signedBy: string): string {
  return [`Types: deb`, `URIs: ${uris.join(' ')}`, `Suites: ${suites.join(' ')}`, `Components: ${components.join(' ')}`, field822('Signed-By', signedBy)].join('\n');
}

export interface SourcesPlan {
  /** Files to write (whole content); only those that differ from what is on the node. */
  writes: SourceFile[];
  /** Bulwark's own files that are no longer wanted. */
  removes: string[];
  /** What the plan means, for reports. */
  summary: string;
  notes: string[];
  /** The URIs apt will use for the distro's suites after the plan (the security archive's included). */
  securityUris: string[];
}

/**
 * The node's sources as they should be for `packages` (see the file comment). `files` are the node's sources
 * files as read (sources.list, sources.list.d/*.list and *.sources, Bulwark's own included). Pure.
 */
export function planSources(files: readonly SourceFile[], distro: DistroInfo, pkgs: Pick<PackagesConfig, 'mirrors' | 'securityMirror' | 'components' | 'signedBy'>): SourcesPlan {
  const arch = distroArchive(distro);
  const current = new Map(files.map((f) => [f.path, f.text]));
  const others = files.filter((f) => !OWNED.includes(f.path)).map(restoreFile);
  const pristine = parseSources(others).filter((e) => e.enabled && e.types.includes('deb'));
  const mainEntry = pristine.find((e) => e.suites.includes(distro.codename));
  const components = pkgs.components ?? (mainEntry?.components.length ? mainEntry.components : arch.components);
  const secSuite = arch.securitySuite;
  const notes: string[] = [];
  const want = new Map<string, string>();
  let edited: SourceFile[] = others;
  let summary: string;
  let securityUris: string[];
  const header = (what: string) => `# Written by Bulwark (provisioning.packages): ${what}. The agent rewrites this file; change the config instead.\n`;

  if (pkgs.mirrors.length > 0) {
    const sec = pkgs.securityMirror ?? arch.security;
    const signed = pkgs.signedBy ?? arch.keyring;
    want.set(
      BULWARK_SOURCES,
      header('the distro suites from the configured mirrors, security updates from the security mirror') +
        `${stanza(pkgs.mirrors, [distro.codename, `${distro.codename}-updates`], components, signed)}\n\n${stanza([sec], [secSuite], components, pkgs.securityMirror ? signed : arch.keyring)}\n`,
    );
    let n = 0;
    edited = others.map((f) => {
      const r = disableIn(f, (e) => isDistroEntry(e, distro));
      n += r.disabled;
      return r.file;
    });
    summary = `mirrors ${pkgs.mirrors.join(' ')}, security ${sec}` + (n ? `; ${n} entr${n === 1 ? 'y' : 'ies'} of the node's own disabled` : '');
    securityUris = [sec];
  } else if (pkgs.securityMirror) {
    want.set(BULWARK_SECURITY_SOURCES, header('security updates from the configured security mirror') + `${stanza([pkgs.securityMirror], [secSuite], components, pkgs.signedBy ?? arch.keyring)}\n`);
    let n = 0;
    edited = others.map((f) => {
      const r = disableIn(f, (e) => e.suites.length > 0 && e.suites.every((s) => isSecuritySuite(s, distro)));
      n += r.disabled;
      return r.file;
    });
    const mixed = parseSources(edited).filter((e) => e.enabled && e.suites.some((s) => isSecuritySuite(s, distro)));
    for (const e of mixed) notes.push(`${e.file}: an entry mixes ${secSuite} with other suites; left enabled`);
    summary = `security ${pkgs.securityMirror}` + (n ? `; ${n} security entr${n === 1 ? 'y' : 'ies'} of the node's own disabled` : '');
    securityUris = [pkgs.securityMirror, ...mixed.flatMap((e) => e.uris)];
  } else {
    const sec = pristine.filter((e) => e.suites.some((s) => isSecuritySuite(s, distro)));
    if (sec.length > 0) {
      summary = `the node's own sources (security: ${[...new Set(sec.flatMap((e) => e.uris))].join(' ')})`;
      securityUris = [...new Set(sec.flatMap((e) => e.uris))];
    } else {
      want.set(BULWARK_SECURITY_SOURCES, header(`the security archive, which the node's sources lacked`) + `${stanza([arch.security], [secSuite], components, arch.keyring)}\n`);
      summary = `the node's own sources, plus ${secSuite} from ${arch.security}`;
      securityUris = [arch.security];
    }
  }

  const writes: SourceFile[] = [];
  for (const f of edited) if (current.get(f.path) !== f.text) writes.push(f);
  for (const [path, text] of want) if (current.get(path) !== text) writes.push({ path, text });
  const removes = OWNED.filter((p) => current.has(p) && !want.has(p));
  return { writes, removes, summary, notes, securityUris };
}

/** Whether the enabled entries include the distro's security suite (for audit). Pure. */
export function securityEntries(files: readonly SourceFile[], distro: DistroInfo): SourceEntry[] {
  return parseSources(files).filter((e) => e.enabled && e.types.includes('deb') && e.suites.some((s) => isSecuritySuite(s, distro)));
}

/** A shell script that prints every sources file as `\0PATH\0CONTENT` (one exec over SSH). */
export const READ_SOURCES_SCRIPT = `for f in ${SOURCES_LIST} ${SOURCES_DIR}/*.list ${SOURCES_DIR}/*.sources; do [ -f "$f" ] && { printf '\\0%s\\0' "$f"; cat "$f"; }; done; true`;

/** Parses READ_SOURCES_SCRIPT's output. Pure. */
export function parseSourcesDump(out: string): SourceFile[] {
  const parts = out.split('\0');
  const files: SourceFile[] = [];
  for (let i = 1; i + 1 < parts.length; i += 2) files.push({ path: parts[i] as string, text: parts[i + 1] as string });
  return files;
}
