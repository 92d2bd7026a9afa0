// NVENC through FFI: structure layouts against the public nvEncodeAPI.h (API 9.0; sizes and
// offsets computed by hand from its field lists, and gcc's layout of the same fields in the fake
// driver), version words, API negotiation, the loader's error path on machines without the
// NVIDIA driver (all of CI), and the encode loop against the fake driver built here with gcc
// (tests/fixtures/fake_nvenc): it checks our side of the ABI and writes an I_PCM stream, so a
// decoded picture must equal the input bit for bit. The fake is not NVENC: real encoding has not
// run on NVIDIA hardware.

import assert from "node:assert/strict";
import {
  type CStruct,
  layoutStruct,
  layoutUnion,
} from "../src/encoders/nvenc/c_layout.ts";
import {
  apiVersion,
  CODEC_CONFIG,
  CODEC_PIC_PARAMS,
  CONFIG,
  CREATE_BITSTREAM_BUFFER,
  CREATE_INPUT_BUFFER,
  FUNCTION_LIST,
  FUNCTION_SLOTS,
  guid,
  GUIDS,
  H264_CONFIG,
  H264_VUI,
  INITIALIZE_PARAMS,
  LOCK_BITSTREAM,
  LOCK_INPUT_BUFFER,
  negotiate,
  OPEN_SESSION_PARAMS,
  PIC_PARAMS,
  PIC_PARAMS_H264,
  PRESET_CONFIG,
  RC_PARAMS,
  STRUCT_VERSIONS,
  structVersion,
} from "../src/encoders/nvenc/abi.ts";
import {
  nvencLibraries,
  nvencLoadError,
  NvencUnavailable,
  probeNvenc,
  statusName,
} from "../src/encoders/nvenc/driver.ts";
import { NvencEncoder, writeNv12 } from "../src/encoders/nvenc/encoder.ts";
import { H264Encoders } from "../src/encoders/h264_encoders.ts";
import {
  type H264Settings,
  probeH264,
  type RawPicture,
} from "../src/encoders/h264.ts";
import { codecFromAnnexB, nalTypes } from "../src/encoders/annexb.ts";
import { resolveDisplayOptions } from "../src/options.ts";
import { systemClock } from "../src/clock.ts";
import { rgbaToYuv } from "../src/yuv.ts";
import {
  buildFakeNvenc,
  decodeNv12,
  firstDiff,
  withEnv,
} from "./_fake_nvenc.ts";
import { pattern } from "./_h264.ts";

Deno.test("nvenc: the C layout rules (natural alignment, padded size, nesting, unions)", () => {
  assert.deepEqual(layoutStruct([["a", "u32"], ["p", "ptr"]]), {
    size: 16,
    offsets: { a: 0, p: 8 },
    align: 8,
  });
  assert.equal(
    layoutStruct([["a", "u32"], ["b", "u32"], ["p", "ptr"]]).offsets.p,
    8,
  );
  assert.equal(
    layoutStruct([["p", "ptr"], ["a", "u32"]]).size,
    16,
    "tail padding",
  );
  assert.equal(layoutStruct([["a", "u32", 3]]).size, 12);
  // u8/u16 pack tightly; a GUID is 16 bytes aligned to 4.
  assert.deepEqual(
    layoutStruct([["a", "u8"], ["b", "u8"], ["c", "u16"], ["d", "u8"]]),
    { size: 6, offsets: { a: 0, b: 1, c: 2, d: 4 }, align: 2 },
  );
  assert.deepEqual(layoutStruct([["v", "u32"], ["g", "guid"], ["w", "u32"]]), {
    size: 24,
    offsets: { v: 0, g: 4, w: 20 },
    align: 4,
  });
  // A nested structure is aligned to its own alignment; its fields are listed as outer.inner.
  const inner = layoutStruct([["x", "u32"], ["p", "ptr"]]);
  assert.deepEqual(layoutStruct([["a", "u32"], ["s", inner], ["b", "u8"]]), {
    size: 32,
    offsets: { a: 0, s: 8, "s.x": 8, "s.p": 16, b: 24 },
    align: 8,
  });
  // A union is as big as its largest member, rounded to the largest alignment.
  assert.deepEqual(layoutUnion([["s", inner], ["w", "u32", 5]]), {
    size: 24,
    offsets: { s: 0, "s.x": 0, "s.p": 8, w: 0 },
    align: 8,
  });
});

Deno.test("nvenc: GUIDs are stored as C does (Data1-3 little-endian, Data4 in order)", () => {
  assert.deepEqual(
    [...guid("6BC82762-4E63-4CA4-AA85-1E50F321F6BF")],
    [
      0x62,
      0x27,
      0xc8,
      0x6b,
      0x63,
      0x4e,
      0xa4,
      0x4c,
      0xaa,
      0x85,
      0x1e,
      0x50,
      0xf3,
      0x21,
      0xf6,
      0xbf,
    ],
  );
  assert.equal(GUIDS.presetLowLatencyHq[0], 0xb9);
  assert.equal(GUIDS.profileBaseline[15], 0x6a);
  assert.throws(() => guid("not-a-guid"), TypeError);
});

