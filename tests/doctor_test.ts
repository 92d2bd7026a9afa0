// `deno task doctor`, run as a user runs it (a subprocess): the table, the JSON, --help, the
// exit status. Broken paths are real: `--deny-ffi` keeps sharp from loading (core path broken,
// exit 1); `--allow-ffi` for sharp's binary alone leaves no H.264 encoder (a warning, exit 0);
// CHROMIUM_PATH pointing nowhere.

import assert from "node:assert/strict";
import { type Check, formatTable, verdict } from "../src/doctor.ts";

const ROOT = new URL("..", import.meta.url);

interface Run {
  code: number;
  out: string;
  err: string;
}

async function doctor(
  args: string[],
  options: { flags?: string[]; env?: Record<string, string> } = {},
): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? ["-A"]), "src/doctor.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    out: dec.decode(out.stdout),
    err: dec.decode(out.stderr),
  };
}

/** A table row's status and detail. */
function row(text: string, name: string): { status: string; detail: string } {
  const line = text.split("\n").find((l) => l.startsWith(`| ${name} |`));
  assert.ok(line, `row ${name} in\n${text}`);
  const [status, detail] = line.slice(name.length + 5, -2).split(" | ");
  return { status, detail };
}

interface Report {
  code: number;
  level: string;
  verdict: string;
  checks: Check[];
}

function parse(run: Run): Report {
  try {
    return JSON.parse(run.out) as Report;
  } catch (err) {
    throw new Error(`stdout is not JSON (${err}):\n${run.out}\n${run.err}`);
  }
}

Deno.test("doctor: a table of every check, each reason said once, exit 0 when the core path works", async () => {
  const run = await doctor([]);
  assert.equal(run.code, 0, run.out + run.err);
  for (
    const name of [
      "Deno",
      "sharp (image path)",
      "node-av libx264 (H.264 path)",
      "WebGPU adapter",
      "NVENC (GPU H.264)",
      "H.264 encoder",
      "Chromium (browser tests)",
    ]
  ) row(run.out, name);
  assert.match(
    run.out,
    /\| sharp \(image path\) \| ok \| libvips [\d.]+; 1280x720 JPEG q80 in [\d.]+ ms/,
  );
  // Why NVENC is not used is said on its row only; the encoder row points there.
  const nvenc = row(run.out, "NVENC (GPU H.264)");
  const route = row(run.out, "H.264 encoder");
  if (nvenc.status === "ok") {
    assert.equal(route.detail, "NVENC (preferred over libx264)");
  } else {
    assert.equal(run.out.split(nvenc.detail).length, 2, run.out);
    assert.match(route.detail, /NVENC is (missing|broken)/);
    assert.doesNotMatch(nvenc.detail, /H\.264 uses libx264/);
  }
  assert.match(run.out, /\n\nRecommended path: /);
});

Deno.test("doctor: --help says what it checks, the options and the exit statuses, and runs nothing", async () => {
  const [help, short] = await Promise.all([
    doctor(["--help"]),
    doctor(["-h"]),
  ]);
  assert.equal(help.code, 0, help.err);
  assert.equal(short.out, help.out);
  assert.match(help.out, /^deno task doctor \[--json\] \[--help\]/);
  assert.match(help.out, /--json/);
  assert.match(help.out, /Exit status:\n\s+0 .*\n.*warning/);
  assert.match(help.out, /\n\s+1\s+the core path is broken/);
  assert.doesNotMatch(help.out, /\| check \|/, "no checks ran");
});

Deno.test("doctor: an unknown argument is refused (exit 2) with the nearest option", async () => {
  const run = await doctor(["--jsn"]);
  assert.equal(run.code, 2);
  assert.equal(run.out, "");
  assert.match(
    run.err,
    /doctor: unknown argument "--jsn" \(did you mean --json\?\); see --help/,
  );
});

