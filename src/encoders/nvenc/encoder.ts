/**
 * The NVENC H.264 encoder: the same shape as the libx264 `H264Encoder`
 * (open, `encode(picture, keyframe)` → an Annex B access unit with SPS and
 * PPS in front of every IDR, `close()`), on NVIDIA's hardware encoder
 * through `Deno.dlopen`.
 *
 * Set up for interactive streaming: the H.264 codec with API 9.0's
 * low-latency HQ preset (its configuration read with
 * `nvEncGetEncodePresetConfig`, then edited): constrained baseline, CAVLC,
 * no B-frames (IPP), zero reorder delay, no lookahead, CBR at the target
 * bitrate with about 1.5 frames of VBV, an IDR every `gop` frames (and on
 * request), SPS/PPS repeated on every IDR, one slice, and a VUI that says
 * BT.709 limited range. Stills are constant-QP intra pictures. The x264
 * `preset` setting does not apply.
 *
 * Input goes through one NV12 input buffer in host memory (the copy
 * respects the pitch the driver returns); RGBA, RGB and gray input is
 * converted to NV12 on the CPU first with `rgbaToYuv` (BT.709), and I420 is
 * interleaved. Encoding is synchronous, on the calling thread.
 *
 * Honest status: the FFI plumbing is exercised by the tests against a fake
 * driver (tests/fixtures/fake_nvenc) that checks our side of the ABI and
 * writes a decodable stream; real NVENC encoding has not been run on
 * NVIDIA hardware here.
 *
 * @module
 */

import { rgbaToYuv } from "../../yuv.ts";
import type { H264Chunk, H264Settings, RawPicture } from "../h264.ts";
import { codecFromAnnexB, nalTypes } from "../annexb.ts";
import {
  CONFIG,
  CREATE_BITSTREAM_BUFFER,
  CREATE_INPUT_BUFFER,
  GUIDS,
  INITIALIZE_PARAMS,
  LOCK_BITSTREAM,
  LOCK_INPUT_BUFFER,
  NV,
  PIC_PARAMS,
  PRESET_CONFIG,
  STRUCT_VERSIONS,
} from "./abi.ts";
import {
  NvencDriver,
  type NvencLibraries,
  NvencUnavailable,
  statusName,
} from "./driver.ts";

/** How to open an `NvencEncoder`. */
export interface NvencOptions {
  /** Library paths (default: `RFB_CUDA_LIBRARY` / `RFB_NVENC_LIBRARY`, then the driver's sonames). */
  libraries?: Partial<NvencLibraries>;
}

/** A GUID passed by value (16 bytes: u32, u16, u16, u8[8]). */
const GUID_ARG = {
  struct: ["u32", "u16", "u16", "u8", "u8", "u8", "u8", "u8", "u8", "u8", "u8"],
} as const;

const WITH_STRUCT = {
  parameters: ["pointer", "buffer"],
  result: "i32",
} as const;
const WITH_HANDLE = {
  parameters: ["pointer", "pointer"],
  result: "i32",
} as const;
const PRESET_FN = {
  parameters: ["pointer", GUID_ARG, GUID_ARG, "buffer"],
  result: "i32",
} as const;

/** Quantiser of the still encoder's constant-QP intra pictures. */
const STILL_QP = 16;

function bind(driver: NvencDriver) {
  return {
    getPresetConfig: driver.fn("nvEncGetEncodePresetConfig", PRESET_FN),
    initialize: driver.fn("nvEncInitializeEncoder", WITH_STRUCT),
    createInput: driver.fn("nvEncCreateInputBuffer", WITH_STRUCT),
    destroyInput: driver.fn("nvEncDestroyInputBuffer", WITH_HANDLE),
    createBitstream: driver.fn("nvEncCreateBitstreamBuffer", WITH_STRUCT),
    destroyBitstream: driver.fn("nvEncDestroyBitstreamBuffer", WITH_HANDLE),
    encodePicture: driver.fn("nvEncEncodePicture", WITH_STRUCT),
    lockBitstream: driver.fn("nvEncLockBitstream", WITH_STRUCT),
    unlockBitstream: driver.fn("nvEncUnlockBitstream", WITH_HANDLE),
    lockInput: driver.fn("nvEncLockInputBuffer", WITH_STRUCT),
    unlockInput: driver.fn("nvEncUnlockInputBuffer", WITH_HANDLE),
  };
}

