/**
 * Where a recording's bytes go: a file (opened, truncated, written in
 * order) or a caller's `WritableStream<Uint8Array>`. Writes are queued in
 * order without blocking the caller; the queue is bounded, so a target that
 * cannot keep up fails the recording instead of growing memory.
 *
 * @module
 */

/** Bytes a sink may hold queued before it fails: a target this far behind is not keeping up. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * An ordered, bounded byte sink.
 *
 * @example
 * ```ts
 * import { openSink } from "./sink.ts";
 * const chunks: Uint8Array[] = [];
 * const sink = await openSink(new WritableStream({ write: (c) => { chunks.push(c); } }));
 * sink.write([new Uint8Array([1, 2, 3])]);
 * await sink.close();
 * console.log(chunks.length); // 1
 * ```
 */
export interface Sink {
  /** The file path, or `"stream"`. */
  readonly name: string;
  /** Queue bytes to write, in order (dropped once the sink failed). */
  write(parts: Uint8Array[]): void;
  /** The first error, or null. */
  readonly error: Error | null;
  /** Write what is queued and close; rejects with the first error. */
  close(): Promise<void>;
}

/**
 * Open a sink on a file path (created or truncated) or a writable stream.
 * Rejects when the file cannot be opened.
 *
 * @example
 * ```ts ignore
 * const sink = await openSink("run.mp4");
 * ```
 */
export async function openSink(
  target: string | WritableStream<Uint8Array>,
): Promise<Sink> {
  if (typeof target === "string") {
    if (target.trim() === "") {
      throw new TypeError("record(): the target path is empty");
    }
    const file = await Deno.open(target, {
      write: true,
      create: true,
      truncate: true,
    });
    return new QueuedSink(target, async (bytes) => {
      let o = 0;
      while (o < bytes.length) o += await file.write(bytes.subarray(o));
    }, () => Promise.resolve(file.close()));
  }
  if (!(target instanceof WritableStream)) {
    throw new TypeError(
      `record(): target must be a file path or a WritableStream<Uint8Array>, got ${
        target === null ? "null" : typeof target
      }`,
    );
  }
  const writer = target.getWriter();
  return new QueuedSink(
    "stream",
    (bytes) => writer.write(bytes),
    async () => {
      await writer.close();
    },
  );
}

class QueuedSink implements Sink {
  readonly name: string;
  error: Error | null = null;
  #write: (bytes: Uint8Array) => Promise<void>;
  #close: () => Promise<void>;
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;
  #closing: Promise<void> | null = null;

  constructor(
    name: string,
    write: (bytes: Uint8Array) => Promise<void>,
    close: () => Promise<void>,
  ) {
    this.name = name;
    this.#write = write;
    this.#close = close;
  }

  write(parts: Uint8Array[]): void {
    if (this.error || this.#closing) return;
    for (const bytes of parts) {
      if (bytes.length === 0) continue;
      this.#queued += bytes.length;
      if (this.#queued > MAX_QUEUED_BYTES) {
        this.#fail(
          new Error(
            `the recording's target (${this.name}) fell ${
              MAX_QUEUED_BYTES >> 20
            } MiB behind; stopped`,
          ),
        );
        return;
      }
      this.#chain = this.#chain.then(async () => {
        if (this.error) return;
        try {
          await this.#write(bytes);
        } catch (err) {
          this.#fail(err as Error);
        } finally {
          this.#queued -= bytes.length;
        }
      });
    }
  }

  #fail(err: Error): void {
    this.error ??= err instanceof Error ? err : new Error(String(err));
  }

  close(): Promise<void> {
    this.#closing ??= this.#chain.then(async () => {
      try {
        await this.#close();
      } catch (err) {
        this.#fail(err as Error);
      }
      if (this.error) throw this.error;
    });
    return this.#closing;
  }
}