Deno.test("nvenc: NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS matches the header (1552 bytes)", () => {
  // From nvEncodeAPI.h: u32 version, u32 deviceType, void* device, void* reserved,
  // u32 apiVersion, u32 reserved1[253], void* reserved2[64].
  assert.equal(OPEN_SESSION_PARAMS.size, 1552);
  assert.deepEqual(OPEN_SESSION_PARAMS.offsets, {
    version: 0,
    deviceType: 4,
    device: 8,
    reserved: 16,
    apiVersion: 24,
    reserved1: 28,
    reserved2: 1040,
  });
});

Deno.test("nvenc: NV_ENCODE_API_FUNCTION_LIST matches the header (37 entry slots + 281 reserved)", () => {
  assert.equal(FUNCTION_SLOTS.length, 37);
  assert.equal(FUNCTION_LIST.size, 8 + (37 + 281) * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncOpenEncodeSession, 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncGetEncodePresetConfig, 8 + 10 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncInitializeEncoder, 8 + 11 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncCreateInputBuffer, 8 + 12 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncEncodePicture, 8 + 16 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncLockBitstream, 8 + 17 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncLockInputBuffer, 8 + 19 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncUnlockInputBuffer, 8 + 20 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncDestroyEncoder, 8 + 27 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncOpenEncodeSessionEx, 8 + 29 * 8);
  assert.equal(FUNCTION_LIST.offsets.reserved2, 8 + 37 * 8);
});

// Sizes and offsets below are computed by hand from the field lists of nvEncodeAPI.h (API 9.0):
// each field at the next multiple of its alignment (u8 1, u16 2, u32/enum/bitfield word 4,
// GUID 4, u64/pointer 8), arrays as count x size, the size rounded up to the largest alignment.

Deno.test("nvenc: NV_ENC_RC_PARAMS (128 bytes) and NV_ENC_CONFIG_H264_VUI_PARAMETERS (112)", () => {
  // version 0, rateControlMode 4, constQP (3 x u32) 8, averageBitRate 20 ... vbvInitialDelay 32,
  // the bitfield word 36, minQP 40, maxQP 52, initialRCQP 64, temporallayerIdxMask 76,
  // temporalLayerQP[8] 80, targetQuality 88, targetQualityLSB 89, lookaheadDepth (u16) 90,
  // reserved1 92, qpMapMode 96, reserved[7] 100 → 128.
  assert.equal(RC_PARAMS.size, 128);
  assert.equal(RC_PARAMS.align, 4);
  const o = RC_PARAMS.offsets;
  assert.deepEqual(
    [
      o.rateControlMode,
      o["constQP.qpIntra"],
      o.averageBitRate,
      o.maxBitRate,
      o.vbvBufferSize,
      o.vbvInitialDelay,
      o.bits,
      o.minQP,
      o.temporalLayerQP,
      o.targetQualityLSB,
      o.lookaheadDepth,
      o.qpMapMode,
      o.reserved,
    ],
    [4, 16, 20, 24, 28, 32, 36, 40, 80, 89, 90, 96, 100],
  );
  // 13 u32 flags and values, then reserved[15].
  assert.equal(H264_VUI.size, 28 * 4);
  assert.equal(H264_VUI.offsets.colourMatrix, 8 * 4);
  assert.equal(H264_VUI.offsets.bitstreamRestrictionFlag, 12 * 4);
});