type Calls = ReturnType<typeof bind>;

function check(status: number, call: string): void {
  if (status !== NV.SUCCESS) {
    throw new NvencUnavailable(`${call} failed: ${statusName(status)}`);
  }
}

function pointerAt(view: DataView, offset: number): Deno.PointerValue {
  return Deno.UnsafePointer.create(view.getBigUint64(offset, true));
}

function setPointer(view: DataView, offset: number, p: Deno.PointerValue) {
  view.setBigUint64(offset, BigInt(Deno.UnsafePointer.value(p)), true);
}

/**
 * Edit the preset's `NV_ENC_CONFIG` (in place) for a live stream, or for
 * stills (`settings.still`).
 */
function editConfig(config: Uint8Array, s: H264Settings): void {
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const o = CONFIG.offsets;
  const u32 = (name: string, value: number) =>
    v.setUint32(o[name], value >>> 0, true);
  const h264 = "encodeCodecConfig.h264Config.";
  const vui = `${h264}h264VUIParameters.`;
  const gop = s.still ? 1 : Math.max(1, Math.round(s.gop));
  u32("version", STRUCT_VERSIONS.config);
  config.set(GUIDS.profileBaseline, o.profileGUID);
  u32("gopLength", gop);
  u32("frameIntervalP", 1); // IPP: no B-frames
  if (s.still) {
    u32("rcParams.rateControlMode", NV.RC_CONSTQP);
    u32("rcParams.constQP.qpInterP", STILL_QP);
    u32("rcParams.constQP.qpInterB", STILL_QP);
    u32("rcParams.constQP.qpIntra", STILL_QP);
  } else {
    const bitrate = Math.round(s.bitrate);
    // About one frame and a half of VBV, as the libx264 path: low latency, no long bursts.
    const vbv = Math.max(Math.round(s.bitrate / s.fps * 1.5), 100_000);
    u32("rcParams.rateControlMode", NV.RC_CBR);
    u32("rcParams.averageBitRate", bitrate);
    u32("rcParams.maxBitRate", bitrate);
    u32("rcParams.vbvBufferSize", vbv);
    u32("rcParams.vbvInitialDelay", vbv);
  }
  const rcBits = v.getUint32(o["rcParams.bits"], true);
  u32(
    "rcParams.bits",
    (rcBits & ~NV.RC_BIT_ENABLE_LOOKAHEAD) | NV.RC_BIT_ZERO_REORDER_DELAY,
  );
  const bits = v.getUint32(o[`${h264}bits`], true);
  u32(
    `${h264}bits`,
    (bits & ~(NV.H264_BIT_OUTPUT_AUD | NV.H264_BIT_DISABLE_SPSPPS)) |
      NV.H264_BIT_REPEAT_SPSPPS,
  );
  u32(`${h264}level`, NV.LEVEL_AUTOSELECT);
  u32(`${h264}idrPeriod`, gop);
  u32(`${h264}entropyCodingMode`, NV.ENTROPY_CAVLC);
  u32(`${h264}chromaFormatIDC`, 1);
  u32(`${h264}sliceMode`, 0);
  u32(`${h264}sliceModeData`, 0);
  // The input is BT.709 limited range (the GPU path's, and rgbaToYuv's): say so.
  u32(`${vui}videoSignalTypePresentFlag`, 1);
  u32(`${vui}videoFormat`, 5); // unspecified
  u32(`${vui}videoFullRangeFlag`, 0);
  u32(`${vui}colourDescriptionPresentFlag`, 1);
  u32(`${vui}colourPrimaries`, 1); // BT.709
  u32(`${vui}transferCharacteristics`, 13); // sRGB (IEC 61966-2-1), as the libx264 path
  u32(`${vui}colourMatrix`, 1); // BT.709
}

