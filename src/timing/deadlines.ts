import { plus, type MonotonicMs, monotonicNow, never } from './clock.js';

/**
 * Something with a deadline, linked into a {@link Deadlines} queue. The queue owns the link fields.
 * @internal
 */
export interface DeadlineEntry {
  /** Called once when the deadline passes while the entry is still queued. */
  expire(): void;
  /** @internal */ deadlineExpiresAt: MonotonicMs;
  /** @internal */ deadlinePrev: DeadlineEntry | undefined;
  /** @internal */ deadlineNext: DeadlineEntry | undefined;
  /** @internal */ deadlineList: DeadlineList | undefined;
}

/** Entries that share one duration, oldest first (so also soonest to expire first), and their timer. */
class DeadlineList {
  head: DeadlineEntry | undefined;
  tail: DeadlineEntry | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When the timer fires, or {@link never} when none is armed. */
  timerAt: MonotonicMs = never;

  constructor(readonly durationMs: number) {}
}

/**
 * The request deadlines of one agent: one timer per distinct duration instead of one per request.
 *
 * Every request arms a deadline and nearly all finish long before it; a Node timer per request costs an
 * object, an async resource and a list insertion and removal each time. Here a request is linked into the
 * list of its duration (appended: lists stay sorted by expiry) and unlinked in O(1) when it finishes.
 * Each list has one unref'd timer set for its oldest entry; when it fires it expires what is due and is
 * set again for the next oldest. A request that finishes early costs that timer nothing: it fires later,
 * finds nothing due and moves on.
 * @internal
 */
export class Deadlines {
  private readonly lists = new Map<number, DeadlineList>();
  /** The list used last: nearly every request of an agent has the same deadline. */
  private last: DeadlineList | undefined;

  /**
   * Queues `entry` to expire `durationMs` from now.
   * @param now - now, when the caller has it at hand
   */
  add(entry: DeadlineEntry, durationMs: number, now: MonotonicMs = monotonicNow()): void {
    let list = this.last?.durationMs === durationMs ? this.last : this.lists.get(durationMs);
    if (!list) {
      list = new DeadlineList(durationMs);
      this.lists.set(durationMs, list);
    }
    this.last = list;
    entry.deadlineExpiresAt = plus(now, durationMs);
    entry.deadlineList = list;
    entry.deadlinePrev = list.tail;
    entry.deadlineNext = undefined;
    if (list.tail) list.tail.deadlineNext = entry;
    else list.head = entry;
    list.tail = entry;
    if (list.timerAt === never) this.arm(list, entry.deadlineExpiresAt);
  }

  /** Takes `entry` out of its queue (no-op when it is not queued). */
  remove(entry: DeadlineEntry): void {
    const list = entry.deadlineList;
    if (!list) return;
    const { deadlinePrev: prev, deadlineNext: next } = entry;
    if (prev) prev.deadlineNext = next;
    else list.head = next;
    if (next) next.deadlinePrev = prev;
    else list.tail = prev;
    entry.deadlineList = undefined;
    entry.deadlinePrev = undefined;
    entry.deadlineNext = undefined;
    // An empty list keeps its timer: it fires once, finds nothing, and drops the list.
  }

  private arm(list: DeadlineList, at: MonotonicMs): void {
    list.timerAt = at;
    list.timer = setTimeout(() => this.fire(list), Math.max(1, Math.ceil(at - monotonicNow())));
    list.timer.unref();
  }

  private fire(list: DeadlineList): void {
    list.timer = undefined;
    list.timerAt = never;
    const now = monotonicNow();
    // Expire what is due. Node may fire a timer up to a millisecond early against the monotonic clock.
    while (list.head && list.head.deadlineExpiresAt <= now + 1) {
      const entry = list.head;
      this.remove(entry);
      try {
        entry.expire();
      } catch (err) {
        // A caller's handler threw: report it as its own timer would have, and keep the others' deadlines.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (list.head) this.arm(list, list.head.deadlineExpiresAt);
    else if (this.lists.get(list.durationMs) === list) {
      this.lists.delete(list.durationMs);
      if (this.last === list) this.last = undefined;
    }
  }
}
