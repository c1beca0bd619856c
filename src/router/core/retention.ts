import type { RouterConfig } from '../config.js';
import { admits, restricted, type StoredEvent } from './stored-event.js';
import type { Session } from './session.js';

export type RetentionConfig = RouterConfig['realms'][number]['retention'];

/** Restricted retained events (black/white listed) kept after a topic's last unrestricted one. */
const MAX_SUPPLEMENTAL = 8;

/**
 * Event retention for one realm: per topic the last retained publication every subscriber would get,
 * plus the (few) restricted ones retained after it, so each new subscriber gets the most recent one it
 * would have received. Bounded by topics and payload bytes; past a bound the topic retained longest ago
 * is forgotten first. In memory: a router restart forgets everything.
 */
export class RetainedEvents {
  /** topic → its retained events, oldest first; Map order = order of the last retain (oldest first). */
  private readonly topics = new Map<string, StoredEvent[]>();
  private bytes = 0;

  constructor(private readonly cfg: RetentionConfig) {}

  get enabled(): boolean {
    return this.cfg.enabled;
  }

  get size(): { topics: number; bytes: number } {
    return { topics: this.topics.size, bytes: this.bytes };
  }

  retain(e: StoredEvent): void {
    if (!this.cfg.enabled) return;
    const old = this.topics.get(e.topic);
    if (old) this.topics.delete(e.topic); // re-inserted below: the newest retain goes last
    if (e.bytes > this.cfg.maxBytes) {
      // cannot keep it: the topic's older retained events are stale now
      if (old) for (const x of old) this.bytes -= x.bytes;
      return;
    }
    let list: StoredEvent[];
    if (!restricted(e.audience) || !old) {
      if (old) for (const x of old) this.bytes -= x.bytes;
      list = [e];
    } else {
      list = [...old, e];
      // keep the unrestricted head, drop the oldest supplemental ones
      while (list.length > MAX_SUPPLEMENTAL + 1) this.bytes -= list.splice(restricted(list[0]!.audience) ? 0 : 1, 1)[0]!.bytes;
    }
    this.topics.set(e.topic, list);
    this.bytes += e.bytes;
    while (this.topics.size > this.cfg.maxTopics || this.bytes > this.cfg.maxBytes) {
      const [topic, events] = this.topics.entries().next().value as [string, StoredEvent[]];
      if (topic === e.topic) {
        // only this topic is left: drop its oldest events but the new one
        this.bytes -= events.shift()!.bytes;
        continue;
      }
      this.topics.delete(topic);
      for (const x of events) this.bytes -= x.bytes;
    }
  }

  /** The topic's most recent retained event (whoever may receive it). */
  newest(topic: string): StoredEvent | undefined {
    const list = this.topics.get(topic);
    return list?.[list.length - 1];
  }

  /**
   * Retains `e` (another node's) unless the topic's newest retained event is as new or newer (timestamp,
   * then publication ID) or is `e` itself: nodes hearing the same retained events in any order keep the
   * same one. False when not taken.
   */
  offer(e: StoredEvent): boolean {
    const list = this.topics.get(e.topic);
    const last = list?.[list.length - 1];
    if (last !== undefined && (last.timestamp > e.timestamp || (last.timestamp === e.timestamp && last.publication >= e.publication))) return false;
    if (list?.some((x) => x.publication === e.publication)) return false;
    this.retain(e);
    return true;
  }

  /** Every retained event, topic by topic (oldest retained first), each topic's oldest first. */
  *all(): IterableIterator<StoredEvent> {
    for (const list of this.topics.values()) yield* list;
  }

  /** The most recent retained event of `topic` that `t` would have received. */
  latestFor(topic: string, t: Session): StoredEvent | undefined {
    const list = this.topics.get(topic);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (admits(list[i]!.audience, t)) return list[i];
    return undefined;
  }

  /** Topics with a retained event (for pattern subscriptions). */
  topicNames(): IterableIterator<string> {
    return this.topics.keys();
  }
}
