// The README's quick start, run as written (on port 0 instead of 8765 so tests never collide).

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TestViewer } from "./_viewer.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

Deno.test("the README quick start serves frames and prints clicks", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const section = readme.split("## Quick start")[1];
  const code = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(code, "README has a Quick start ts block");
  assert.match(code, /port: 8765/);
  const file = await Deno.makeTempFile({
    dir: root,
    prefix: "_readme_",
    suffix: ".ts",
  });
  await Deno.writeTextFile(file, code.replace("port: 8765", "port: 0"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const waitFor = async (re: RegExp) => {
    const deadline = Date.now() + 30_000;
    while (!re.test(out)) {
      if (Date.now() > deadline) throw new Error(`no ${re} in output: ${out}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`program ended; output: ${out}`);
      out += value;
    }
    return out.match(re)!;
  };
  try {
    const [, url] = await waitFor(/open (http:\/\/\S+)/);
    const v = await TestViewer.open(url.replace("http:", "ws:"));
    const f = await v.nextFrame(10_000);
    assert.equal(f.header.width, 640);
    assert.equal(f.header.height, 360);
    v.send({
      type: "event",
      event: {
        type: "pointer_down",
        x: 12,
        y: 34,
        button: 1,
        buttons: [1],
        modifiers: [],
      },
    });
    await waitFor(/click at 12, 34/);
    await v.close();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel().catch(() => {});
    await Deno.remove(file);
  }
});

Deno.test("the README's API section names every export of mod.ts", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const api = readme.split("## API")[1]?.split("\n## ")[0] ?? "";
  const mod = await import("../mod.ts");
  const missing = Object.keys(mod).filter((name) => !api.includes(`\`${name}`));
  assert.deepEqual(
    missing,
    [],
    "exports missing from the README's API section",
  );
});
