import type { LoginsConfig } from './system-schema.js';

/** Pure: the /etc/login.defs keys Bulwark owns, pam_unix's password hashing, and password aging of local users. */

export const LOGIN_DEFS = '/etc/login.defs';
export const PAM_COMMON_PASSWORD = '/etc/pam.d/common-password';

/** The keys Bulwark sets in login.defs (every other line of the file is the administrator's). */
export function loginDefsWanted(cfg: LoginsConfig): Record<string, string> {
  const out: Record<string, string> = {
    UMASK: cfg.umask,
    PASS_MAX_DAYS: String(cfg.passMaxDays),
    PASS_MIN_DAYS: String(cfg.passMinDays),
    PASS_WARN_AGE: String(cfg.passWarnAge),
    ENCRYPT_METHOD: cfg.hash === 'yescrypt' ? 'YESCRYPT' : 'SHA512',
  };
  if (cfg.hash === 'yescrypt') out.YESCRYPT_COST_FACTOR = String(cfg.yescryptCost);
  else {
    out.SHA_CRYPT_MIN_ROUNDS = String(cfg.sha512Rounds);
    out.SHA_CRYPT_MAX_ROUNDS = String(cfg.sha512Rounds);
  }
  return out;
}

const keyLine = (key: string) => new RegExp(`^\\s*${key}\\s+`);

/** Active (uncommented) key → value; a later line wins, as in shadow's getdef. Pure. */
export function readLoginDefs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s+(\S.*?)\s*$/.exec(line);
    if (m) out.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

/**
 * Sets each wanted key: its first active line is rewritten in place, later duplicates are commented out,
 * a missing key is appended under a Bulwark marker. Comments and every other key stay. Idempotent. Pure.
 */
export function editLoginDefs(text: string, want: Record<string, string>): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const missing: string[] = [];
  for (const [key, value] of Object.entries(want)) {
    const re = keyLine(key);
    let seen = false;
    for (let i = 0; i < lines.length; i++) {
      if (!re.test(lines[i]!)) continue;
      if (!seen) {
        lines[i] = `${key}\t${value}`;
        seen = true;
      } else lines[i] = `# ${lines[i]}  (duplicate, disabled by Bulwark)`;
    }
    if (!seen) missing.push(`${key}\t${value}`);
  }
  const marker = '# Set by Bulwark (hardening.logins):';
  if (missing.length) {
    if (!lines.includes(marker)) lines.push('', marker);
    lines.push(...missing);
  }
  return `${lines.join('\n')}\n`;
}

/** The keys whose active value differs from the wanted one (key → seen value or "unset"). Pure. */
export function loginDefsDrift(text: string, want: Record<string, string>): Map<string, string> {
  const cur = readLoginDefs(text);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(want)) if (cur.get(k) !== v) out.set(k, cur.get(k) ?? 'unset');
  return out;
}

const PAM_UNIX_PASSWORD = /^(\s*password\s+(?:\[[^\]]*\]|\S+)\s+pam_unix\.so)(.*)$/;
const HASH_OPTS = /^(md5|bigcrypt|sha256|sha512|blowfish|gost_yescrypt|yescrypt|rounds=\d+)$/;

/** pam_unix's `password` line(s) with only `hash rounds=N` as hashing options. Undefined: no such line. Pure. */
export function editPamUnix(text: string, cfg: LoginsConfig): string | undefined {
  const rounds = cfg.hash === 'yescrypt' ? cfg.yescryptCost : cfg.sha512Rounds;
  let found = false;
  const out = text.split('\n').map((line) => {
    const m = PAM_UNIX_PASSWORD.exec(line);
    if (!m) return line;
    found = true;
    const opts = m[2]!
      .trim()
      .split(/\s+/)
      .filter((o) => o !== '' && !HASH_OPTS.test(o));
    return `${m[1]} ${[...opts, cfg.hash, `rounds=${rounds}`].join(' ')}`;
  });
  return found ? out.join('\n') : undefined;
}

/** What pam_unix's password line says about hashing, or why it is not what Bulwark wants. Pure. */
export function pamUnixHashing(text: string, cfg: LoginsConfig): { ok: boolean; evidence: string } {
  const lines = text.split('\n').filter((l) => PAM_UNIX_PASSWORD.test(l));
  if (lines.length === 0) return { ok: false, evidence: 'no pam_unix password line' };
  const rounds = cfg.hash === 'yescrypt' ? cfg.yescryptCost : cfg.sha512Rounds;
  for (const l of lines) {
    const opts = l.trim().split(/\s+/);
    const hashes = opts.filter((o) => HASH_OPTS.test(o) && !o.startsWith('rounds='));
    if (hashes.length !== 1 || hashes[0] !== cfg.hash || !opts.includes(`rounds=${rounds}`)) return { ok: false, evidence: `pam_unix: ${opts.slice(3).join(' ')}` };
  }
  return { ok: true, evidence: `pam_unix ${cfg.hash} rounds=${rounds}` };
}

export interface AgingPlan {
  /** Users with a password whose aging differs: `chage` sets it. */
  apply: string[];
  /** Users with a password left alone, with the reason (they fail the audit). */
  skip: { user: string; reason: string }[];
  /** Users with a password whose aging already matches. */
  ok: string[];
}

/** A hash that can be used to log in (not empty, not locked with ! or *). Pure. */
export const usablePassword = (hash: string) => hash !== '' && !hash.startsWith('!') && !hash.startsWith('*');

/**
 * Which local users get PASS_MIN/MAX_DAYS and PASS_WARN_AGE (chage). Users with a locked or no password are
 * untouched. A password older than the new maximum is left alone: aging would expire it at once, and
 * sshd (UsePAM) then refuses even key logins until it is changed. Pure (`today` in days since 1970).
 */
export function planAging(shadow: string, cfg: LoginsConfig, today: number): AgingPlan {
  const plan: AgingPlan = { apply: [], skip: [], ok: [] };
  for (const line of shadow.split('\n')) {
    const f = line.split(':');
    if (f.length < 8 || !f[0]) continue;
    const [user, hash, lastchg, min, max, warn] = f as [string, string, string, string, string, string];
    if (!usablePassword(hash)) continue;
    if (min === String(cfg.passMinDays) && max === String(cfg.passMaxDays) && warn === String(cfg.passWarnAge)) {
      plan.ok.push(user);
      continue;
    }
    if (lastchg === '0') plan.skip.push({ user, reason: 'must change the password at next login (last change 0)' });
    else if (lastchg !== '' && Number(lastchg) + cfg.passMaxDays < today)
      plan.skip.push({
        user,
        reason: `password last changed ${new Date(Number(lastchg) * 86_400_000).toISOString().slice(0, 10)}: a ${cfg.passMaxDays}-day maximum would expire it at once; change it (passwd ${user})`,
      });
    else plan.apply.push(user);
  }
  return plan;
}

/** The argv that sets aging for one user (`--root` for a scratch root). Pure. */
export function chageArgv(user: string, cfg: LoginsConfig, root: string): string[] {
  return ['chage', ...(root === '/' ? [] : ['--root', root]), '--mindays', String(cfg.passMinDays), '--maxdays', String(cfg.passMaxDays), '--warndays', String(cfg.passWarnAge), user];
}

/** A umask for login shells too (pam_umask is not in Debian's default PAM stack). */
export function umaskProfile(cfg: LoginsConfig): string {
  return `# Managed by Bulwark (hardening.logins); changes are overwritten by the agent.\numask ${cfg.umask}\n`;
}
export const UMASK_PROFILE = '/etc/profile.d/90-bulwark-umask.sh';
