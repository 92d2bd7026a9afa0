/**
 * Names a user may mistype: refusing an unknown option or argument with
 * the nearest valid name ("did you mean 'quality'?").
 *
 * @module
 */

/**
 * Throw a `TypeError` for the first key of `opts` not in `known`, naming the
 * nearest known one.
 *
 * @example
 * ```ts
 * import { refuseUnknownKeys } from "./names.ts";
 * refuseUnknownKeys("widget()", { hud: true }, ["hud", "height"]); // fine
 * ```
 */
export function refuseUnknownKeys(
  where: string,
  opts: object,
  known: readonly string[],
): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    throw new TypeError(
      `${where}: unknown option ${JSON.stringify(key)}${
        near ? ` (did you mean '${near}'?)` : ""
      }; options: ${known.join(", ")}`,
    );
  }
}

/**
 * The known name nearest to `key` by edit distance (case aside), if it is
 * near enough to be a typo of it; else null.
 *
 * @example
 * ```ts
 * import { closestName } from "./names.ts";
 * console.log(closestName("qualty", ["quality", "fps"])); // quality
 * ```
 */
export function closestName(
  key: string,
  known: readonly string[],
): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j] + 1,
        row[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length];
}
