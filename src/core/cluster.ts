/** What `bulwark ARGV` did on one node, run from the operator's machine. */
export interface NodeRun {
  node: string;
  /** Exit code of `bulwark ...` on the node; 255 when the node could not be reached. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bulwark ARGV` on each named node (in parallel); one node's failure doesn't stop the others. */
export type NodeRunner = (names: string[], argv: string[]) => Promise<NodeRun[]>;

/**
 * A step bootstrap runs after every targeted node finished its own steps (e.g. joining the mesh, which
 * needs all nodes' public keys). `run` reaches any configured node, including ones not bootstrapped in
 * this run (host keys checked). `C` is the cluster config type (src/config's `Config`).
 */
export interface ClusterStep<C> {
  name: string;
  run(cfg: C, run: NodeRunner, say: (node: string, msg: string) => void): Promise<{ changed: boolean; detail: string }>;
}

/**
 * A check bootstrap runs on each node before it installs anything (the firewall's SSH-lockout guard):
 * returns why the node must not be bootstrapped with this config, or undefined. `sshConnection` is the
 * node's $SSH_CONNECTION for the session bootstrap uses.
 */
export interface BootstrapGuard<C> {
  name: string;
  check(cfg: C, node: string, sshConnection: string): string | undefined;
}

/** A shell on a node, as root (bootstrap's SSH session). */
export interface NodeShell {
  exec(command: string, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * A step bootstrap runs on each node after preflight and before it installs packages (the apt sources those
 * packages come from). `distro` is what preflight found. Returns a step result for bootstrap's report.
 */
export interface NodePrepStep<C> {
  name: string;
  run(cfg: C, node: string, shell: NodeShell, distro: { id: string; version: string; codename: string }): Promise<{ changed: boolean; detail: string }>;
}
