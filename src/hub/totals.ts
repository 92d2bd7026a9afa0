/**
 * Encode counters summed over a stream's groups, the live ones and those
 * retired by a resize, a retune or a fallback, so `Display.stats()` never
 * goes backwards.
 *
 * @module
 */

import type { EncodeCounts } from "./picture_group.ts";

/** A group's counters, with the IDRs it made on request when it is a video group. */
export type GroupCounts = EncodeCounts & { forcedKeyframes?: number };

/** Summed encode counters. */
export interface Totals {
  /** Finished encodes. */
  encodes: number;
  /** Total encode time, milliseconds. */
  encodeMsTotal: number;
  /** Encodes that failed. */
  failures: number;
  /** IDRs made for joining, dropping or asking viewers. */
  forcedKeyframes: number;
}

/**
 * Counters of groups that are gone, plus a way to add live ones to them.
 *
 * @example
 * ```ts
 * import { EncodeTotals } from "./totals.ts";
 * const totals = new EncodeTotals();
 * totals.retire({ encodes: 2, encodeMsTotal: 10, failures: 0 });
 * console.log(totals.with([{ encodes: 1, encodeMsTotal: 5, failures: 1 }]).encodes); // 3
 * ```
 */
export class EncodeTotals {
  #retired: Totals = {
    encodes: 0,
    encodeMsTotal: 0,
    failures: 0,
    forcedKeyframes: 0,
  };

  /** Keep a group's counters after the group itself is dropped. */
  retire(group: GroupCounts): void {
    add(this.#retired, group);
  }

  /** The retired counters plus those of `live` groups. */
  with(live: Iterable<GroupCounts>): Totals {
    const sum = { ...this.#retired };
    for (const g of live) add(sum, g);
    return sum;
  }
}

function add(sum: Totals, g: GroupCounts): void {
  sum.encodes += g.encodes;
  sum.encodeMsTotal += g.encodeMsTotal;
  sum.failures += g.failures;
  sum.forcedKeyframes += g.forcedKeyframes ?? 0;
}
