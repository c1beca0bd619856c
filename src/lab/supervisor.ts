/**
 * The lab machine's supervisor (pure): a small POSIX sh script that runs one machine's systemd-nspawn and
 * boots the machine again when its guest reboots, as systemd-nspawn@.service does with
 * `RestartForceExitStatus=133` (nspawn exits 133 when the guest's systemd reboots). Before each boot it
 * resets what a real reboot resets but the machine's network namespace keeps: the nft ruleset. The lab host has no
 * systemd as PID 1, so no transient unit: `bulwark lab` starts this script detached (its own session), and it
 * outlives the CLI. It ends when the machine powers off (any exit but 133), or when a `stop` file exists
 * (written by `bulwark lab stop` before it signals nspawn).
 *
 * Files in the machine's directory:
 *   pid             the running systemd-nspawn's PID (written by the exec'ing shell, so it is nspawn's own)
 *   supervisor.pid  this script's PID, removed when it ends
 *   boots           one line per boot (counter for "did it boot again?")
 *   supervisor.log  one line per nspawn exit with its status
 *   console.log     the machine's console, appended across reboots
 *   stop            "do not boot again"
 */

/** Quotes one word for sh. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SupervisorSpec {
  machine: string;
  /** The machine's state directory (pid files, logs). */
  dir: string;
  /** The program and its arguments: systemd-nspawn ... (any program in tests). */
  argv: readonly string[];
  /** Extra environment for the program, e.g. SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1. */
  env?: Record<string, string>;
  /**
   * Run before every boot (a failure is logged, not fatal): the machine's network namespace outlives its
   * guest, so what a real reboot resets (the nft ruleset) is reset here.
   */
  preBoot?: readonly (readonly string[])[];
  /** The exit status that means "the guest rebooted": boot again. */
  rebootStatus?: number;
}

export const NSPAWN_REBOOT_STATUS = 133;

export function renderSupervisor(spec: SupervisorSpec): string {
  const d = shQuote(spec.dir);
  const env = Object.entries(spec.env ?? {})
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad environment name ${k}`);
      return `${k}=${shQuote(v)} `;
    })
    .join('');
  const argv = spec.argv.map(shQuote).join(' ');
  const reboot = spec.rebootStatus ?? NSPAWN_REBOOT_STATUS;
  const pre = (spec.preBoot ?? [])
    .map((a) => `  ${a.map(shQuote).join(' ')} >>"$dir/supervisor.log" 2>&1 || echo "pre-boot step failed: ${a.join(' ').replace(/["$`\\]/g, '')}" >>"$dir/supervisor.log"\n`)
    .join('');
  return `#!/bin/sh
# Bulwark lab supervisor for machine ${spec.machine} (written by "bulwark lab"; see src/lab/README.md).
# Boots the machine and boots it again when the guest reboots (exit status ${reboot}); ends on power-off or
# when "${spec.dir}/stop" exists.
dir=${d}
echo $$ >"$dir/supervisor.pid"
while :; do
${pre}  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$dir/boots"
  ${env}sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" ${argv} </dev/null >>"$dir/console.log" 2>&1
  rc=$?
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ${spec.machine} exited $rc" >>"$dir/supervisor.log"
  [ "$rc" -eq ${reboot} ] || break
  [ -e "$dir/stop" ] && break
done
rm -f "$dir/pid" "$dir/supervisor.pid"
`;
}
