/**
 * The router's counters: plain numbers bumped on the paths they count, read only when metrics are
 * scraped (src/router/metrics.ts turns them into Prometheus metrics in prom-client `collect()` callbacks).
 * Nothing here builds a string or looks up a label per message.
 */
export class RouterStats {
  /** Transport connections accepted. */
  connections = 0;
  /** Decoded WAMP messages received. */
  messages = 0;
  /** Messages received, by WAMP message type code (index). */
  readonly byType = new Float64Array(128);
  /** Connections cut off because their outbound queue passed maxOutboundQueueBytes. */
  slowConsumers = 0;
  /** Failed authentications by method ("none": no method offered matched the listener's). */
  readonly authFailures = new Map<string, number>();
  /** ERROR messages the router sent or passed on, by error URI (at most MAX_ERROR_URIS; the rest as "other"). */
  readonly errors = new Map<string, number>();

  /** Called for each received message (hot path: one typed-array increment). */
  received(type: number): void {
    this.messages++;
    const i = type & 127;
    this.byType[i] = (this.byType[i] as number) + 1;
  }

  authFailed(method: string): void {
    this.authFailures.set(method, (this.authFailures.get(method) ?? 0) + 1);
  }

  /** Error URIs come from clients too (a callee's ERROR): their number is bounded. */
  error(uri: string): void {
    const n = this.errors.get(uri);
    if (n !== undefined) this.errors.set(uri, n + 1);
    else if (this.errors.size < MAX_ERROR_URIS) this.errors.set(uri, 1);
    else this.errors.set(OTHER_ERRORS, (this.errors.get(OTHER_ERRORS) ?? 0) + 1);
  }
}

export const MAX_ERROR_URIS = 200;
export const OTHER_ERRORS = 'other';