Deno.test("nvenc: NV_ENC_CONFIG_H264 (1792), the NV_ENC_CODEC_CONFIG union (1792), NV_ENC_CONFIG (3584)", () => {
  // The bitfield word 0, level 4, idrPeriod 8, ... sliceModeData 68 (18 u32), the VUI 72-184,
  // ltrNumFrames 184 ... useBFramesAsRef 200, reserved1[269] 204-1280, reserved2[64] 1280-1792.
  assert.equal(H264_CONFIG.size, 1792);
  const h = H264_CONFIG.offsets;
  assert.deepEqual(
    [
      h.level,
      h.idrPeriod,
      h.entropyCodingMode,
      h.maxNumRefFrames,
      h.sliceMode,
      h.sliceModeData,
      h.h264VUIParameters,
      h["h264VUIParameters.colourMatrix"],
      h.ltrNumFrames,
      h.chromaFormatIDC,
      h.useBFramesAsRef,
      h.reserved1,
      h.reserved2,
    ],
    [4, 8, 44, 60, 64, 68, 72, 104, 184, 192, 200, 204, 1280],
  );
  // The union's members: H.264 1792 (largest), HEVC 1560, the ME-only ones 1536, reserved[320] 1280.
  assert.equal(CODEC_CONFIG.size, 1792);
  assert.equal(CODEC_CONFIG.align, 8);
  // version 0, profileGUID 4-20, gopLength 20, frameIntervalP 24, monoChromeEncoding 28,
  // frameFieldMode 32, mvPrecision 36, rcParams 40-168, the union 168-1960 (168 is 8-aligned),
  // reserved[278] 1960-3072, reserved2[64] 3072-3584.
  assert.equal(CONFIG.size, 3584);
  const c = CONFIG.offsets;
  assert.deepEqual(
    [
      c.profileGUID,
      c.gopLength,
      c.frameIntervalP,
      c.mvPrecision,
      c.rcParams,
      c["rcParams.averageBitRate"],
      c.encodeCodecConfig,
      c["encodeCodecConfig.h264Config.idrPeriod"],
      c["encodeCodecConfig.h264Config.h264VUIParameters.colourMatrix"],
      c.reserved,
      c.reserved2,
    ],
    [4, 20, 24, 36, 40, 60, 168, 176, 272, 1960, 3072],
  );
});

Deno.test("nvenc: NV_ENC_PRESET_CONFIG (5128) and NV_ENC_INITIALIZE_PARAMS (1808)", () => {
  // version 0, presetCfg 8 (8-aligned) - 3592, reserved1[255] 3592-4612, reserved2 4616-5128.
  assert.equal(PRESET_CONFIG.size, 5128);
  assert.equal(PRESET_CONFIG.offsets.presetCfg, 8);
  assert.equal(PRESET_CONFIG.offsets["presetCfg.version"], 8);
  assert.equal(PRESET_CONFIG.offsets.reserved1, 3592);
  assert.equal(PRESET_CONFIG.offsets.reserved2, 4616);
  // version 0, encodeGUID 4, presetGUID 20, encodeWidth 36 ... enablePTD 64, the bitfield word 68,
  // privDataSize 72, privData 80, encodeConfig 88, maxEncodeWidth 96, maxEncodeHeight 100,
  // maxMEHintCountsPerBlock[2] (16 bytes each) 104, reserved[289] 136-1292, reserved2 1296-1808.
  assert.equal(INITIALIZE_PARAMS.size, 1808);
  const o = INITIALIZE_PARAMS.offsets;
  assert.deepEqual(
    [
      o.encodeGUID,
      o.presetGUID,
      o.encodeWidth,
      o.encodeHeight,
      o.frameRateNum,
      o.frameRateDen,
      o.enablePTD,
      o.privData,
      o.encodeConfig,
      o.maxEncodeWidth,
      o.maxMEHintCountsPerBlock,
      o.reserved,
      o.reserved2,
    ],
    [4, 20, 36, 40, 52, 56, 64, 80, 88, 96, 104, 136, 1296],
  );
});

Deno.test("nvenc: buffer structures: CREATE_INPUT_BUFFER, CREATE_BITSTREAM_BUFFER (776), LOCK_INPUT_BUFFER, LOCK_BITSTREAM (1544)", () => {
  assert.equal(CREATE_INPUT_BUFFER.size, 776);
  assert.deepEqual(
    [
      CREATE_INPUT_BUFFER.offsets.bufferFmt,
      CREATE_INPUT_BUFFER.offsets.inputBuffer,
      CREATE_INPUT_BUFFER.offsets.pSysMemBuffer,
      CREATE_INPUT_BUFFER.offsets.reserved1,
      CREATE_INPUT_BUFFER.offsets.reserved2,
    ],
    [16, 24, 32, 40, 272],
  );
  assert.equal(CREATE_BITSTREAM_BUFFER.size, 776);
  assert.equal(CREATE_BITSTREAM_BUFFER.offsets.bitstreamBuffer, 16);
  assert.equal(CREATE_BITSTREAM_BUFFER.offsets.reserved2, 264);
  assert.equal(LOCK_INPUT_BUFFER.size, 1544);
  assert.deepEqual(
    [
      LOCK_INPUT_BUFFER.offsets.inputBuffer,
      LOCK_INPUT_BUFFER.offsets.bufferDataPtr,
      LOCK_INPUT_BUFFER.offsets.pitch,
      LOCK_INPUT_BUFFER.offsets.reserved2,
    ],
    [8, 16, 24, 1032],
  );
  // version 0, the bitfield word 4, outputBitstream 8, sliceOffsets 16, frameIdx 24 ...
  // bitstreamSizeInBytes 36, outputTimeStamp 40, outputDuration 48, bitstreamBufferPtr 56,
  // pictureType 64, ... reserved[13] 88, intraMBCount 140 ... reserved1[219] 156, reserved2 1032.
  assert.equal(LOCK_BITSTREAM.size, 1544);
  const o = LOCK_BITSTREAM.offsets;
  assert.deepEqual(
    [
      o.outputBitstream,
      o.frameIdx,
      o.bitstreamSizeInBytes,
      o.outputTimeStamp,
      o.bitstreamBufferPtr,
      o.pictureType,
      o.intraMBCount,
      o.reserved1,
      o.reserved2,
    ],
    [8, 24, 36, 40, 56, 64, 140, 156, 1032],
  );
});

