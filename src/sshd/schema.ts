import { z } from 'zod';

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const user = z.string().regex(USER, 'must be a user name (lower-case letters, digits, "_" and "-")');

/**
 * `ssh.server:` in bulwark.yaml: the nodes' own sshd, hardened by a drop-in Bulwark owns. Defaults are the
 * secure policy: keys only, root by key only (or not at all with `adminUser`), no forwarding, modern algorithms.
 */
export const sshServerSchema = z
  .strictObject({
    /** Write and keep the drop-in. false: Bulwark leaves sshd alone (and audit reports what it sees). */
    enabled: z.boolean().default(true),
    /**
     * The administrator Bulwark and people log in as (with passwordless sudo). When set, root may not log in
     * at all (PermitRootLogin no) and only this user (and `allowUsers`) may; unset, root logs in by key only.
     */
    adminUser: user.refine((u) => u !== 'root', 'leave adminUser unset to log in as root (by key only)').optional(),
    /** More users allowed to log in (AllowUsers), besides root or adminUser. */
    allowUsers: z.array(user).default([]),
    /** Authentication attempts per connection (CIS: 4 or fewer). */
    maxAuthTries: z.number().int().min(1).max(4).default(3),
    /** Seconds to finish logging in (CIS: 1-60). */
    loginGraceTime: z.number().int().min(1).max(60).default(30),
    /** Unauthenticated connections: start:rate:full (CIS: 10:30:60 or stricter). */
    maxStartups: z
      .string()
      .regex(/^\d{1,4}:\d{1,3}:\d{1,4}$/, 'must be START:RATE:FULL, e.g. 10:30:60')
      .refine((s) => {
        const [a, r, f] = s.split(':').map(Number) as [number, number, number];
        return a >= 1 && a <= f && r >= 1 && r <= 100 && f <= 60;
      }, 'START ≤ FULL ≤ 60 and RATE 1-100')
      .default('10:30:60'),
    /** Sessions per connection (CIS: 10 or fewer). */
    maxSessions: z.number().int().min(1).max(10).default(10),
    /** A silent client is asked every clientAliveInterval seconds and dropped after clientAliveCountMax misses. */
    clientAliveInterval: z.number().int().min(1).max(3600).default(15),
    clientAliveCountMax: z.number().int().min(1).max(10).default(3),
    /** The pre-login banner file, or "none". */
    banner: z
      .string()
      .regex(/^(none|\/[A-Za-z0-9._/-]+)$/, 'must be an absolute path or "none"')
      .default('/etc/issue.net'),
  })
  .prefault({});

export type SshServerConfig = z.infer<typeof sshServerSchema>;
export type SshServerConfigInput = z.input<typeof sshServerSchema>;

/** Who may log in under this policy, and whether root may. Pure. */
export function loginPolicy(cfg: SshServerConfig): { users: string[]; rootLogin: 'no' | 'prohibit-password' } {
  const first = cfg.adminUser ?? 'root';
  const users = [first, ...cfg.allowUsers.filter((u) => u !== first)];
  return { users: [...new Set(users)], rootLogin: cfg.adminUser ? 'no' : 'prohibit-password' };
}