/**
 * An NVENC H.264 encoder for one size: its own CUDA context, encode
 * session, NV12 input buffer and bitstream buffer.
 *
 * @example
 * ```ts ignore
 * const enc = await NvencEncoder.open({ width: 1280, height: 720, fps: 60, bitrate: 4e6, gop: 240, preset: "ultrafast" });
 * const chunk = await enc.encode({ data: nv12, width: 1280, height: 720, layout: "nv12" }, true);
 * console.log(enc.codec, chunk?.keyframe); // avc1.42C01F true (on hardware: whatever level it picks)
 * await enc.close();
 * ```
 */
export class NvencEncoder {
  /** The settings it was opened with. */
  readonly settings: H264Settings;
  /** The codec string from the real SPS (known after the first keyframe; a default before). */
  codec = "avc1.42C01F";
  /** Milliseconds of the last conversion and copy into the input buffer. */
  convertMs = 0;
  /** The row pitch of the input buffer, as the driver last returned it (0 before the first frame). */
  pitch = 0;
  /** The driver's NVENC API version. */
  readonly driverApi: string;
  #driver: NvencDriver;
  #session: Deno.PointerObject;
  #calls: Calls;
  #input: Deno.PointerValue = null;
  #output: Deno.PointerValue = null;
  // Kept alive: the driver holds a pointer to it from initialisation on.
  #config: Uint8Array;
  #lockIn = new Uint8Array(LOCK_INPUT_BUFFER.size);
  #pic = new Uint8Array(PIC_PARAMS.size);
  #lockOut = new Uint8Array(LOCK_BITSTREAM.size);
  #frames = 0;
  #closed = false;
  #busy: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | null = null;