Deno.test("nvenc: NV_ENC_PIC_PARAMS (3344) with the NV_ENC_CODEC_PIC_PARAMS union (1536)", () => {
  // NV_ENC_PIC_PARAMS_H264: five u32, the bitfield word 20, sliceTypeData 24, ..., seiPayloadArray
  // 40, sliceMode 48 ... forceIntraSliceIdx 72, reserved[242] 80, reserved2[61] 1048 → 1536.
  assert.equal(PIC_PARAMS_H264.size, 1536);
  assert.equal(PIC_PARAMS_H264.offsets.seiPayloadArray, 40);
  assert.equal(PIC_PARAMS_H264.offsets.forceIntraSliceIdx, 72);
  // The union: H.264 1536, HEVC 1536, reserved[256] 1024.
  assert.equal(CODEC_PIC_PARAMS.size, 1536);
  // version 0, inputWidth 4, inputHeight 8, inputPitch 12, encodePicFlags 16, frameIdx 20,
  // inputTimeStamp 24, inputDuration 32, inputBuffer 40, outputBitstream 48, completionEvent 56,
  // bufferFmt 64, pictureStruct 68, pictureType 72, codecPicParams 80-1616,
  // meHintCountsPerBlock[2] 1616, meExternalHints 1648, reserved1[6] 1656, reserved2[2] 1680,
  // qpDeltaMap 1696, qpDeltaMapSize 1704, reservedBitFields 1708, meHintRefPicDist[2] (u16) 1712,
  // reserved3[286] 1716-2860, reserved4[60] 2864-3344.
  assert.equal(PIC_PARAMS.size, 3344);
  const o = PIC_PARAMS.offsets;
  assert.deepEqual(
    [
      o.inputPitch,
      o.encodePicFlags,
      o.inputTimeStamp,
      o.inputBuffer,
      o.outputBitstream,
      o.bufferFmt,
      o.pictureStruct,
      o.codecPicParams,
      o.meHintCountsPerBlock,
      o.qpDeltaMap,
      o.meHintRefPicDist,
      o.reserved3,
      o.reserved4,
    ],
    [12, 16, 24, 40, 48, 64, 68, 80, 1616, 1696, 1712, 1716, 2864],
  );
});

Deno.test("nvenc: version words, status names and API negotiation", () => {
  assert.equal(apiVersion(9, 0), 9);
  assert.equal(apiVersion(12, 1), (12 | (1 << 24)) >>> 0);
  assert.equal(structVersion(1), 0x70010009);
  assert.equal(structVersion(2), 0x70020009);
  assert.equal(STRUCT_VERSIONS.config, 0xf0070009);
  assert.equal(STRUCT_VERSIONS.initialize, 0xf0050009);
  assert.equal(STRUCT_VERSIONS.presetConfig, 0xf0040009);
  assert.equal(STRUCT_VERSIONS.picParams, 0xf0040009);
  assert.equal(STRUCT_VERSIONS.lockBitstream, 0x70010009);
  assert.equal(statusName(8), "NV_ENC_ERR_INVALID_PARAM (8)");
  assert.equal(statusName(17), "NV_ENC_ERR_NEED_MORE_INPUT (17)");
  assert.equal(negotiate((12 << 4) | 2), "12.2");
  assert.equal(negotiate(9 << 4), "9.0");
  assert.throws(
    () => negotiate((8 << 4) | 1),
    /supports NVENC API 8\.1; this library needs 9\.0/,
  );
});

Deno.test("nvenc: library paths come from the option, then RFB_CUDA_LIBRARY / RFB_NVENC_LIBRARY, then the sonames", async () => {
  await withEnv({ RFB_CUDA_LIBRARY: "/x/cuda.so" }, () => {
    assert.deepEqual(nvencLibraries(), {
      cuda: "/x/cuda.so",
      encode: Deno.env.get("RFB_NVENC_LIBRARY") ?? "libnvidia-encode.so.1",
    });
    assert.equal(nvencLibraries({ cuda: "/y.so" }).cuda, "/y.so");
  });
  assert.match(
    nvencLoadError({ cuda: "/nonexistent/libcuda.so.1" }) ?? "",
    /\/nonexistent\/libcuda\.so\.1 could not be loaded/,
  );
});

