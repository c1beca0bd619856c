import { z } from 'zod';
import { systemHardeningFields } from './system-schema.js';

const SYSCTL_KEY = /^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/;

/** `hardening:` section of bulwark.yaml (dump and sysctl hardening); defaults are the secure policy. */
export const hardeningSchema = z
  .strictObject({
    /** Core dumps and kernel crash dumps off through every mechanism (sysctl, systemd-coredump, limits, kdump, apport). */
    disableDumps: z.boolean().default(true),
    /** The sysctl hardening file (kptr_restrict, ptrace_scope, rp_filter loose, no redirects, ...). */
    sysctl: z.boolean().default(true),
    /** Kernel modules, login.defs/PAM, banner, auditd rules, file integrity (system-schema.ts). */
    ...systemHardeningFields,
    /** Extra sysctls or overrides of Bulwark's values, e.g. { "kernel.perf_event_paranoid": 2 }. */
    sysctlOverrides: z.record(z.string().regex(SYSCTL_KEY, 'must be a sysctl key like net.ipv4.tcp_syncookies'), z.union([z.string().regex(/^[^\n=]*$/, 'one line, no "="'), z.number()])).default({}),
  })
  .prefault({});
export type HardeningConfig = z.infer<typeof hardeningSchema>;
