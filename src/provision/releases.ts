/**
 * Where a node keeps Bulwark's runtime: every installed runtime in a directory of its own, and symlinks
 * that say which one runs.
 *
 *   /opt/bulwark/releases/ID/   one unpacked runtime artifact (node, bulwark.mjs, chunks/, units/, …,
 *                               .runtime-sha256); ID is the first 16 hex digits of the artifact's SHA-256
 *   /opt/bulwark/current        → releases/ID, switched by rename(2) of a new link over it (atomic)
 *   /opt/bulwark/previous       → the release that was current before the last switch (rollback target)
 *   /opt/bulwark/failed         → a release that was rolled back, kept for inspection until the next prune
 *   /usr/lib/bulwark            → /opt/bulwark/current (every unit and the wrapper use this path)
 *
 * The functions here return the shell scripts that act on that layout (run as root on the node over
 * SSH, or locally under a test root). Pure.
 */
import { shQuote } from '../remote/ssh.js';

export interface ReleaseLayout {
  /** /opt/bulwark */
  root: string;
  /** /usr/lib/bulwark: the path units and the wrapper name. */
  link: string;
  /** /usr/local/sbin/bulwark */
  wrapper: string;
  /** /etc/systemd/system */
  unitDir: string;
}

export const RELEASE_LAYOUT: ReleaseLayout = { root: '/opt/bulwark', link: '/usr/lib/bulwark', wrapper: '/usr/local/sbin/bulwark', unitDir: '/etc/systemd/system' };

