// The shape of the code, kept as docs/ARCHITECTURE.md describes it: no
// import cycles among the library's modules, no source file in src/ or
// client/ over 600 lines (the generated client bundle aside), and every
// file the architecture map names exists.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const MAX_LINES = 600;

interface ModuleInfo {
  specifier: string;
  dependencies?: Array<{
    code?: { specifier?: string };
    type?: { specifier?: string };
  }>;
}

/** Local module graph reachable from `roots`, from `deno info --json`. */
async function graph(roots: string[]): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const root of roots) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: ModuleInfo[];
    };
    for (const m of info.modules) {
      if (!local(m.specifier)) continue;
      const deps = (m.dependencies ?? []).flatMap((d) =>
        [d.code?.specifier, d.type?.specifier].filter((s): s is string =>
          !!s && local(s)
        )
      );
      edges.set(m.specifier, [...new Set(deps)]);
    }
  }
  return edges;
}

function local(specifier: string): boolean {
  return specifier.startsWith(ROOT.href) &&
    !specifier.includes("/node_modules/");
}

/** Every cycle's modules (strongly connected components of more than one). */
function cycles(edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w.slice(ROOT.href.length));
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}${e.name}`;
    if (e.isDirectory && e.name !== "dist") yield* sources(`${path}/`);
    else if (e.isFile && /\.tsx?$/.test(e.name)) yield path;
  }
}

Deno.test("layout: no import cycle among the library's modules", async () => {
  const edges = await graph([
    "mod.ts",
    "client/mod.ts",
    "client/worker/main.ts",
    "src/doctor.ts",
    "src/nats/mod.ts",
  ]);
  assert.ok(edges.size > 40, `only ${edges.size} modules found`);
  assert.deepEqual(cycles(edges), []);
});

Deno.test("layout: the cycle finder finds a cycle", () => {
  const a = `${ROOT.href}a.ts`, b = `${ROOT.href}b.ts`;
  assert.deepEqual(
    cycles(new Map([[a, [b]], [b, [a]]])).map((c) => c.sort()),
    [["a.ts", "b.ts"]],
  );
});

Deno.test(`layout: no source file in src/ or client/ over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const dir of ["src/", "client/"]) {
    for await (const path of sources(dir)) {
      if (path === "src/_client_bundle.ts") continue; // generated
      const lines = (await Deno.readTextFile(new URL(path, ROOT))).split("\n")
        .length - 1;
      if (lines > MAX_LINES) long.push(`${path}: ${lines}`);
    }
  }
  assert.deepEqual(long, []);
});

Deno.test("layout: every file docs/ARCHITECTURE.md names exists", async () => {
  const map = await Deno.readTextFile(new URL("docs/ARCHITECTURE.md", ROOT));
  const named = [
    ...map.matchAll(/`((?:src|client|tests|bench|demo)\/[\w./-]+\.tsx?)`/g),
  ].map((m) => m[1]);
  assert.ok(named.length > 20, `the map names only ${named.length} files`);
  const missing: string[] = [];
  for (const path of new Set(named)) {
    try {
      await Deno.stat(new URL(path, ROOT));
    } catch {
      missing.push(path);
    }
  }
  assert.deepEqual(missing, []);
});