Deno.test("nvenc: writeNv12 copies each layout row by row at the pitch", () => {
  const w = 4, h = 2, pitch = 7;
  const nv12 = Uint8Array.from({ length: w * h * 3 / 2 }, (_, i) => i + 1);
  const dst = new Uint8Array(pitch * h * 3 / 2);
  writeNv12(dst, pitch, { data: nv12, width: w, height: h, layout: "nv12" });
  assert.deepEqual(
    [...dst],
    [1, 2, 3, 4, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 9, 10, 11, 12, 0, 0, 0],
  );
  // I420 (Y, U, V planes) is interleaved into the UV rows.
  const i420 = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 30, 31]);
  dst.fill(0);
  writeNv12(dst, pitch, { data: i420, width: w, height: h, layout: "i420" });
  assert.deepEqual([...dst.subarray(pitch * h, pitch * h + w)], [
    20,
    30,
    21,
    31,
  ]);
  // RGBA goes through rgbaToYuv (BT.709).
  const white = new Uint8Array(w * h * 4).fill(255);
  writeNv12(dst, pitch, { data: white, width: w, height: h, layout: "rgba" });
  assert.equal(dst[0], 235);
  assert.equal(dst[pitch + 3], 235);
  assert.throws(
    () =>
      writeNv12(dst, pitch, {
        data: new Uint8Array(3),
        width: w,
        height: h,
        layout: "nv12",
      }),
    RangeError,
  );
});

Deno.test('options: encoder is "auto" by default and must be auto, nvenc or x264', () => {
  const defaults = { logger: () => {}, clock: systemClock };
  assert.equal(resolveDisplayOptions({}, "serve()", defaults).encoder, "auto");
  assert.equal(
    resolveDisplayOptions({ encoder: "x264" }, "serve()", defaults).encoder,
    "x264",
  );
  assert.throws(
    () =>
      resolveDisplayOptions(
        { encoder: "vaapi" as "auto" },
        "serve()",
        defaults,
      ),
    /serve\(\): option 'encoder' must be "auto", "nvenc" or "x264", got "vaapi"/,
  );
});

const driverPresent = nvencLoadError({
  cuda: "libcuda.so.1",
  encode: "libnvidia-encode.so.1",
}) === null;

Deno.test({
  name:
    "nvenc: without the NVIDIA driver the probe says so and H.264 stays on libx264",
  ignore: driverPresent,
  fn: () => {
    const probe = probeNvenc({
      cuda: "libcuda.so.1",
      encode: "libnvidia-encode.so.1",
    });
    assert.equal(probe.ok, false);
    assert.equal(probe.missing, true);
    assert.match(
      probe.reason,
      /libcuda\.so\.1 could not be loaded .*H\.264 uses libx264/,
    );
    const named = probeNvenc({
      cuda: "libdoes-not-exist.so",
      encode: "libnope.so",
    });
    assert.match(named.reason, /libdoes-not-exist\.so could not be loaded/);
  },
});

Deno.test({
  name:
    "nvenc: with the driver, API negotiation succeeds (an engine-less GPU refuses the session)",
  ignore: !driverPresent,
  fn: () => {
    const probe = probeNvenc();
    assert.match(probe.driverApi ?? "", /^\d+\.\d+$/, probe.reason);
    if (!probe.ok) assert.match(probe.reason, /encode session|CUDA/);
  },
});

// ---- against the fake driver ----

const fake = await buildFakeNvenc();
if (typeof fake === "string") {
  console.warn(`skipping fake-driver NVENC tests: ${fake}`);
}
const noFake = typeof fake === "string";
const x264 = await probeH264();
const F = fake as Exclude<typeof fake, string>;
const libraries = noFake ? {} : { cuda: F.cuda, encode: F.encode };

/** Nothing the fake handed out is still alive, and no session was destroyed with buffers in it. */
function assertAllFreed(what: string): void {
  assert.equal(
    F.liveObjects(),
    0,
    `${what}: sessions/buffers left in the fake`,
  );
  assert.equal(
    F.leaks(),
    0,
    `${what}: buffers still there at nvEncDestroyEncoder`,
  );
  assert.equal(F.liveContexts(), 0, `${what}: CUDA contexts left`);
}

function settings(
  width: number,
  height: number,
  more: Partial<H264Settings> = {},
): H264Settings {
  return {
    width,
    height,
    fps: 30,
    bitrate: 1e6,
    gop: 5,
    preset: "ultrafast",
    ...more,
  };
}

/** A deterministic NV12 picture that differs per `n` (every byte value shows up). */
function nv12Picture(w: number, h: number, n: number): Uint8Array {
  return Uint8Array.from(
    { length: w * h * 3 / 2 },
    (_, i) => (i * 7 + n * 31) & 255,
  );
}

