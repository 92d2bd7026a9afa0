/**
 * A real `nats-server` for tests: started on a free loopback port with a
 * temporary store (JetStream on, though the relay does not need it), and
 * stopped (or killed and started again on the same port) by the test.
 * Debian's `nats-server` package provides it (`.ci/run` installs it).
 *
 * @module
 */

/** Whether nats-server is installed. */
export function haveNatsServer(): boolean {
  try {
    new Deno.Command("nats-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** One nats-server process. */
export class NatsServer implements AsyncDisposable {
  readonly port: number;
  readonly store: string;
  #args: string[];
  #child: Deno.ChildProcess | null = null;

  private constructor(port: number, store: string, args: string[]) {
    this.port = port;
    this.store = store;
    this.#args = args;
  }

  /** Start one on a free port; `args` are added to the command line (e.g. `--user a --pass b`). */
  static async start(args: string[] = []): Promise<NatsServer> {
    const store = await Deno.makeTempDir({ prefix: "rfb_nats_" });
    const server = new NatsServer(freePort(), store, args);
    await server.restart();
    return server;
  }

  /** `nats://127.0.0.1:<port>`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Start it (again), on the same port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#child) await this.kill();
    this.#child = new Deno.Command("nats-server", {
      args: [
        "-a",
        "127.0.0.1",
        "-p",
        String(this.port),
        "-js",
        "-sd",
        this.store,
        ...this.#args,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      try {
        const c = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.port,
        });
        c.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    throw new Error(`nats-server did not start on port ${this.port}`);
  }

  /** Kill it at once (SIGKILL): clients see the connection drop. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  }

  /** Stop it and remove its store. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.store, { recursive: true }).catch(() => {});
  }
}
