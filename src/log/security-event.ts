import type { Logger } from 'pino';

/**
 * One log line per security event, with a stable `event` field to filter on (e.g. `router.auth.failed`,
 * `firewall.drift.repaired`). Logged at warn; the logger's redaction applies to `fields`.
 */
export function logSecurityEvent(log: Logger, event: string, fields: Record<string, unknown> = {}, msg?: string): void {
  log.warn({ event, ...fields }, msg ?? event);
}