Deno.test({
  name:
    "nvenc fake: gcc lays out every structure exactly as the TypeScript layouts do",
  ignore: noFake,
  fn: () => {
    const ours: Record<string, CStruct> = {
      OPEN_SESSION_PARAMS,
      FUNCTION_LIST,
      RC_PARAMS,
      H264_VUI,
      H264_CONFIG,
      CODEC_CONFIG,
      CONFIG,
      PRESET_CONFIG,
      INITIALIZE_PARAMS,
      CREATE_INPUT_BUFFER,
      CREATE_BITSTREAM_BUFFER,
      LOCK_INPUT_BUFFER,
      PIC_PARAMS_H264,
      PIC_PARAMS,
      LOCK_BITSTREAM,
    };
    const gccs = F.layouts();
    assert.deepEqual(Object.keys(gccs).sort(), Object.keys(ours).sort());
    let fields = 0;
    for (const [name, layout] of Object.entries(gccs)) {
      const { $size, ...offsets } = layout;
      assert.equal(ours[name].size, $size, `${name}: size`);
      for (const [field, offset] of Object.entries(offsets)) {
        assert.equal(ours[name].offsets[field], offset, `${name}.${field}`);
        fields++;
      }
    }
    assert.ok(fields > 200, `${fields} fields compared`);
  },
});

Deno.test({
  name:
    "nvenc fake: the probe negotiates, opens a session on a CUDA context and frees both",
  ignore: noFake,
  fn: async () => {
    const probe = probeNvenc(libraries);
    assert.equal(probe.ok, true, probe.reason);
    assert.equal(probe.driverApi, "12.2");
    assertAllFreed("probe");
    await withEnv({ FAKE_NVENC_MAX_VERSION: String((8 << 4) | 1) }, () => {
      const old = probeNvenc(libraries);
      assert.equal(old.ok, false);
      assert.equal(old.missing, false);
      assert.match(
        old.reason,
        /supports NVENC API 8\.1; this library needs 9\.0/,
      );
    });
    await withEnv({ FAKE_NVENC_FAIL: "open" }, () => {
      const refused = probeNvenc(libraries);
      assert.equal(refused.ok, false);
      assert.equal(refused.driverApi, "12.2");
      assert.match(
        refused.reason,
        /refused an encode session \(NV_ENC_ERR_NO_ENCODE_DEVICE \(1\)/,
      );
    });
    assertAllFreed(
      "a refused session (the driver hands one back: it must still be destroyed)",
    );
    await withEnv({ FAKE_CUDA_FAIL: "init" }, () => {
      assert.match(
        probeNvenc(libraries).reason,
        /cuInit failed \(CUDA error 100\)/,
      );
    });
    assertAllFreed("cuInit failing");
  },
});

Deno.test({
  name:
    "nvenc fake: NV12 in at the driver's pitch, Annex B out: SPS/PPS/IDR first, deltas, forced and periodic IDRs, exact pictures",
  ignore: noFake || !x264.ok,
  fn: async () => {
    // 70x38: not a multiple of 16 (cropping), and the fake's pitch is 192, not 70.
    const w = 70, h = 38;
    const enc = await NvencEncoder.open(settings(w, h, { gop: 5 }), {
      libraries,
    });
    const chunks: Uint8Array[] = [];
    const pictures: Uint8Array[] = [];
    const keyframes: boolean[] = [];
    try {
      for (let n = 0; n < 12; n++) {
        const data = nv12Picture(w, h, n);
        const chunk = await enc.encode({
          data,
          width: w,
          height: h,
          layout: "nv12",
        }, n === 2);
        assert.ok(chunk, `chunk ${n}`);
        assert.equal(
          chunk.keyframe,
          nalTypes(chunk.data).includes(5),
          `${n}: keyframe flag`,
        );
        assert.deepEqual(
          [...chunk.data.subarray(0, 4)],
          [0, 0, 0, 1],
          `${n}: 4-byte start code`,
        );
        chunks.push(chunk.data);
        pictures.push(data);
        keyframes.push(chunk.keyframe);
        if (chunk.keyframe) {
          assert.deepEqual(
            nalTypes(chunk.data),
            [7, 8, 5],
            `${n}: SPS, PPS, IDR`,
          );
        } else {assert.deepEqual(
            nalTypes(chunk.data),
            [1],
            `${n}: one non-IDR slice`,
          );}
      }
      assert.notEqual(enc.pitch, w, "the fake's pitch differs from the width");
      assert.equal(enc.pitch, 192);
      // IDR at 0, forced at 2, then every gop (5) frames after it: 7.
      assert.deepEqual(
        keyframes.flatMap((k, i) => (k ? [i] : [])),
        [0, 2, 7],
      );
      assert.equal(
        enc.codec,
        "avc1.42C01E",
        "constrained baseline, level 3.0 from the SPS",
      );
      assert.equal(codecFromAnnexB(chunks[0]), enc.codec);
      const decoded = await decodeNv12(chunks);
      assert.equal(
        decoded.length,
        chunks.length,
        "one picture per chunk, no delay",
      );
      for (const [i, d] of decoded.entries()) {
        assert.deepEqual([d.width, d.height], [w, h]);
        assert.equal(
          firstDiff(d.nv12, pictures[i]),
          -1,
          `picture ${i} is the input, bit for bit`,
        );
        assert.equal(d.colorSpace, 1, "VUI: BT.709 matrix");
        assert.equal(d.colorRange, 1, "VUI: limited range");
      }
    } finally {
      await enc.close();
    }
    assertAllFreed("after close");
    await assert.rejects(
      () =>
        enc.encode(
          { data: pictures[0], width: w, height: h, layout: "nv12" },
          false,
        ),
      /encoder closed/,
    );
  },
});

Deno.test({
  name:
    "nvenc fake: I420, RGBA, RGB and gray input arrive as the NV12 that rgbaToYuv makes",
  ignore: noFake || !x264.ok,
  fn: async () => {
    const w = 48, h = 32;
    const enc = await NvencEncoder.open(settings(w, h), { libraries });
    try {
      const rgba = pattern(w, h, 3);
      const want = rgbaToYuv(rgba, w, h, "nv12");
      const i420 = rgbaToYuv(rgba, w, h, "i420");
      const rgb = new Uint8Array(w * h * 3);
      const gray = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) {
        rgb.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
        gray[i] = rgba[i * 4 + 1];
      }
      const grayRgba = new Uint8Array(w * h * 4);
      for (let i = 0; i < w * h; i++) {
        grayRgba.set([gray[i], gray[i], gray[i], 255], i * 4);
      }
      const inputs: Array<[RawPicture["layout"], Uint8Array, Uint8Array]> = [
        ["i420", i420, want],
        ["rgba", rgba, want],
        ["rgb", rgb, want],
        ["gray", gray, rgbaToYuv(grayRgba, w, h, "nv12")],
      ];
      const chunks = [];
      for (const [layout, data] of inputs) {
        chunks.push(
          (await enc.encode({ data, width: w, height: h, layout }, false))!
            .data,
        );
      }
      const decoded = await decodeNv12(chunks);
      for (const [i, [layout, , expected]] of inputs.entries()) {
        assert.equal(firstDiff(decoded[i].nv12, expected), -1, layout);
      }
      assert.ok(enc.convertMs >= 0);
    } finally {
      await enc.close();
    }
    assertAllFreed("after close");
  },
});

