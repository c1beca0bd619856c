import { z } from 'zod';

/**
 * Kernel modules Bulwark never needs (CIS Debian 12 L1 server): rare network protocols, legacy and
 * removable-media filesystems, USB storage and FireWire. squashfs (snaps), udf (some clouds' provisioning
 * media), overlay (podman) and vfat (the EFI system partition) are deliberately not in it.
 */
export const DEFAULT_DISABLED_MODULES = ['dccp', 'sctp', 'rds', 'tipc', 'cramfs', 'freevxfs', 'hfs', 'hfsplus', 'jffs2', 'usb-storage', 'firewire-core', 'firewire-ohci', 'firewire-sbp2'] as const;

/** Modules a Bulwark node relies on: refusing them in the list is a config error, not a broken node. */
export const REQUIRED_MODULES = [
  'overlay',
  'wireguard',
  'nf-tables',
  'nf-conntrack',
  'nft-ct',
  'tun',
  'veth',
  'bridge',
  'vfat',
  'fat',
  'ext4',
  'xfs',
  'btrfs',
  'ip-tables',
  'x-tables',
  'af-packet',
  'ipv6',
  'udp-tunnel',
  'ip6-udp-tunnel',
];

const MODULE = /^[a-z0-9][a-z0-9_-]*$/;
/** modprobe treats "-" and "_" alike. */
export const moduleKey = (m: string) => m.replace(/_/g, '-');

const modulesSchema = z
  .strictObject({
    /** Write the modprobe.d file that makes each module impossible to load (install MOD /bin/false + blacklist). */
    enabled: z.boolean().default(true),
    /** The modules to disable (default: DEFAULT_DISABLED_MODULES). */
    disable: z
      .array(z.string().regex(MODULE, 'must be a kernel module name like sctp or usb-storage'))
      .default([...DEFAULT_DISABLED_MODULES])
      .superRefine((mods, ctx) => {
        mods.forEach((m, i) => {
          if (REQUIRED_MODULES.includes(moduleKey(m)))
            ctx.addIssue({ code: 'custom', path: [i], message: `${m} is needed by Bulwark (podman, WireGuard, nftables or the boot filesystems): it cannot be disabled` });
        });
      }),
  })
  .prefault({});

const NO_ESCAPES = /\\[mrsvMRSV]/;
export const DEFAULT_BANNER = 'Authorized use only. Activity on this system is monitored and recorded.\n';

const bannerSchema = z
  .strictObject({
    /** Write /etc/issue, /etc/issue.net and /etc/motd with `text` (no OS name or version in them). */
    enabled: z.boolean().default(true),
    text: z
      .string()
      .min(1)
      .max(4000)
      .refine((t) => !NO_ESCAPES.test(t), 'must not contain \\m, \\r, \\s or \\v (getty expands them to the OS, kernel and machine)')
      .default(DEFAULT_BANNER),
  })
  .prefault({});

const loginsSchema = z
  .strictObject({
    /** Own the keys below in /etc/login.defs and the hashing of pam_unix; apply aging to local password users. */
    enabled: z.boolean().default(true),
    umask: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'an octal umask like 027')
      .default('027'),
    passMaxDays: z.number().int().min(1).max(99999).default(365),
    passMinDays: z.number().int().min(0).max(99999).default(1),
    passWarnAge: z.number().int().min(0).max(99999).default(7),
    /** Password hash for new passwords (login.defs ENCRYPT_METHOD and pam_unix). */
    hash: z.enum(['yescrypt', 'sha512']).default('yescrypt'),
    /** yescrypt cost factor 1..11 (Debian's default is 5). */
    yescryptCost: z.number().int().min(1).max(11).default(5),
    /** SHA-512 rounds when hash is sha512. */
    sha512Rounds: z.number().int().min(5000).max(999_999_999).default(65_536),
    /** Apply PASS_MAX/MIN_DAYS and PASS_WARN_AGE to existing local users with a password (chage). */
    ageExistingUsers: z.boolean().default(true),
  })
  .superRefine((v, ctx) => {
    if (v.passMinDays >= v.passMaxDays) ctx.addIssue({ code: 'custom', path: ['passMinDays'], message: 'must be below passMaxDays' });
  })
  .prefault({});

const auditdSchema = z
  .strictObject({
    /** Write /etc/audit/rules.d/bulwark.rules and load it with augenrules --load. */
    enabled: z.boolean().default(true),
    /** More paths to watch for writes and attribute changes (-w PATH -p wa -k bulwark-extra). */
    watch: z.array(z.string().regex(/^\/[^\s]*$/, 'an absolute path without spaces')).default([]),
  })
  .prefault({});

const integritySchema = z
  .strictObject({
    /** bulwark-integrity.timer: dpkg --verify and Bulwark's own file manifest, result in /var/lib/bulwark/integrity/last.json. */
    enabled: z.boolean().default(true),
    /** systemd OnCalendar= of the check. */
    onCalendar: z
      .string()
      .regex(/^[A-Za-z0-9*:,./~ -]+$/, 'a systemd calendar expression like daily or *-*-* 03:00')
      .default('daily'),
    /** A result older than this is reported stale by `bulwark audit`. */
    maxAgeHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 31)
      .default(48),
    /** Package files left out of the package check (glob with * for one path segment), e.g. files another tool edits. */
    ignore: z.array(z.string().regex(/^\/\S*$/, 'an absolute path (glob * allowed)')).default([]),
  })
  .prefault({});

/** The system-hardening parts of `hardening:` (modules, logins, banner, auditd, integrity). */
export const systemHardeningFields = { modules: modulesSchema, logins: loginsSchema, banner: bannerSchema, auditd: auditdSchema, integrity: integritySchema };
export type ModulesConfig = z.infer<typeof modulesSchema>;
export type BannerConfig = z.infer<typeof bannerSchema>;
export type LoginsConfig = z.infer<typeof loginsSchema>;
export type AuditdConfig = z.infer<typeof auditdSchema>;
export type IntegrityConfig = z.infer<typeof integritySchema>;
