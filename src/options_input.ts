/**
 * The display options for what viewers hand the app beyond pointer and
 * keys: clipboard text and files. Their defaults and checks live here, and
 * `options.ts` folds them into every display's options.
 *
 * @example
 * ```ts
 * import { resolveInputOptions } from "./options_input.ts";
 * resolveInputOptions({ maxFileBytes: 1 << 20 }, "serve()");
 * // { maxClipboardBytes: 65536, maxFileBytes: 1048576, maxViewerFileBytes: 4194304 }
 * ```
 *
 * @module
 */

import { DEFAULT_CLIPBOARD_BYTES } from "./protocol.ts";

/** Clipboard and file limits of a display. */
export interface InputOptions {
  /**
   * The largest clipboard text, either way, in UTF-8 bytes: a longer paste
   * is dropped (the viewer says so), a longer `setClipboard()` throws; 0
   * turns the clipboard off. Default 64 KiB.
   */
  maxClipboardBytes?: number;
  /**
   * The largest file a viewer may drop on its view (or pick from its
   * toolbar), in bytes. `false`, the default, accepts none: the viewer says
   * the app takes no files and nothing reaches the app.
   */
  maxFileBytes?: number | false;
  /**
   * Bytes of files one viewer may have in transfer and waiting in the
   * event queue at once; a file that would go over is refused. Default 4
   * times `maxFileBytes`.
   */
  maxViewerFileBytes?: number;
}

/** The input options, resolved. */
export interface ResolvedInputOptions {
  /** See `InputOptions.maxClipboardBytes`. */
  maxClipboardBytes: number;
  /** See `InputOptions.maxFileBytes`. */
  maxFileBytes: number | false;
  /** See `InputOptions.maxViewerFileBytes` (0 when files are off). */
  maxViewerFileBytes: number;
}

/** The option names, for the check that refuses unknown ones. */
export const INPUT_KEYS = [
  "maxClipboardBytes",
  "maxFileBytes",
  "maxViewerFileBytes",
] as const satisfies readonly (keyof InputOptions)[];

const MAX_CLIPBOARD = 4 * 1024 * 1024;
const MAX_FILE = 2 ** 30;
const MAX_VIEWER_FILES = 2 ** 32;

function integer(
  where: string,
  name: string,
  v: unknown,
  min: number,
  max: number,
  also = "",
  note = "",
): void {
  if (
    v !== undefined &&
    (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
  ) {
    const shown = typeof v === "string" ? JSON.stringify(v) : String(v);
    throw new RangeError(
      `${where}: option '${name}' must be ${also}an integer in [${min}, ${max}]${note}, got ${shown}`,
    );
  }
}

/**
 * Check the clipboard and file options and fill in their defaults. Throws
 * a `RangeError` naming the option and what it accepts.
 *
 * @example
 * ```ts
 * import { resolveInputOptions } from "./options_input.ts";
 * resolveInputOptions({}, "serve()").maxFileBytes; // false
 * ```
 */
export function resolveInputOptions(
  opts: InputOptions,
  where: string,
): ResolvedInputOptions {
  integer(where, "maxClipboardBytes", opts.maxClipboardBytes, 0, MAX_CLIPBOARD);
  const file = opts.maxFileBytes;
  if (file !== false) {
    integer(where, "maxFileBytes", file, 1, MAX_FILE, "false or ");
  }
  const perFile = file === undefined || file === false ? 0 : file;
  if (perFile === 0) {
    integer(
      where,
      "maxViewerFileBytes",
      opts.maxViewerFileBytes,
      0,
      MAX_VIEWER_FILES,
    );
  } else {
    integer(
      where,
      "maxViewerFileBytes",
      opts.maxViewerFileBytes,
      perFile,
      MAX_VIEWER_FILES,
      "",
      " (at least maxFileBytes)",
    );
  }
  return {
    maxClipboardBytes: opts.maxClipboardBytes ?? DEFAULT_CLIPBOARD_BYTES,
    maxFileBytes: perFile === 0 ? false : perFile,
    maxViewerFileBytes: perFile === 0
      ? 0
      : opts.maxViewerFileBytes ?? Math.min(MAX_VIEWER_FILES, 4 * perFile),
  };
}