Deno.test({
  name:
    "nvenc fake: a still encoder (constant QP) makes IDRs; odd and wrong sizes are refused",
  ignore: noFake,
  fn: async () => {
    const still = await NvencEncoder.open(settings(32, 32, { still: true }), {
      libraries,
    });
    try {
      const pic = {
        data: nv12Picture(32, 32, 1),
        width: 32,
        height: 32,
        layout: "nv12" as const,
      };
      for (let i = 0; i < 3; i++) {
        const chunk = await still.encode(pic, true);
        assert.deepEqual(nalTypes(chunk!.data), [7, 8, 5]);
      }
      await assert.rejects(
        () => still.encode({ ...pic, width: 16 }, false),
        /picture is 16x32, encoder is 32x32/,
      );
    } finally {
      await still.close();
    }
    await assert.rejects(
      () => NvencEncoder.open(settings(33, 32), { libraries }),
      /NVENC takes NV12, which needs even sizes; got 33x32/,
    );
    assertAllFreed("after close");
  },
});

Deno.test({
  name:
    "nvenc fake: a failing initialisation or encode says which call and status; nothing leaks",
  ignore: noFake,
  fn: async () => {
    await withEnv({ FAKE_NVENC_FAIL: "init" }, async () => {
      const err = await NvencEncoder.open(settings(32, 32), { libraries }).then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof NvencUnavailable);
      assert.equal(err.missing, false);
      assert.match(
        err.message,
        /nvEncInitializeEncoder failed: NV_ENC_ERR_GENERIC \(20\)/,
      );
    });
    assertAllFreed("after a failed initialisation");
    await withEnv({ FAKE_NVENC_FAIL: "encode:1" }, async () => {
      const enc = await NvencEncoder.open(settings(32, 32), { libraries });
      const pic = {
        data: nv12Picture(32, 32, 0),
        width: 32,
        height: 32,
        layout: "nv12" as const,
      };
      try {
        assert.ok(await enc.encode(pic, false));
        await assert.rejects(
          () => enc.encode(pic, false),
          /nvEncEncodePicture failed: NV_ENC_ERR_GENERIC \(20\)/,
        );
        assert.ok(
          await enc.encode(pic, true),
          "the encoder goes on after a failed picture",
        );
      } finally {
        await enc.close();
      }
    });
    assertAllFreed("after a failed encode");
  },
});

