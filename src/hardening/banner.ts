import type { ManagedFile } from './render.js';
import type { BannerConfig } from './system-schema.js';

/** Pure: the login banners (local console, remote, message of the day), with no OS name or version in them. */

export const BANNER_FILES = [
  { path: '/etc/issue', mechanism: 'banner.issue' },
  { path: '/etc/issue.net', mechanism: 'banner.issue-net' },
  { path: '/etc/motd', mechanism: 'banner.motd' },
] as const;

export function renderBanner(cfg: BannerConfig): ManagedFile[] {
  if (!cfg.enabled) return [];
  const content = cfg.text.endsWith('\n') ? cfg.text : `${cfg.text}\n`;
  return BANNER_FILES.map((f) => ({ path: f.path, content, mode: 0o644, mechanism: f.mechanism }));
}

/** What in a banner tells an attacker the platform: getty escapes or the OS name/version. Pure. */
export function bannerLeaks(text: string, osRelease: { id: string; versionId?: string }): string | undefined {
  const esc = /\\[mrsvMRSV]/.exec(text);
  if (esc) return `contains ${esc[0]}`;
  const words = [osRelease.id, osRelease.versionId].filter((w): w is string => !!w && w !== 'unknown' && w.length > 1);
  for (const w of words) if (new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(text)) return `names ${w}`;
  return undefined;
}
