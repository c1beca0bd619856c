import { z } from 'zod';

/**
 * An apt archive's base URL: http:// or https://, a host (DNS name, IPv4, or IPv6 in brackets), an optional
 * port and path; no credentials, query or fragment (they would end up in apt's sources and in logs).
 */
export const mirrorUrl = z.string().superRefine((s, ctx) => {
  const r = parseMirrorUrl(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

export interface MirrorUrl {
  url: string;
  scheme: 'http' | 'https';
  /** Host as written (IPv6 without brackets). */
  host: string;
  port: number;
}

const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A mirror URL's parts, or why it is not one. Pure. */
export function parseMirrorUrl(s: string): MirrorUrl | string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'must be a URL like http://deb.debian.org/debian';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must start with http:// or https://';
  if (u.username || u.password) return 'must not carry credentials (use apt auth.conf on the node)';
  if (u.search || u.hash) return 'must not have a query or fragment';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host.includes(':') && !HOST.test(host)) return `host "${host}" is not a DNS name or address`;
  if (/\s/.test(s)) return 'must not contain spaces';
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  return { url: s.replace(/\/+$/, ''), scheme, host, port: u.port ? Number(u.port) : scheme === 'http' ? 80 : 443 };
}

const packagesObject = z.strictObject({
  /** "apt": bootstrap installs from the node's apt sources; "bundle": the CLI uploads the .debs (air-gapped). */
  mode: z.enum(['apt', 'bundle']).default('apt'),
  /**
   * The distro archive's mirrors (e.g. http://deb.debian.org/debian). When set, they replace the node's own
   * sources (other entries are disabled, not deleted) and the firewall lets apt reach exactly these hosts.
   */
  mirrors: z.array(mirrorUrl).default([]),
  /**
   * The security archive (Debian: http://security.debian.org/debian-security; Ubuntu:
   * http://security.ubuntu.com/ubuntu). Default: the distro's own. Required with `mirrors`.
   */
  securityMirror: mirrorUrl.optional(),
  /** Archive components; default: Debian `main`, Ubuntu `main restricted universe multiverse`. */
  components: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a component name like main'))
    .min(1)
    .optional(),
  /**
   * The key the mirrors sign with: a keyring path on the node or an ASCII-armored public key (written into the
   * sources file). Default: the distro's archive keyring.
   */
  signedBy: z
    .string()
    .refine(
      (s) => s.startsWith('/') || /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]+-----END PGP PUBLIC KEY BLOCK-----/.test(s),
      'must be an absolute keyring path or an ASCII-armored public key block',
    )
    .optional(),
});

/**
 * `provisioning.packages`: the mode alone (`apt`, `bundle`, as `bulwark init` writes it) or the full object.
 * Either way the parsed config holds the object.
 */
export const packagesSchema = z
  .union([z.enum(['apt', 'bundle']).transform((mode): z.infer<typeof packagesObject> => ({ mode, mirrors: [] })), packagesObject])
  .prefault('apt')
  .superRefine((p, ctx) => {
    if (p.mirrors.length > 0 && p.securityMirror === undefined)
      ctx.addIssue({ code: 'custom', path: ['securityMirror'], message: 'is required with mirrors: security updates come from their own archive (e.g. http://security.debian.org/debian-security)' });
  });
export type PackagesConfig = z.infer<typeof packagesSchema>;

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** `updates:` unattended security updates on every node. */
export const updatesSchema = z
  .strictObject({
    /** Install security updates unattended (unattended-upgrades, security archive only). */
    enabled: z.boolean().default(true),
    reboot: z
      .strictObject({
        /** Reboot by itself when an update asks for it (/var/run/reboot-required). Off: an operator decides. */
        enabled: z.boolean().default(false),
        /** The maintenance window: the local time the reboot happens (HH:MM). */
        time: z.string().regex(HHMM, 'must be HH:MM (24 h)').default('04:00'),
      })
      .prefault({}),
    /** needrestart restarts services that still use replaced libraries by itself ("a"); false: list only ("l"). */
    restartServices: z.boolean().default(true),
    /** `bulwark audit` fails when the last successful unattended run is older than this. */
    maxAgeDays: z.number().int().min(1).max(90).default(3),
  })
  .prefault({});
export type UpdatesConfig = z.infer<typeof updatesSchema>;
