import type { Logger } from 'pino';

/**
 * One log line per security event, with a stable `event` field that alerting can match on (the message
 * repeats it). Events are warnings unless said otherwise; secrets never belong in `fields` (the logger
 * redacts secret-looking keys anyway).
 *
 * Events used: auth.failed, principal.refused (expired, pending, revoked), principal.revoked,
 * session.killed, enrolment.submitted, enrolment.code_refused, enrolment.rate_limited,
 * principal.changed (a store change applied on a node).
 */
export function logSecurityEvent(log: Logger, event: string, fields: Record<string, unknown> = {}, level: 'info' | 'warn' = 'warn'): void {
  log[level]({ ...fields, event }, event);
}
