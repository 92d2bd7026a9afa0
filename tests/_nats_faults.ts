/**
 * Helpers for the NATS fault tests: a host or edge process
 * (`_nats_proc.ts`) whose lines are read as they come, and a TCP proxy
 * that stands for a load balancer in front of edges (each connection goes
 * to the first edge that accepts it).
 *
 * @module
 */

import { readLines } from "./_viewer.ts";

const PROC = new URL("./_nats_proc.ts", import.meta.url).pathname;

/** A host or edge in its own process. */
export class NatsProc implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** The last `stats` line, parsed. */
  stats: Record<string, unknown> | null = null;
  /** The edge's port. */
  port = 0;
  #ready: Promise<void>;

  private constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", PROC, ...args],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#ready = new Promise<void>((resolve, reject) => {
      (async () => {
        for await (const line of readLines(this.child.stdout)) {
          if (line === "ready") resolve();
          else if (line.startsWith("port ")) {
            this.port = Number(line.slice(5));
            resolve();
          } else if (line.startsWith("stats ")) {
            this.stats = JSON.parse(line.slice(6));
          }
        }
        reject(new Error(`${args[0]} process ended before it was ready`));
      })().catch(reject);
    });
  }

  /** Start a host publishing a moving pattern (`fixed`: adaptation off). */
  static async host(
    url: string,
    stream: string,
    width: number,
    height: number,
    fps: number,
    transport: string,
    fixed = false,
  ): Promise<NatsProc> {
    const p = new NatsProc([
      "host",
      url,
      stream,
      String(width),
      String(height),
      String(fps),
      transport,
      ...(fixed ? ["fixed"] : []),
    ]);
    await p.#ready;
    return p;
  }

  /** Start an edge serving `stream` on a free port. */
  static async edge(url: string, stream: string): Promise<NatsProc> {
    const p = new NatsProc(["edge", url, stream]);
    await p.#ready;
    return p;
  }

  /** Send a signal (SIGKILL, SIGSTOP, SIGCONT). */
  signal(sig: Deno.Signal): void {
    try {
      this.child.kill(sig);
    } catch { /* gone */ }
  }

  /** Kill it and wait for it to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.signal("SIGCONT");
    this.signal("SIGKILL");
    await this.child.status;
  }
}

/** A TCP proxy on a free port: each connection goes to the first of `targets()` that accepts. */
export function balancer(targets: () => number[]): {
  port: number;
  [Symbol.asyncDispose](): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      open.add(conn);
      (async () => {
        let upstream: Deno.Conn | null = null;
        for (const port of targets()) {
          try {
            upstream = await Deno.connect({ hostname: "127.0.0.1", port });
            break;
          } catch { /* next */ }
        }
        if (!upstream) {
          conn.close();
          return;
        }
        open.add(upstream);
        await Promise.allSettled([
          conn.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(conn.writable),
        ]);
        for (const c of [conn, upstream]) {
          open.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    [Symbol.asyncDispose]: () => {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      return Promise.resolve();
    },
  };
}