/** A release's directory name from the artifact's SHA-256. Pure. */
export function releaseId(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256.slice(0, 80)}`);
  return sha256.slice(0, 16);
}

const q = shQuote;

/**
 * Moves a runtime installed the older way (a plain directory at `link`) into releases/ and puts the link
 * in its place; makes the link on a node that has no runtime yet. Does nothing on a node already laid out.
 */
export function ensureLayoutScript(l: ReleaseLayout = RELEASE_LAYOUT): string {
  return [
    `mkdir -p ${q(l.root)}/releases && chmod 0755 ${q(l.root)} ${q(l.root)}/releases`,
    `if [ -d ${q(l.link)} ] && [ ! -L ${q(l.link)} ]; then`,
    `  id=$(head -c 16 ${q(l.link)}/.runtime-sha256 2>/dev/null | tr -cd 0-9a-f); [ -n "$id" ] || id=unknown`,
    `  [ -d ${q(l.root)}/releases/"$id" ] || cp -a ${q(l.link)} ${q(l.root)}/releases/"$id"`,
    `  ln -sfn releases/"$id" ${q(l.root)}/current.tmp && mv -Tf ${q(l.root)}/current.tmp ${q(l.root)}/current`,
    `  ln -sfn ${q(l.root)}/current ${q(l.link)}.lnk && mv ${q(l.link)} ${q(l.link)}.migrated && mv -Tf ${q(l.link)}.lnk ${q(l.link)} && rm -rf ${q(l.link)}.migrated`,
    'fi',
    `[ -L ${q(l.link)} ] || { mkdir -p "$(dirname ${q(l.link)})"; ln -sfn ${q(l.root)}/current ${q(l.link)}; }`,
  ].join('\n');
}

/**
 * Checks the uploaded tarball against `sha256` and unpacks it as releases/ID (kept as is when a complete
 * copy is there already). Prints the release's VERSION file.
 */
export function stageScript(tarball: string, sha256: string, l: ReleaseLayout = RELEASE_LAYOUT): string {
  const id = releaseId(sha256);
  const dir = `${l.root}/releases/${id}`;
  return [
    'set -e',
    ensureLayoutScript(l),
    `f=${q(tarball)}`,
    `if [ "$(cat ${q(dir)}/.runtime-sha256 2>/dev/null)" != ${sha256} ]; then`,
    `  if ! echo "${sha256}  $f" | sha256sum -c --status; then rm -f "$f"; echo "runtime checksum mismatch after upload" >&2; exit 9; fi`,
    `  rm -rf ${q(dir)}.new ${q(dir)} && mkdir -p ${q(dir)}.new && tar -xzf "$f" -C ${q(dir)}.new --no-same-owner`,
    `  test -x ${q(dir)}.new/node && test -f ${q(dir)}.new/bulwark.mjs`,
    `  echo ${sha256} > ${q(dir)}.new/.runtime-sha256 && chmod 0755 ${q(dir)}.new && mv -T ${q(dir)}.new ${q(dir)}`,
    'fi',
    'rm -f "$f"',
    `cat ${q(dir)}/VERSION 2>/dev/null || echo unknown`,
  ].join('\n');
}

/** The wrapper on PATH (goes through the link, so it follows every switch). */
function wrapperLines(l: ReleaseLayout): string[] {
  return [`printf '#!/bin/sh\\nexec ${l.link}/node ${l.link}/bulwark.mjs "$@"\\n' > ${q(l.wrapper)}.new && chmod 0755 ${q(l.wrapper)}.new && mv -f ${q(l.wrapper)}.new ${q(l.wrapper)}`];
}

/** The agent unit of the release now current, installed when it differs (then daemon-reload). */
function agentUnitLines(l: ReleaseLayout, reload: boolean): string[] {
  const src = `${l.link}/units/bulwark-agent.service`;
  const dst = `${l.unitDir}/bulwark-agent.service`;
  return [
    `if [ -f ${q(src)} ] && ! cmp -s ${q(src)} ${q(dst)}; then install -m 0644 ${q(src)} ${q(dst)}.new && mv -f ${q(dst)}.new ${q(dst)};${reload ? ' systemctl daemon-reload;' : ''} echo agent-unit-changed; fi`,
  ];
}

/**
 * Makes releases/ID current: the old current becomes `previous`, `current` is replaced by rename (a
 * process starting at any instant sees one release or the other, never a mix). Prints "same" when ID
 * was current already, else "switched FROM TO".
 */
export function switchScript(sha256: string, l: ReleaseLayout = RELEASE_LAYOUT, opts: { agentUnit?: boolean; daemonReload?: boolean } = {}): string {
  const id = releaseId(sha256);
  return [
    'set -e',
    ensureLayoutScript(l),
    `cd ${q(l.root)}`,
    `new=releases/${id}`,
    'test -x "$new/node" || { echo "release $new is not staged" >&2; exit 9; }',
    'old=$(readlink current 2>/dev/null || true)',
    ...wrapperLines(l),
    'if [ "$old" = "$new" ]; then echo same; exit 0; fi',
    'if [ -n "$old" ] && [ -d "$old" ]; then ln -sfn "$old" previous.tmp && mv -Tf previous.tmp previous; fi',
    'ln -sfn "$new" current.tmp && mv -Tf current.tmp current',
    ...(opts.agentUnit === false ? [] : agentUnitLines(l, opts.daemonReload !== false)),
    'echo "switched ${old#releases/} ${new#releases/}"',
  ].join('\n');
}

/**
 * Puts `previous` (or the release `to`) back as current and marks the release it replaces as `failed`. Prints "rolled-back
 * FAILED PREVIOUS"; exits 9 when there is no previous release to go back to.
 */
export function rollbackScript(l: ReleaseLayout = RELEASE_LAYOUT, opts: { agentUnit?: boolean; daemonReload?: boolean; to?: string } = {}): string {
  if (opts.to !== undefined && !/^releases\/[0-9a-z]{1,64}$/.test(opts.to)) throw new Error(`not a release: ${opts.to}`);
  return [
    'set -e',
    `cd ${q(l.root)}`,
    opts.to ? `prev=${opts.to}` : 'prev=$(readlink previous 2>/dev/null || true)',
    'bad=$(readlink current 2>/dev/null || true)',
    '[ -n "$prev" ] && [ -x "$prev/node" ] || { echo "no previous release to roll back to" >&2; exit 9; }',
    'if [ "$prev" != "$bad" ]; then',
    '  ln -sfn "$prev" current.tmp && mv -Tf current.tmp current',
    '  [ -z "$bad" ] || { ln -sfn "$bad" failed.tmp && mv -Tf failed.tmp failed; }',
    'fi',
    ...(opts.agentUnit === false ? [] : agentUnitLines(l, opts.daemonReload !== false)),
    'echo "rolled-back ${bad#releases/} ${prev#releases/}"',
  ].join('\n');
}

/** Removes every release that neither `current` nor `previous` names (after a healthy switch). */
export function pruneScript(l: ReleaseLayout = RELEASE_LAYOUT): string {
  return [
    `cd ${q(l.root)}/releases`,
    'keep1=$(readlink ../current 2>/dev/null || true); keep2=$(readlink ../previous 2>/dev/null || true)',
    'for d in *; do [ -d "$d" ] || continue; case "releases/$d" in "$keep1"|"$keep2") ;; *) rm -rf "$d" "$d.new"; echo "pruned $d";; esac; done',
    `rm -f ${q(l.root)}/failed`,
    'true',
  ].join('\n');
}

/** Reads which release is current and previous, and the current runtime's SHA-256, as key=value lines. */
export function layoutFactsScript(l: ReleaseLayout = RELEASE_LAYOUT): string {
  return [
    `echo "runtime_sha256=$(cat ${q(l.link)}/.runtime-sha256 2>/dev/null)"`,
    `echo "runtime_version=$(cat ${q(l.link)}/VERSION 2>/dev/null)"`,
    `echo "current=$(readlink ${q(l.root)}/current 2>/dev/null)"`,
    `echo "previous=$(readlink ${q(l.root)}/previous 2>/dev/null)"`,
  ].join('\n');
}
