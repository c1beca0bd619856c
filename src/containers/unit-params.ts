import type { AppRunParams, RouterRunParams } from './argv.js';

/**
 * The values the unit files in units/ put into the argv builders: systemd specifiers and ${VARIABLES}
 * from the per-app EnvironmentFile=/etc/bulwark/apps/%i.env (written by `bulwark app add`) and
 * /etc/bulwark/router.env (written when the router image is built).
 */
export const UNIT_APP_VARS: AppRunParams = {
  name: '%i',
  image: '${BULWARK_APP_IMAGE}',
  uid: '${BULWARK_APP_UID}:${BULWARK_APP_UID}',
  memory: '${BULWARK_APP_MEMORY}',
  cpus: '${BULWARK_APP_CPUS}',
  pids: '${BULWARK_APP_PIDS}',
  realm: '${BULWARK_APP_REALM}',
};

export const UNIT_ROUTER_VARS: Omit<RouterRunParams, 'command'> = {
  image: '${BULWARK_ROUTER_IMAGE}',
  user: '${BULWARK_ROUTER_USER}',
  memory: '${BULWARK_ROUTER_MEMORY}',
  pids: '${BULWARK_ROUTER_PIDS}',
};

/** What the router container runs after its entrypoint (the bulwark runtime): the router: section of the node's config. */
export const ROUTER_COMMAND = ['-c', '/etc/bulwark/bulwark.yaml', 'router'] as const;