Deno.test("doctor: --json prints the checks and the verdict as one JSON object; CHROMIUM_PATH=/nope is named as the path tried", async () => {
  const run = await doctor(["--json"], { env: { CHROMIUM_PATH: "/nope" } });
  assert.equal(run.code, 0, run.err);
  const report = parse(run);
  assert.equal(report.code, 0);
  assert.match(report.level, /^(ok|warning)$/);
  assert.match(report.verdict, /^(Recommended path|Warning): /);
  assert.deepEqual(report.checks.map((c) => c.name), [
    "Deno",
    "sharp (image path)",
    "node-av libx264 (H.264 path)",
    "WebGPU adapter",
    "NVENC (GPU H.264)",
    "H.264 encoder",
    "Chromium (browser tests)",
  ]);
  for (const c of report.checks) {
    assert.match(c.status, /^(ok|missing|broken)$/);
    assert.equal(typeof c.detail, "string");
    assert.equal(typeof c.core, "boolean");
  }
  const chromium = report.checks.at(-1)!;
  assert.equal(chromium.status, "missing");
  assert.match(
    chromium.detail,
    /^CHROMIUM_PATH=\/nope points nowhere \(no file there\); /,
  );
  let installed = false;
  try {
    installed = Deno.statSync("/usr/bin/chromium").isFile;
  } catch { /* not installed */ }
  if (installed) {
    assert.match(chromium.detail, /\/usr\/bin\/chromium is installed/);
    assert.doesNotMatch(chromium.detail, /apt-get install/);
  } else {
    assert.match(chromium.detail, /missing too: apt-get install chromium/);
  }
});

Deno.test("doctor: sharp that cannot load (no FFI) breaks the core path: exit 1, and the verdict names it", async () => {
  const [text, json] = await Promise.all([
    doctor([], { flags: ["-A", "--deny-ffi"] }),
    doctor(["--json"], { flags: ["-A", "--deny-ffi"] }),
  ]);
  assert.equal(text.code, 1, text.out + text.err);
  const sharp = row(text.out, "sharp (image path)");
  assert.equal(sharp.status, "broken");
  assert.match(sharp.detail, /--allow-ffi/);
  assert.doesNotMatch(sharp.detail, /\n|Possible solutions/);
  assert.match(
    text.out,
    /\n\nBroken: sharp \(image path\), so no display can send a frame \(see its row\)\.\n$/,
  );
  assert.equal(json.code, 1);
  const report = parse(json);
  assert.equal(report.code, 1);
  assert.equal(report.level, "broken");
  assert.match(report.verdict, /^Broken: sharp \(image path\)/);
});

/** The folders of sharp's native binaries in the npm cache of this checkout. */
function sharpBinaries(): string[] {
  const dir = new URL("node_modules/.deno/", ROOT);
  try {
    return [...Deno.readDirSync(dir)]
      .filter((e) => e.name.startsWith("@img+sharp-"))
      .map((e) => new URL(e.name, dir).pathname);
  } catch {
    return [];
  }
}

const binaries = sharpBinaries();

Deno.test({
  name:
    "doctor: no H.264 encoder at all (FFI for sharp only) is a warning, not a failure: exit 0",
  ignore: binaries.length === 0,
  fn: async () => {
    const run = await doctor([], {
      flags: [
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
        "--allow-net",
        "--allow-run",
        `--allow-ffi=${binaries.join(",")}`,
      ],
    });
    assert.equal(run.code, 0, run.out + run.err);
    assert.equal(row(run.out, "sharp (image path)").status, "ok");
    assert.equal(row(run.out, "node-av libx264 (H.264 path)").status, "broken");
    assert.match(
      row(run.out, "H.264 encoder").detail,
      /^none: libx264 is broken and NVENC is (missing|broken)/,
    );
    assert.match(
      run.out,
      /\n\nWarning: no H\.264 encoder \(see its row\), so viewers get the image transport/,
    );
  },
});

Deno.test("doctor: verdict and formatTable", () => {
  const checks: Check[] = [
    { name: "Deno", status: "ok", detail: "2.9.6", core: true },
    {
      name: "sharp (image path)",
      status: "broken",
      detail: "no libvips",
      core: true,
    },
    { name: "WebGPU adapter", status: "missing", detail: "none", core: false },
  ];
  assert.deepEqual(verdict(checks), {
    code: 1,
    level: "broken",
    message:
      "Broken: sharp (image path), so no display can send a frame (see its row).",
  });
  assert.deepEqual(verdict(checks.filter((c) => c.status === "ok")), {
    code: 0,
    level: "warning",
    message:
      "Warning: no H.264 encoder (see its row), so viewers get the image transport (JPEG live, PNG stills) on sharp, which works.",
  });
  assert.equal(
    verdict([
      ...checks.filter((c) => c.status === "ok"),
      {
        name: "node-av libx264 (H.264 path)",
        status: "ok",
        detail: "",
        core: false,
      },
    ]).level,
    "ok",
  );
  assert.match(
    formatTable(checks),
    /\| sharp \(image path\) \| broken \| no libvips \|/,
  );
});