Deno.test({
  name:
    "nvenc fake: the fake refuses a wrong version word (so it would catch ours)",
  ignore: noFake,
  fn: () => {
    // Drive the fake by hand through the same loader, with deliberate mistakes.
    const lib = Deno.dlopen(F.encode, {
      NvEncodeAPICreateInstance: { parameters: ["buffer"], result: "i32" },
    });
    try {
      const list = new Uint8Array(FUNCTION_LIST.size);
      // An API 8.0 version word where 9.0 is expected.
      new DataView(list.buffer).setUint32(
        0,
        (8 | (2 << 16) | (7 << 28)) >>> 0,
        true,
      );
      assert.equal(lib.symbols.NvEncodeAPICreateInstance(list), 15);
      assert.match(
        F.lastError(),
        /NV_ENCODE_API_FUNCTION_LIST\.version is 0x70020008, want 0x70020009/,
      );
    } finally {
      lib.close();
    }
  },
});

Deno.test({
  name:
    "route auto: NVENC when it opens (no log line); one line and libx264 from then on when it does not",
  ignore: noFake || !x264.ok,
  fn: async () => {
    const lines: string[] = [];
    const log = (level: string, message: string) =>
      lines.push(`${level}: ${message}`);
    const s = settings(64, 48);
    const ok = new H264Encoders({
      choice: "auto",
      log,
      where: "display 'a'",
      libraries,
    });
    const before = F.encodes();
    assert.match(await ok.codec(s), /^avc1\.42C0/);
    const enc = await ok.open(s);
    assert.ok(enc instanceof NvencEncoder);
    assert.equal(ok.live, "nvenc");
    assert.match(ok.reason, /^NVENC \(driver API 12\.2\)$/);
    await enc.encode({
      data: nv12Picture(64, 48, 0),
      width: 64,
      height: 48,
      layout: "nv12",
    }, true);
    assert.ok(F.encodes() > before, "the fake encoded");
    await enc.close();
    assert.deepEqual(lines, []);

    await withEnv({ FAKE_NVENC_FAIL: "open" }, async () => {
      const route = new H264Encoders({
        choice: "auto",
        log,
        where: "display 'b'",
        libraries,
      });
      // Three opens at once (live stream, codec probe, still): one line.
      const encs = await Promise.all([
        route.open(s),
        route.open({ ...s, still: true }),
        route.codec(s).then(() => null),
      ]);
      assert.equal(route.live, "x264");
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(
        lines[0],
        /^warn: display 'b': NVENC could not open \(the driver refused an encode session \(NV_ENC_ERR_NO_ENCODE_DEVICE \(1\); this GPU may have no NVENC engine\)\); using libx264$/,
      );
      for (const e of encs) {
        if (!e) continue;
        assert.ok(!(e instanceof NvencEncoder), "libx264");
        const chunk = await e.encode(
          {
            data: new Uint8Array(64 * 48 * 4).fill(200),
            width: 64,
            height: 48,
            layout: "rgba",
          },
          true,
        );
        assert.ok(chunk?.keyframe);
        await e.close();
      }
      const again = await route.open(s);
      assert.ok(!(again instanceof NvencEncoder));
      await again.close();
      assert.equal(lines.length, 1, "still one line");
    });
    assertAllFreed("after the routes' encoders closed");
  },
});

Deno.test({
  name:
    'route: no driver means libx264 silently; "nvenc" fails loudly; "x264" never loads the driver',
  ignore: noFake || !x264.ok,
  fn: async () => {
    const lines: string[] = [];
    const log = (_: string, message: string) => lines.push(message);
    const s = settings(32, 32);
    const none = new H264Encoders({
      choice: "auto",
      log,
      where: "d",
      libraries: {
        cuda: "/nonexistent/libcuda.so.1",
      },
    });
    const e1 = await none.open(s);
    assert.equal(none.live, "x264");
    assert.match(
      none.reason,
      /\/nonexistent\/libcuda\.so\.1 could not be loaded/,
    );
    await e1.close();
    assert.deepEqual(lines, [], "no driver at all: not worth a line");

    await withEnv({ FAKE_NVENC_FAIL: "open" }, async () => {
      const only = new H264Encoders({
        choice: "nvenc",
        log,
        where: "d",
        libraries,
      });
      await assert.rejects(() => only.open(s), /refused an encode session/);
      assert.deepEqual(
        await only.available(),
        { ok: true, reason: "NVENC" },
        "the libraries load",
      );
    });
    const never = new H264Encoders({
      choice: "x264",
      log,
      where: "d",
      libraries,
    });
    const before = F.encodes();
    const e2 = await never.open(s);
    await e2.encode({
      data: new Uint8Array(32 * 32 * 4),
      width: 32,
      height: 32,
      layout: "rgba",
    }, true);
    await e2.close();
    assert.equal(F.encodes(), before);
    assert.equal(never.live, "x264");
    assert.deepEqual(lines, []);
    assertAllFreed("after the routes");
  },
});