  private constructor(settings: H264Settings, options: NvencOptions) {
    const { width, height } = settings;
    if (
      !Number.isInteger(width) || !Number.isInteger(height) || width < 2 ||
      height < 2 || width % 2 || height % 2
    ) {
      throw new RangeError(
        `NVENC takes NV12, which needs even sizes; got ${width}x${height}`,
      );
    }
    this.settings = settings;
    const driver = NvencDriver.load(options.libraries);
    this.#driver = driver;
    this.driverApi = driver.driverApi;
    let session: Deno.PointerObject | null = null;
    try {
      session = driver.openSession();
      this.#session = session;
      this.#calls = bind(driver);
      this.#config = this.#presetConfig();
      editConfig(this.#config, settings);
      this.#initialize();
      this.#createBuffers();
    } catch (err) {
      try {
        if (session) this.#destroy(session);
      } finally {
        driver.close();
      }
      throw err;
    }
  }

  /**
   * Open an encoder. Rejects with `NvencUnavailable` (what failed, with the
   * driver's status) when the driver is missing or refuses, or a
   * `RangeError` for odd sizes.
   */
  static open(
    settings: H264Settings,
    options: NvencOptions = {},
  ): Promise<NvencEncoder> {
    try {
      return Promise.resolve(new NvencEncoder(settings, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The low-latency HQ preset's configuration, as the driver fills it. */
  #presetConfig(): Uint8Array {
    const preset = new Uint8Array(PRESET_CONFIG.size);
    const v = new DataView(preset.buffer);
    v.setUint32(
      PRESET_CONFIG.offsets.version,
      STRUCT_VERSIONS.presetConfig,
      true,
    );
    v.setUint32(
      PRESET_CONFIG.offsets["presetCfg.version"],
      STRUCT_VERSIONS.config,
      true,
    );
    check(
      this.#calls.getPresetConfig.call(
        this.#session,
        GUIDS.codecH264,
        GUIDS.presetLowLatencyHq,
        preset,
      ),
      "nvEncGetEncodePresetConfig",
    );
    const at = PRESET_CONFIG.offsets.presetCfg;
    return preset.slice(at, at + CONFIG.size);
  }

  #initialize(): void {
    const s = this.settings;
    const init = new Uint8Array(INITIALIZE_PARAMS.size);
    const v = new DataView(init.buffer);
    const o = INITIALIZE_PARAMS.offsets;
    v.setUint32(o.version, STRUCT_VERSIONS.initialize, true);
    init.set(GUIDS.codecH264, o.encodeGUID);
    init.set(GUIDS.presetLowLatencyHq, o.presetGUID);
    v.setUint32(o.encodeWidth, s.width, true);
    v.setUint32(o.encodeHeight, s.height, true);
    v.setUint32(o.darWidth, s.width, true);
    v.setUint32(o.darHeight, s.height, true);
    v.setUint32(o.frameRateNum, Math.max(1, Math.round(s.fps * 1000)), true);
    v.setUint32(o.frameRateDen, 1000, true);
    v.setUint32(o.enableEncodeAsync, 0, true);
    v.setUint32(o.enablePTD, 1, true); // the encoder decides picture types
    setPointer(v, o.encodeConfig, Deno.UnsafePointer.of(this.#config));
    v.setUint32(o.maxEncodeWidth, s.width, true);
    v.setUint32(o.maxEncodeHeight, s.height, true);
    check(
      this.#calls.initialize.call(this.#session, init),
      "nvEncInitializeEncoder",
    );
  }

  #createBuffers(): void {
    const s = this.settings;
    const input = new Uint8Array(CREATE_INPUT_BUFFER.size);
    const iv = new DataView(input.buffer);
    const io = CREATE_INPUT_BUFFER.offsets;
    iv.setUint32(io.version, STRUCT_VERSIONS.createInput, true);
    iv.setUint32(io.width, s.width, true);
    iv.setUint32(io.height, s.height, true);
    iv.setUint32(io.bufferFmt, NV.BUFFER_FORMAT_NV12, true);
    check(
      this.#calls.createInput.call(this.#session, input),
      "nvEncCreateInputBuffer",
    );
    this.#input = pointerAt(iv, io.inputBuffer);
    const out = new Uint8Array(CREATE_BITSTREAM_BUFFER.size);
    const ov = new DataView(out.buffer);
    const oo = CREATE_BITSTREAM_BUFFER.offsets;
    ov.setUint32(oo.version, STRUCT_VERSIONS.createBitstream, true);
    check(
      this.#calls.createBitstream.call(this.#session, out),
      "nvEncCreateBitstreamBuffer",
    );
    this.#output = pointerAt(ov, oo.bitstreamBuffer);
  }

  /**
   * Encode one picture; `keyframe` forces an IDR (with SPS and PPS). Calls
   * are serialised. Resolves to null when the encoder produced nothing.
   */
  encode(picture: RawPicture, keyframe: boolean): Promise<H264Chunk | null> {
    const run = this.#busy.then(() => this.#encode(picture, keyframe));
    this.#busy = run.catch(() => {});
    return run;
  }

  #encode(picture: RawPicture, keyframe: boolean): H264Chunk | null {
    if (this.#closed) throw new Error("encoder closed");
    const { width, height } = this.settings;
    if (picture.width !== width || picture.height !== height) {
      throw new RangeError(
        `picture is ${picture.width}x${picture.height}, encoder is ${width}x${height}`,
      );
    }
    const calls = this.#calls;
    const session = this.#session;
    // Lock the input buffer, copy the picture in row by row at its pitch.
    this.#lockIn.fill(0);
    const li = new DataView(this.#lockIn.buffer);
    li.setUint32(
      LOCK_INPUT_BUFFER.offsets.version,
      STRUCT_VERSIONS.lockInput,
      true,
    );
    setPointer(li, LOCK_INPUT_BUFFER.offsets.inputBuffer, this.#input);
    check(calls.lockInput.call(session, this.#lockIn), "nvEncLockInputBuffer");
    const t = performance.now();
    try {
      const pitch = li.getUint32(LOCK_INPUT_BUFFER.offsets.pitch, true);
      const data = pointerAt(li, LOCK_INPUT_BUFFER.offsets.bufferDataPtr);
      if (!data || pitch < width) {
        throw new NvencUnavailable(
          `nvEncLockInputBuffer returned no buffer or a pitch (${pitch}) under the width`,
        );
      }
      this.pitch = pitch;
      const dst = new Uint8Array(
        Deno.UnsafePointerView.getArrayBuffer(data, pitch * height * 3 / 2),
      );
      writeNv12(dst, pitch, picture);
    } finally {
      check(
        calls.unlockInput.call(session, this.#input),
        "nvEncUnlockInputBuffer",
      );
    }
    this.convertMs = performance.now() - t;
    const n = this.#frames++;
    this.#pic.fill(0);
    const pv = new DataView(this.#pic.buffer);
    const po = PIC_PARAMS.offsets;
    pv.setUint32(po.version, STRUCT_VERSIONS.picParams, true);
    pv.setUint32(po.inputWidth, width, true);
    pv.setUint32(po.inputHeight, height, true);
    pv.setUint32(po.inputPitch, this.pitch, true);
    pv.setUint32(
      po.encodePicFlags,
      keyframe ? NV.PIC_FLAG_FORCEIDR | NV.PIC_FLAG_OUTPUT_SPSPPS : 0,
      true,
    );
    pv.setUint32(po.frameIdx, n >>> 0, true);
    pv.setBigUint64(po.inputTimeStamp, BigInt(n), true);
    pv.setBigUint64(
      po.inputDuration,
      BigInt(Math.round(1e6 / this.settings.fps)),
      true,
    );
    setPointer(pv, po.inputBuffer, this.#input);
    setPointer(pv, po.outputBitstream, this.#output);
    pv.setUint32(po.bufferFmt, NV.BUFFER_FORMAT_NV12, true);
    pv.setUint32(po.pictureStruct, NV.PIC_STRUCT_FRAME, true);
    const r = calls.encodePicture.call(session, this.#pic);
    if (r === NV.ERR_NEED_MORE_INPUT) return null; // buffered (never, without B-frames)
    check(r, "nvEncEncodePicture");
    // Lock the bitstream (waits for the encode), copy it out, unlock.
    this.#lockOut.fill(0);
    const lo = new DataView(this.#lockOut.buffer);
    lo.setUint32(
      LOCK_BITSTREAM.offsets.version,
      STRUCT_VERSIONS.lockBitstream,
      true,
    );
    setPointer(lo, LOCK_BITSTREAM.offsets.outputBitstream, this.#output);
    check(
      calls.lockBitstream.call(session, this.#lockOut),
      "nvEncLockBitstream",
    );
    let out: Uint8Array;
    try {
      const size = lo.getUint32(
        LOCK_BITSTREAM.offsets.bitstreamSizeInBytes,
        true,
      );
      const ptr = pointerAt(lo, LOCK_BITSTREAM.offsets.bitstreamBufferPtr);
      out = new Uint8Array(size);
      if (size > 0) {
        if (!ptr) {
          throw new NvencUnavailable("nvEncLockBitstream returned no data");
        }
        new Deno.UnsafePointerView(ptr).copyInto(out);
      }
    } finally {
      check(
        calls.unlockBitstream.call(session, this.#output),
        "nvEncUnlockBitstream",
      );
    }
    if (out.length === 0) return null;
    const isKey = nalTypes(out).includes(5);
    if (isKey) this.codec = codecFromAnnexB(out) ?? this.codec;
    return { data: out, keyframe: isKey };
  }

  /** Flush, free the buffers, the session and the CUDA context once the encode in flight (if any) is done. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const free = () => this.#destroy(this.#session);
    // Never rejects: a display closing its encoders must not fail on one.
    this.#closing = this.#busy.then(free, free).catch(() => {}).finally(() =>
      this.#driver.close()
    ).catch(() => {});
    return this.#closing;
  }

  /** Tear down whatever exists; keeps going past failures. */
  #destroy(session: Deno.PointerObject): void {
    const calls = this.#calls as Calls | undefined;
    if (calls && (this.#input || this.#output)) {
      // Flush (an end-of-stream picture), as the header asks before freeing.
      const eos = new Uint8Array(PIC_PARAMS.size);
      new DataView(eos.buffer).setUint32(
        PIC_PARAMS.offsets.version,
        STRUCT_VERSIONS.picParams,
        true,
      );
      new DataView(eos.buffer).setUint32(
        PIC_PARAMS.offsets.encodePicFlags,
        NV.PIC_FLAG_EOS,
        true,
      );
      calls.encodePicture.call(session, eos);
    }
    if (calls && this.#input) calls.destroyInput.call(session, this.#input);
    if (calls && this.#output) {
      calls.destroyBitstream.call(session, this.#output);
    }
    this.#input = this.#output = null;
    this.#driver.destroySession(session);
  }
}

/**
 * Write a picture as NV12 into a buffer whose rows are `pitch` bytes apart
 * (luma rows, then the interleaved chroma rows from `pitch * height` on).
 * NV12 is copied; I420 is interleaved; RGBA, RGB and gray are converted
 * with `rgbaToYuv` (BT.709 limited range).
 *
 * @example
 * ```ts
 * import { writeNv12 } from "./encoder.ts";
 * const dst = new Uint8Array(4 * 2 * 3 / 2);
 * writeNv12(dst, 4, { data: new Uint8Array(2 * 2 * 3 / 2).fill(7), width: 2, height: 2, layout: "nv12" });
 * console.log(dst[0], dst[2], dst[8]); // 7 0 7
 * ```
 */
export function writeNv12(
  dst: Uint8Array,
  pitch: number,
  picture: RawPicture,
): void {
  const { width: w, height: h, layout } = picture;
  const src = picture.data;
  const ySize = w * h;
  const need = layout === "rgba"
    ? ySize * 4
    : layout === "rgb"
    ? ySize * 3
    : layout === "gray"
    ? ySize
    : ySize * 3 / 2;
  if (src.length < need) {
    throw new RangeError(
      `a ${w}x${h} ${layout} picture needs ${need} bytes, got ${src.length}`,
    );
  }
  if (dst.length < pitch * h * 3 / 2) {
    throw new RangeError(`the input buffer is too small for pitch ${pitch}`);
  }
  let nv12: Uint8Array;
  if (layout === "nv12") nv12 = src;
  else if (layout === "i420") {
    for (let y = 0; y < h; y++) {
      dst.set(src.subarray(y * w, y * w + w), y * pitch);
    }
    const cw = w / 2, ch = h / 2, u = ySize, v = ySize + cw * ch;
    for (let cy = 0; cy < ch; cy++) {
      const row = pitch * h + cy * pitch;
      for (let cx = 0; cx < cw; cx++) {
        dst[row + 2 * cx] = src[u + cy * cw + cx];
        dst[row + 2 * cx + 1] = src[v + cy * cw + cx];
      }
    }
    return;
  } else nv12 = rgbaToYuv(toRgba(src, w, h, layout), w, h, "nv12");
  if (pitch === w) {
    dst.set(nv12.subarray(0, ySize * 3 / 2));
    return;
  }
  for (let y = 0; y < h; y++) {
    dst.set(nv12.subarray(y * w, y * w + w), y * pitch);
  }
  for (let y = 0; y < h / 2; y++) {
    dst.set(
      nv12.subarray(ySize + y * w, ySize + y * w + w),
      pitch * h + y * pitch,
    );
  }
}

function toRgba(
  src: Uint8Array,
  w: number,
  h: number,
  layout: RawPicture["layout"],
): Uint8Array {
  if (layout === "rgba") return src;
  const n = layout === "rgb" ? 3 : 1;
  const out = new Uint8Array(w * h * 4);
  for (let i = 0, j = 0; i < w * h; i++, j += n) {
    out[i * 4] = src[j];
    out[i * 4 + 1] = src[n === 3 ? j + 1 : j];
    out[i * 4 + 2] = src[n === 3 ? j + 2 : j];
    out[i * 4 + 3] = 255;
  }
  return out;
}
