/**
 * Reading video files in tests with FFmpeg's own tools (Debian's `ffmpeg`
 * package: `ffprobe` and `ffmpeg`), so what we write is judged by a reader
 * we did not write.
 *
 * @module
 */

/** Why the media tools are missing, or null when they are here. */
export function mediaMissing(): string | null {
  for (const tool of ["ffprobe", "ffmpeg"]) {
    try {
      const out = new Deno.Command(tool, {
        args: ["-version"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (!out.success) return `${tool} does not run`;
    } catch {
      return `no ${tool} (apt-get install ffmpeg)`;
    }
  }
  return null;
}

async function run(tool: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(tool, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${tool} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return out.stdout;
}

/** What ffprobe reads in a file's first video stream. */
export interface Probe {
  codec: string;
  width: number;
  height: number;
  /** Frames decoded. */
  frames: number;
  /** The file's duration, seconds. */
  duration: number;
  /** Each frame's presentation time, seconds. */
  times: number[];
  /** Which frames are keyframes. */
  keys: boolean[];
}

/** Probe `path` with ffprobe (decoding every frame to count them). */
export async function probe(path: string | Uint8Array): Promise<Probe> {
  let file = path as string;
  let temp: string | null = null;
  if (path instanceof Uint8Array) {
    temp = file = await Deno.makeTempFile({ suffix: ".mp4" });
    await Deno.writeFile(temp, path);
  }
  try {
    const text = new TextDecoder().decode(
      await run("ffprobe", [
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,width,height,nb_read_frames:format=duration:frame=pts_time,key_frame",
        "-of",
        "json",
        file,
      ]),
    );
    const json = JSON.parse(text);
    const s = json.streams[0];
    const frames = (json.frames ?? []) as {
      pts_time?: string;
      key_frame?: number;
    }[];
    return {
      codec: s.codec_name,
      width: s.width,
      height: s.height,
      frames: Number(s.nb_read_frames),
      duration: Number(json.format.duration),
      times: frames.map((f) => Number(f.pts_time)),
      keys: frames.map((f) => f.key_frame === 1),
    };
  } finally {
    if (temp) await Deno.remove(temp).catch(() => {});
  }
}

/** The last frame of a video file, decoded by FFmpeg to RGBA. */
export async function lastFrame(
  path: string,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const raw = await run("ffmpeg", [
    "-v",
    "error",
    "-sseof",
    "-1", // the last second is enough
    "-i",
    path,
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgba",
    "-",
  ]);
  const size = width * height * 4;
  if (raw.length < size) throw new Error("ffmpeg decoded no frame");
  return raw.subarray(raw.length - size);
}

/**
 * PSNR of `b` against `a` over the RGB channels of two RGBA pictures, dB.
 */
export function psnrRgb(a: Uint8Array, b: Uint8Array): number {
  let sum = 0, n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a[i + c] - b[i + c];
      sum += d * d;
      n++;
    }
  }
  const mse = sum / n;
  return mse === 0 ? Infinity : 10 * Math.log10(255 * 255 / mse);
}
