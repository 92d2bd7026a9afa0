// `deno task doctor`: the table of what works here, and its verdict.

import assert from "node:assert/strict";
import { formatTable, verdict } from "../src/doctor.ts";

Deno.test("doctor: prints a table of every check and exits 0 when the core path works", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/doctor.ts"],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  for (
    const row of [
      "Deno",
      "sharp (image path)",
      "node-av libx264",
      "WebGPU adapter",
      "NVENC",
      "Chromium",
    ]
  ) {
    assert.match(
      text,
      new RegExp(`\\| ${row.replace(/[()]/g, "\\$&")}`),
      `row ${row}`,
    );
  }
  assert.match(
    text,
    /\| sharp \(image path\) \| ok \| libvips [\d.]+; 1280x720 JPEG q80 in [\d.]+ ms/,
  );
  assert.match(text, /Recommended path: /);
});

Deno.test("doctor: a broken core check means exit code 1 and says which", () => {
  const checks = [
    { name: "Deno", status: "ok" as const, detail: "2.9.6", core: true },
    {
      name: "sharp (image path)",
      status: "broken" as const,
      detail: "no libvips",
      core: true,
    },
    {
      name: "WebGPU adapter",
      status: "missing" as const,
      detail: "none",
      core: false,
    },
  ];
  assert.deepEqual(verdict(checks), {
    code: 1,
    message: "The core path is broken: sharp (image path).",
  });
  assert.equal(verdict(checks.filter((c) => c.status === "ok")).code, 0);
  assert.match(
    formatTable(checks),
    /\| sharp \(image path\) \| broken \| no libvips \|/,
  );
});
