// What each public path exports, and that the docs show the public paths:
// `@rfb/core` is what an app needs, `@rfb/core/protocol` the wire protocol,
// `@rfb/core/client` the browser client, `@rfb/core/nats` the relay to
// edge servers; every doc example imports public
// names from the public path; `Display`'s constructor shows no internal
// parameter.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as mod from "../mod.ts";
import * as protocol from "../src/protocol.ts";
import { Display, RfbServer } from "../mod.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

const MOVED = [
  "closeReason",
  "compactJson",
  "configMessage",
  "imageFrameHeader",
  "packEnvelope",
  "parseClientMessage",
  "selectTransport",
  "setQualityMessage",
  "statsMessage",
  "unpackEnvelope",
  "validateEvent",
  "videoChunkHeader",
  "IMAGE_MIME",
  "MAX_CLIENT_MESSAGE_BYTES",
  "MAX_TOUCHES",
];

/** The names a module's `export { ... }` and `export class/function/const` lines give, read as text. */
function exportedNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const name = part.replace(/^\s*type\s+/, "").split(/\s+as\s+/).pop()!
        .trim();
      if (name) out.add(name);
    }
  }
  for (
    const m of text.matchAll(
      /export\s+(?:declare\s+)?(?:async\s+)?(?:class|function\*?|const|let|interface|type)\s+([A-Za-z_$][\w$]*)/g,
    )
  ) out.add(m[1]);
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "dist") out.push(...await filesUnder(path));
    else if (
      e.isFile && /\.tsx?$/.test(e.name) && !e.name.startsWith("_client_bundle")
    ) {
      out.push(path);
    }
  }
  return out;
}

Deno.test("deno.json exports the app API, the protocol, the browser client and the NATS relay", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  assert.equal(config.name, "@rfb/core");
  assert.deepEqual(config.exports, {
    ".": "./mod.ts",
    "./protocol": "./src/protocol.ts",
    "./client": "./client/mod.ts",
    "./nats": "./src/nats/mod.ts",
  });
});

Deno.test("mod.ts keeps what an app needs; the wire protocol's helpers are @rfb/core/protocol", () => {
  const appNames = Object.keys(mod);
  for (const name of MOVED) {
    assert.ok(!appNames.includes(name), `${name} is no longer in mod.ts`);
    assert.ok(name in protocol, `${name} is in @rfb/core/protocol`);
  }
  // The close codes and capability strings an app may compare with stay.
  for (const name of Object.keys(protocol)) {
    if (/^(CLOSE_|CAP_)/.test(name) || name === "MAX_SIDE") {
      assert.equal(
        (mod as Record<string, unknown>)[name],
        (protocol as Record<string, unknown>)[name],
        name,
      );
    }
  }
  assert.ok(appNames.includes("serve") && appNames.includes("Display"));
});

Deno.test("doc examples import public names from @rfb/core, @rfb/core/protocol or @rfb/core/client", async () => {
  const publicPaths: Record<string, Set<string>> = {
    "@rfb/core": exportedNames(await Deno.readTextFile(`${root}/mod.ts`)),
    "@rfb/core/protocol": new Set(Object.keys(protocol)),
    "@rfb/core/client": exportedNames(
      await Deno.readTextFile(`${root}/client/mod.ts`),
    ),
    "@rfb/core/nats": exportedNames(
      await Deno.readTextFile(`${root}/src/nats/mod.ts`),
    ),
  };
  for (
    const t of exportedNames(await Deno.readTextFile(`${root}/src/protocol.ts`))
  ) {
    publicPaths["@rfb/core/protocol"].add(t);
  }
  for (
    const f of [
      "constants",
      "envelope",
      "server_messages",
      "input_events",
      "client_messages",
      "negotiation",
    ]
  ) {
    for (
      const t of exportedNames(
        await Deno.readTextFile(`${root}/src/protocol/${f}.ts`),
      )
    ) publicPaths["@rfb/core/protocol"].add(t);
  }
  const anyPublic = new Set(
    Object.values(publicPaths).flatMap((s) => [...s]),
  );
  const problems: string[] = [];
  const files = [
    `${root}/mod.ts`,
    ...await filesUnder(`${root}/src`),
    ...await filesUnder(`${root}/client`),
  ];
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    const where = file.slice(root.length + 1);
    for (
      const block of text.matchAll(/^ \* ```ts[^\n]*\n([\s\S]*?)^ \* ```/gm)
    ) {
      const line = text.slice(0, block.index).split("\n").length;
      const imports = [
        ...block[1].matchAll(
          /^ \* import (?:type )?\{([^}]*)\} from "([^"]+)";/gm,
        ),
      ].map((m) => ({
        names: m[1].split(",").map((s) => s.replace(/^\s*type\s+/, "").trim())
          .filter(Boolean),
        from: m[2],
      }));
      // An example of an internal helper imports it by path, and may take
      // public names from the same place.
      const internal = imports.some((i) =>
        i.from.startsWith(".") && i.names.some((n) => !anyPublic.has(n))
      );
      for (const { names, from } of imports) {
        if (from in publicPaths) {
          for (const n of names) {
            if (!publicPaths[from].has(n)) {
              problems.push(
                `${where}:${line}: ${n} is not exported by ${from}`,
              );
            }
          }
        } else if (from.startsWith(".") && !internal) {
          problems.push(
            `${where}:${line}: ${
              names.join(", ")
            } imported from ${from}; use the public path`,
          );
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("Display's constructor is (width, height, options); a server's stream keeps its name", async () => {
  const display = new Display(8, 8, { logger: () => {} });
  assert.equal(display.name, "default");
  await display.close();
  const server = new RfbServer({ logger: () => {} });
  try {
    assert.equal(server.addStream("cam", 8, 8).name, "cam");
    // A display made after addStream is "default" again.
    const after = new Display(8, 8, { logger: () => {} });
    assert.equal(after.name, "default");
    await after.close();
  } finally {
    await server.close();
  }
  const doc = new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  // deno-lint-ignore no-explicit-any
  type Node = any;
  const json = JSON.parse(new TextDecoder().decode(doc.stdout));
  const symbols: Node[] = Object.values(json.nodes).flatMap((m) =>
    (m as Node).symbols
  );
  const cls = symbols.find((n) => n.name === "Display").declarations
    .find((d: Node) => d.kind === "class");
  const ctor = cls.def.constructors[0];
  const params = ctor.params.map((p: Node) => p.name ?? p.left?.name);
  assert.deepEqual(params, ["width", "height", "options"]);
});
