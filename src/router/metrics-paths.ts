/**
 * Where the router serves its metrics on a node: a directory of its own (router-owned, 0700) inside the
 * components directory, which the router container already mounts; the agent (root) reads the socket.
 * App containers see only their own subdirectory, never this one.
 */
export const ROUTER_METRICS_DIR = '/run/bulwark/components/.router';
export const ROUTER_METRICS_SOCKET = `${ROUTER_METRICS_DIR}/metrics.sock`;

/** Router metric names (all prefixed `bulwark_router_`). */
export const ROUTER_METRICS = {
  sessions: 'bulwark_router_sessions',
  connections: 'bulwark_router_connections_total',
  messages: 'bulwark_router_messages_received_total',
  errors: 'bulwark_router_errors_total',
  queueBytes: 'bulwark_router_outbound_queue_bytes',
  slowConsumers: 'bulwark_router_slow_consumers_dropped_total',
  authFailures: 'bulwark_router_auth_failures_total',
} as const;
