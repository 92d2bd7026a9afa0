/**
 * Line-by-line talk between a benchmark and its helper process (the viewer
 * processes of bench/viewers.ts and bench/soak_viewers.ts): `readLines()`
 * splits a byte stream into lines; `spawnHelper()` (parent side) starts a
 * Deno script with piped stdin and stdout and waits for its `ready`;
 * `answerMarks()` (helper side) prints `ready`, answers each `mark` line on
 * stdin with one JSON line and returns on `quit` or the end of stdin.
 *
 * @module
 */

/**
 * The lines of a UTF-8 byte stream, without their `\n`; a last line with no
 * `\n` after it is not yielded.
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 * const bytes = new TextEncoder().encode("ready\n{}\n");
 * for await (const line of readLines(ReadableStream.from([bytes]))) {
 *   console.log(line); // "ready", then "{}"
 * }
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let rest = "";
  // The cast: with the DOM types in scope (client/), TextDecoderStream takes BufferSource.
  const decoder = new TextDecoderStream() as unknown as TransformStream<
    Uint8Array,
    string
  >;
  for await (const chunk of stream.pipeThrough(decoder)) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
}

const encoder = new TextEncoder();

/** Write `line` and a `\n` to this process's stdout, all of it. */
async function printLine(line: string): Promise<void> {
  const bytes = encoder.encode(line + "\n");
  for (let at = 0; at < bytes.length;) {
    at += await Deno.stdout.write(bytes.subarray(at));
  }
}

/**
 * The helper side: print `ready`, then answer each `mark` line on stdin with
 * `JSON.stringify(report())` on one line; resolves on a `quit` line or when
 * stdin ends. Other lines are ignored.
 *
 * @example
 * ```ts ignore
 * import { answerMarks } from "./lines.ts";
 * let frames = 0;
 * await answerMarks(() => ({ frames }));
 * ```
 */
export async function answerMarks(report: () => unknown): Promise<void> {
  await printLine("ready");
  for await (const line of readLines(Deno.stdin.readable)) {
    if (line === "quit") break;
    if (line === "mark") await printLine(JSON.stringify(report()));
  }
}

/** A helper process started by `spawnHelper()`. */
export interface Helper {
  /** Send `line`, then resolve with the next line the helper prints. */
  ask(line: string): Promise<string>;
  /**
   * Send `quit`, close the helper's stdin, read what it still prints and
   * wait for it to exit; resolves with its exit code.
   */
  quit(): Promise<number>;
}

/**
 * The parent side: run `deno run -A <script> <args...>` with piped stdin and
 * stdout (stderr inherited) and resolve once it prints `ready`; rejects if it
 * prints anything else first or ends. `name` goes into the error messages.
 *
 * @example
 * ```ts ignore
 * import { spawnHelper } from "./lines.ts";
 * const helper = await spawnHelper(
 *   new URL("./viewers.ts", import.meta.url),
 *   ["ws://127.0.0.1:8000/", "8", "rfb"],
 *   "viewer process",
 * );
 * const counts = JSON.parse(await helper.ask("mark"));
 * await helper.quit();
 * ```
 */
export async function spawnHelper(
  script: URL,
  args: string[],
  name: string,
): Promise<Helper> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = readLines(child.stdout);
  const stdin = child.stdin.getWriter();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error(`the ${name} ended early`);
    return r.value;
  };
  const first = await next();
  if (first !== "ready") throw new Error(`the ${name} said '${first}'`);
  return {
    async ask(line) {
      await stdin.write(encoder.encode(line + "\n"));
      return await next();
    },
    async quit() {
      await stdin.write(encoder.encode("quit\n"));
      await stdin.close();
      for await (const _ of lines) { /* drain */ }
      return (await child.status).code;
    },
  };
}
