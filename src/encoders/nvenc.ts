/**
 * NVENC through `Deno.dlopen`: the loader for `libcuda.so.1` and
 * `libnvidia-encode.so.1` (or the paths in `RFB_CUDA_LIBRARY` and
 * `RFB_NVENC_LIBRARY`), API version negotiation, the structures of the
 * encode loop (laid out here by C's rules from the field lists of the public
 * `nvEncodeAPI.h`, API 9.0; tests check every size and offset against
 * numbers computed by hand and against gcc's layout of the same fields), and
 * a probe that opens and closes an encode session. The encoder itself is in
 * `nvenc_encoder.ts`.
 *
 * Tested against a fake driver built by the tests, not on NVIDIA hardware.
 *
 * @module
 */

/**
 * A C field type on x86_64 Linux: a scalar, a GUID (16 bytes, 4-aligned:
 * `u32 Data1; u16 Data2, Data3; u8 Data4[8]`) or a nested structure or union.
 */
export type CType = "u8" | "u16" | "u32" | "u64" | "ptr" | "guid" | CStruct;

/** One field: name, type, array length (default 1). */
export type CField = readonly [name: string, type: CType, count?: number];

/** A laid-out C structure (or union). */
export interface CStruct {
  /** Total size in bytes (padded to the largest alignment). */
  size: number;
  /**
   * Byte offset of each field; a nested structure's fields are listed too,
   * as `outer.inner` (offsets from the start of this structure).
   */
  offsets: Record<string, number>;
  /** Alignment in bytes (the largest of its fields'). */
  align: number;
}

const SCALAR: Record<Exclude<CType, CStruct>, [size: number, align: number]> = {
  u8: [1, 1],
  u16: [2, 2],
  u32: [4, 4],
  u64: [8, 8],
  ptr: [8, 8],
  guid: [16, 4],
};

function sizeAlign(type: CType): [number, number] {
  return typeof type === "string" ? SCALAR[type] : [type.size, type.align];
}

function nest(
  offsets: Record<string, number>,
  name: string,
  at: number,
  type: CType,
): void {
  offsets[name] = at;
  if (typeof type !== "string") {
    for (const [inner, off] of Object.entries(type.offsets)) {
      offsets[`${name}.${inner}`] = at + off;
    }
  }
}

/**
 * Lay out a C structure: each field at the next multiple of its natural
 * alignment, the size rounded up to the largest alignment. Bitfields are
 * modelled as the `u32` words that hold them.
 *
 * @example
 * ```ts
 * import { layoutStruct } from "./nvenc.ts";
 * layoutStruct([["a", "u32"], ["p", "ptr"]]); // { size: 16, offsets: { a: 0, p: 8 }, align: 8 }
 * ```
 */
export function layoutStruct(fields: readonly CField[]): CStruct {
  let at = 0, align = 1;
  const offsets: Record<string, number> = {};
  for (const [name, type, count = 1] of fields) {
    const [size, a] = sizeAlign(type);
    at = Math.ceil(at / a) * a;
    nest(offsets, name, at, type);
    at += size * count;
    align = Math.max(align, a);
  }
  return { size: Math.ceil(at / align) * align, offsets, align };
}

/**
 * Lay out a C union: every member at offset 0, the size of the largest
 * member rounded up to the largest alignment.
 *
 * @example
 * ```ts
 * import { layoutStruct, layoutUnion } from "./nvenc.ts";
 * const inner = layoutStruct([["p", "ptr"], ["n", "u32"]]);
 * layoutUnion([["s", inner], ["words", "u32", 3]]).size; // 16
 * ```
 */
export function layoutUnion(members: readonly CField[]): CStruct {
  let size = 0, align = 1;
  const offsets: Record<string, number> = {};
  for (const [name, type, count = 1] of members) {
    const [s, a] = sizeAlign(type);
    nest(offsets, name, 0, type);
    size = Math.max(size, s * count);
    align = Math.max(align, a);
  }
  return { size: Math.ceil(size / align) * align, offsets, align };
}

/** The API version this module speaks (the function list below is 9.0's, kept by later SDKs). */
export const NVENC_API = { major: 9, minor: 0 } as const;

/**
 * `NVENCAPI_VERSION` for a major.minor: `major | minor << 24`.
 *
 * @example
 * ```ts
 * import { apiVersion } from "./nvenc.ts";
 * console.log(apiVersion(9, 0)); // 9
 * ```
 */
export function apiVersion(major: number, minor: number): number {
  return (major | (minor << 24)) >>> 0;
}

/**
 * `NVENCAPI_STRUCT_VERSION(ver)`: the API version, the structure's version
 * in bits 16-23, and 7 in the top nibble.
 *
 * @example
 * ```ts
 * import { structVersion } from "./nvenc.ts";
 * console.log(structVersion(1).toString(16)); // "70010009"
 * ```
 */
export function structVersion(ver: number, api = NVENC_API): number {
  return (apiVersion(api.major, api.minor) | (ver << 16) | (0x7 << 28)) >>> 0;
}

/**
 * Check the driver's `NvEncodeAPIGetMaxSupportedVersion` (`major << 4 | minor`)
 * against the version this module speaks; returns the driver's version as
 * `"major.minor"`, or throws an `Error` saying the driver is too old.
 *
 * @example
 * ```ts
 * import { negotiate } from "./nvenc.ts";
 * console.log(negotiate((12 << 4) | 1)); // "12.1"
 * ```
 */
export function negotiate(driverMax: number, api = NVENC_API): string {
  const major = driverMax >> 4, minor = driverMax & 0xf;
  const have = `${major}.${minor}`;
  if (major < api.major || (major === api.major && minor < api.minor)) {
    throw new Error(
      `the NVIDIA driver supports NVENC API ${have}; this library needs ${api.major}.${api.minor} or newer (update the driver)`,
    );
  }
  return have;
}

/** `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS` (version 1). */
export const OPEN_SESSION_PARAMS: CStruct = layoutStruct([
  ["version", "u32"],
  ["deviceType", "u32"],
  ["device", "ptr"],
  ["reserved", "ptr"],
  ["apiVersion", "u32"],
  ["reserved1", "u32", 253],
  ["reserved2", "ptr", 64],
]);

/** Entry points in `NV_ENCODE_API_FUNCTION_LIST`, in order, as the header lists them. */
export const FUNCTION_SLOTS: readonly string[] = [
  "nvEncOpenEncodeSession",
  "nvEncGetEncodeGUIDCount",
  "nvEncGetEncodeProfileGUIDCount",
  "nvEncGetEncodeProfileGUIDs",
  "nvEncGetEncodeGUIDs",
  "nvEncGetInputFormatCount",
  "nvEncGetInputFormats",
  "nvEncGetEncodeCaps",
  "nvEncGetEncodePresetCount",
  "nvEncGetEncodePresetGUIDs",
  "nvEncGetEncodePresetConfig",
  "nvEncInitializeEncoder",
  "nvEncCreateInputBuffer",
  "nvEncDestroyInputBuffer",
  "nvEncCreateBitstreamBuffer",
  "nvEncDestroyBitstreamBuffer",
  "nvEncEncodePicture",
  "nvEncLockBitstream",
  "nvEncUnlockBitstream",
  "nvEncLockInputBuffer",
  "nvEncUnlockInputBuffer",
  "nvEncGetEncodeStats",
  "nvEncGetSequenceParams",
  "nvEncRegisterAsyncEvent",
  "nvEncUnregisterAsyncEvent",
  "nvEncMapInputResource",
  "nvEncUnmapInputResource",
  "nvEncDestroyEncoder",
  "nvEncInvalidateRefFrames",
  "nvEncOpenEncodeSessionEx",
  "nvEncRegisterResource",
  "nvEncUnregisterResource",
  "nvEncReconfigureEncoder",
  "reserved1",
  "nvEncCreateMVBuffer",
  "nvEncDestroyMVBuffer",
  "nvEncRunMotionEstimationOnly",
];

/** `NV_ENCODE_API_FUNCTION_LIST` (version 2). */
export const FUNCTION_LIST: CStruct = layoutStruct([
  ["version", "u32"],
  ["reserved", "u32"],
  ...FUNCTION_SLOTS.map((name) => [name, "ptr"] as const),
  ["reserved2", "ptr", 281],
]);

/** CUDA's `CU_CTX_SCHED_BLOCKING_SYNC`: waits on the GPU sleep instead of spinning. */
const CU_CTX_SCHED_BLOCKING_SYNC = 0x4;

/** `NV_ENC_DEVICE_TYPE_CUDA`. */
export const DEVICE_TYPE_CUDA = 1;

/**
 * A GUID's 16 bytes as C stores them (`Data1` u32, `Data2`/`Data3` u16, all
 * little-endian, then the 8 bytes of `Data4` in order), from its text form.
 *
 * @example
 * ```ts
 * import { guid } from "./nvenc.ts";
 * guid("6BC82762-4E63-4CA4-AA85-1E50F321F6BF")[0]; // 0x62
 * ```
 */
export function guid(text: string): Uint8Array {
  const hex = text.replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw new TypeError(`not a GUID: ${text}`);
  }
  const b = (i: number) => parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return new Uint8Array([
    b(3),
    b(2),
    b(1),
    b(0), // Data1, little-endian
    b(5),
    b(4), // Data2
    b(7),
    b(6), // Data3
    ...Array.from({ length: 8 }, (_, i) => b(8 + i)), // Data4
  ]);
}

/**
 * The GUIDs this module uses (from `nvEncodeAPI.h`, API 9.0), as stored in C.
 *
 * @example
 * ```ts
 * import { GUIDS } from "./nvenc.ts";
 * console.log(GUIDS.codecH264.length); // 16
 * ```
 */
export const GUIDS: Readonly<Record<string, Uint8Array>> = {
  /** `NV_ENC_CODEC_H264_GUID`. */
  codecH264: guid("6BC82762-4E63-4CA4-AA85-1E50F321F6BF"),
  /** `NV_ENC_H264_PROFILE_BASELINE_GUID`. */
  profileBaseline: guid("0727BCAA-78C4-4C83-8C2F-EF3DFF267C6A"),
  /** `NV_ENC_PRESET_LOW_LATENCY_HQ_GUID` (P1-P7 presets and tuning info come with API 10). */
  presetLowLatencyHq: guid("C5F733B9-EA97-4CF9-BEC2-BF78A74FD105"),
};

/**
 * Version words of the structures used here (`NV_ENC_*_VER` in the header).
 *
 * @example
 * ```ts
 * import { STRUCT_VERSIONS } from "./nvenc.ts";
 * console.log(STRUCT_VERSIONS.config.toString(16)); // "f0070009"
 * ```
 */
export const STRUCT_VERSIONS: Readonly<Record<string, number>> = {
  /** `NV_ENC_CONFIG_VER`: version 7 with bit 31 set. */
  config: (structVersion(7) | 0x80000000) >>> 0,
  /** `NV_ENC_INITIALIZE_PARAMS_VER`: version 5 with bit 31 set. */
  initialize: (structVersion(5) | 0x80000000) >>> 0,
  /** `NV_ENC_PRESET_CONFIG_VER`: version 4 with bit 31 set. */
  presetConfig: (structVersion(4) | 0x80000000) >>> 0,
  /** `NV_ENC_PIC_PARAMS_VER`: version 4 with bit 31 set. */
  picParams: (structVersion(4) | 0x80000000) >>> 0,
  /** `NV_ENC_CREATE_INPUT_BUFFER_VER`. */
  createInput: structVersion(1),
  /** `NV_ENC_CREATE_BITSTREAM_BUFFER_VER`. */
  createBitstream: structVersion(1),
  /** `NV_ENC_LOCK_INPUT_BUFFER_VER`. */
  lockInput: structVersion(1),
  /** `NV_ENC_LOCK_BITSTREAM_VER`. */
  lockBitstream: structVersion(1),
  /** `NV_ENC_RC_PARAMS_VER`. */
  rcParams: structVersion(1),
};

/**
 * Enum values and bitfield bits used here (from `nvEncodeAPI.h`, API 9.0).
 *
 * @example
 * ```ts
 * import { NV } from "./nvenc.ts";
 * const flags = NV.PIC_FLAG_FORCEIDR | NV.PIC_FLAG_OUTPUT_SPSPPS; // 6
 * ```
 */
export const NV = {
  /** `NV_ENC_SUCCESS`. */
  SUCCESS: 0,
  /** `NV_ENC_ERR_NEED_MORE_INPUT`: not an error, the picture is buffered. */
  ERR_NEED_MORE_INPUT: 17,
  /** `NV_ENC_BUFFER_FORMAT_NV12`. */
  BUFFER_FORMAT_NV12: 0x1,
  /** `NV_ENC_PIC_STRUCT_FRAME`. */
  PIC_STRUCT_FRAME: 0x1,
  /** `NV_ENC_PIC_TYPE_IDR`. */
  PIC_TYPE_IDR: 0x3,
  /** `NV_ENC_PIC_FLAG_FORCEIDR`. */
  PIC_FLAG_FORCEIDR: 0x2,
  /** `NV_ENC_PIC_FLAG_OUTPUT_SPSPPS`. */
  PIC_FLAG_OUTPUT_SPSPPS: 0x4,
  /** `NV_ENC_PIC_FLAG_EOS`: flush. */
  PIC_FLAG_EOS: 0x8,
  /** `NV_ENC_PARAMS_RC_CONSTQP`. */
  RC_CONSTQP: 0x0,
  /** `NV_ENC_PARAMS_RC_CBR`. */
  RC_CBR: 0x2,
  /** `NV_ENC_H264_ENTROPY_CODING_MODE_CAVLC` (baseline has no CABAC). */
  ENTROPY_CAVLC: 0x2,
  /** `NV_ENC_LEVEL_AUTOSELECT`. */
  LEVEL_AUTOSELECT: 0,
  /** `NVENC_INFINITE_GOPLENGTH`. */
  INFINITE_GOPLENGTH: 0xffffffff,
  /** `NV_ENC_RC_PARAMS` bitfield word: `enableLookahead` (bit 5). */
  RC_BIT_ENABLE_LOOKAHEAD: 1 << 5,
  /** `NV_ENC_RC_PARAMS` bitfield word: `zeroReorderDelay` (bit 9). */
  RC_BIT_ZERO_REORDER_DELAY: 1 << 9,
  /** `NV_ENC_CONFIG_H264` bitfield word: `outputAUD` (bit 6). */
  H264_BIT_OUTPUT_AUD: 1 << 6,
  /** `NV_ENC_CONFIG_H264` bitfield word: `disableSPSPPS` (bit 7). */
  H264_BIT_DISABLE_SPSPPS: 1 << 7,
  /** `NV_ENC_CONFIG_H264` bitfield word: `repeatSPSPPS` (bit 12). */
  H264_BIT_REPEAT_SPSPPS: 1 << 12,
} as const;

const QP = layoutStruct([
  ["qpInterP", "u32"],
  ["qpInterB", "u32"],
  ["qpIntra", "u32"],
]);

/** `NV_ENC_RC_PARAMS` (128 bytes); `bits` is the bitfield word (`enableMinQP` … `aqStrength`). */
export const RC_PARAMS: CStruct = layoutStruct([
  ["version", "u32"],
  ["rateControlMode", "u32"],
  ["constQP", QP],
  ["averageBitRate", "u32"],
  ["maxBitRate", "u32"],
  ["vbvBufferSize", "u32"],
  ["vbvInitialDelay", "u32"],
  ["bits", "u32"],
  ["minQP", QP],
  ["maxQP", QP],
  ["initialRCQP", QP],
  ["temporallayerIdxMask", "u32"],
  ["temporalLayerQP", "u8", 8],
  ["targetQuality", "u8"],
  ["targetQualityLSB", "u8"],
  ["lookaheadDepth", "u16"],
  ["reserved1", "u32"],
  ["qpMapMode", "u32"],
  ["reserved", "u32", 7],
]);

/** `NV_ENC_CONFIG_H264_VUI_PARAMETERS` (112 bytes). */
export const H264_VUI: CStruct = layoutStruct([
  ["overscanInfoPresentFlag", "u32"],
  ["overscanInfo", "u32"],
  ["videoSignalTypePresentFlag", "u32"],
  ["videoFormat", "u32"],
  ["videoFullRangeFlag", "u32"],
  ["colourDescriptionPresentFlag", "u32"],
  ["colourPrimaries", "u32"],
  ["transferCharacteristics", "u32"],
  ["colourMatrix", "u32"],
  ["chromaSampleLocationFlag", "u32"],
  ["chromaSampleLocationTop", "u32"],
  ["chromaSampleLocationBot", "u32"],
  ["bitstreamRestrictionFlag", "u32"],
  ["reserved", "u32", 15],
]);

/** `NV_ENC_CONFIG_H264` (1792 bytes); `bits` is the bitfield word (`enableTemporalSVC` … `useConstrainedIntraPred`). */
export const H264_CONFIG: CStruct = layoutStruct([
  ["bits", "u32"],
  ["level", "u32"],
  ["idrPeriod", "u32"],
  ["separateColourPlaneFlag", "u32"],
  ["disableDeblockingFilterIDC", "u32"],
  ["numTemporalLayers", "u32"],
  ["spsId", "u32"],
  ["ppsId", "u32"],
  ["adaptiveTransformMode", "u32"],
  ["fmoMode", "u32"],
  ["bdirectMode", "u32"],
  ["entropyCodingMode", "u32"],
  ["stereoMode", "u32"],
  ["intraRefreshPeriod", "u32"],
  ["intraRefreshCnt", "u32"],
  ["maxNumRefFrames", "u32"],
  ["sliceMode", "u32"],
  ["sliceModeData", "u32"],
  ["h264VUIParameters", H264_VUI],
  ["ltrNumFrames", "u32"],
  ["ltrTrustMode", "u32"],
  ["chromaFormatIDC", "u32"],
  ["maxTemporalLayers", "u32"],
  ["useBFramesAsRef", "u32"],
  ["reserved1", "u32", 269],
  ["reserved2", "ptr", 64],
]);

/**
 * `NV_ENC_CODEC_CONFIG`, a union (1792 bytes): its largest member is the
 * H.264 configuration (the HEVC one is 1560 bytes, the ME-only ones 1536,
 * `reserved[320]` 1280), so only that member is laid out.
 */
export const CODEC_CONFIG: CStruct = layoutUnion([
  ["h264Config", H264_CONFIG],
  ["reserved", "u32", 320],
]);

/**
 * `NV_ENC_CONFIG` (3584 bytes, version 7). Nested fields are named by path.
 *
 * @example
 * ```ts
 * import { CONFIG } from "./nvenc.ts";
 * console.log(CONFIG.offsets["encodeCodecConfig.h264Config.idrPeriod"]); // 176
 * ```
 */
export const CONFIG: CStruct = layoutStruct([
  ["version", "u32"],
  ["profileGUID", "guid"],
  ["gopLength", "u32"],
  ["frameIntervalP", "u32"],
  ["monoChromeEncoding", "u32"],
  ["frameFieldMode", "u32"],
  ["mvPrecision", "u32"],
  ["rcParams", RC_PARAMS],
  ["encodeCodecConfig", CODEC_CONFIG],
  ["reserved", "u32", 278],
  ["reserved2", "ptr", 64],
]);

/** `NV_ENC_PRESET_CONFIG` (5128 bytes, version 4). */
export const PRESET_CONFIG: CStruct = layoutStruct([
  ["version", "u32"],
  ["presetCfg", CONFIG],
  ["reserved1", "u32", 255],
  ["reserved2", "ptr", 64],
]);

const ME_HINT_COUNTS = layoutStruct([
  ["bits", "u32"],
  ["reserved1", "u32", 3],
]);

/** `NV_ENC_INITIALIZE_PARAMS` (1808 bytes, version 5); `bits` is the bitfield word (`reportSliceOffsets` …). */
export const INITIALIZE_PARAMS: CStruct = layoutStruct([
  ["version", "u32"],
  ["encodeGUID", "guid"],
  ["presetGUID", "guid"],
  ["encodeWidth", "u32"],
  ["encodeHeight", "u32"],
  ["darWidth", "u32"],
  ["darHeight", "u32"],
  ["frameRateNum", "u32"],
  ["frameRateDen", "u32"],
  ["enableEncodeAsync", "u32"],
  ["enablePTD", "u32"],
  ["bits", "u32"],
  ["privDataSize", "u32"],
  ["privData", "ptr"],
  ["encodeConfig", "ptr"],
  ["maxEncodeWidth", "u32"],
  ["maxEncodeHeight", "u32"],
  ["maxMEHintCountsPerBlock", ME_HINT_COUNTS, 2],
  ["reserved", "u32", 289],
  ["reserved2", "ptr", 64],
]);

/** `NV_ENC_CREATE_INPUT_BUFFER` (776 bytes). */
export const CREATE_INPUT_BUFFER: CStruct = layoutStruct([
  ["version", "u32"],
  ["width", "u32"],
  ["height", "u32"],
  ["memoryHeap", "u32"],
  ["bufferFmt", "u32"],
  ["reserved", "u32"],
  ["inputBuffer", "ptr"],
  ["pSysMemBuffer", "ptr"],
  ["reserved1", "u32", 57],
  ["reserved2", "ptr", 63],
]);

/** `NV_ENC_CREATE_BITSTREAM_BUFFER` (776 bytes). */
export const CREATE_BITSTREAM_BUFFER: CStruct = layoutStruct([
  ["version", "u32"],
  ["size", "u32"],
  ["memoryHeap", "u32"],
  ["reserved", "u32"],
  ["bitstreamBuffer", "ptr"],
  ["bitstreamBufferPtr", "ptr"],
  ["reserved1", "u32", 58],
  ["reserved2", "ptr", 64],
]);

/** `NV_ENC_LOCK_INPUT_BUFFER` (1544 bytes); `bits` holds `doNotWait`. */
export const LOCK_INPUT_BUFFER: CStruct = layoutStruct([
  ["version", "u32"],
  ["bits", "u32"],
  ["inputBuffer", "ptr"],
  ["bufferDataPtr", "ptr"],
  ["pitch", "u32"],
  ["reserved1", "u32", 251],
  ["reserved2", "ptr", 64],
]);

/** `NV_ENC_PIC_PARAMS_H264` (1536 bytes); `bits` holds `constrainedFrame` … `ltrUseFrames`. */
export const PIC_PARAMS_H264: CStruct = layoutStruct([
  ["displayPOCSyntax", "u32"],
  ["reserved3", "u32"],
  ["refPicFlag", "u32"],
  ["colourPlaneId", "u32"],
  ["forceIntraRefreshWithFrameCnt", "u32"],
  ["bits", "u32"],
  ["sliceTypeData", "ptr"],
  ["sliceTypeArrayCnt", "u32"],
  ["seiPayloadArrayCnt", "u32"],
  ["seiPayloadArray", "ptr"],
  ["sliceMode", "u32"],
  ["sliceModeData", "u32"],
  ["ltrMarkFrameIdx", "u32"],
  ["ltrUseFrameBitmap", "u32"],
  ["ltrUsageMode", "u32"],
  ["forceIntraSliceCount", "u32"],
  ["forceIntraSliceIdx", "ptr"],
  ["reserved", "u32", 242],
  ["reserved2", "ptr", 61],
]);

/**
 * `NV_ENC_CODEC_PIC_PARAMS`, a union (1536 bytes): the H.264 member is the
 * largest (the HEVC one is also 1536 bytes, `reserved[256]` 1024).
 */
export const CODEC_PIC_PARAMS: CStruct = layoutUnion([
  ["h264PicParams", PIC_PARAMS_H264],
  ["reserved", "u32", 256],
]);

/** `NV_ENC_PIC_PARAMS` (3344 bytes, version 4). */
export const PIC_PARAMS: CStruct = layoutStruct([
  ["version", "u32"],
  ["inputWidth", "u32"],
  ["inputHeight", "u32"],
  ["inputPitch", "u32"],
  ["encodePicFlags", "u32"],
  ["frameIdx", "u32"],
  ["inputTimeStamp", "u64"],
  ["inputDuration", "u64"],
  ["inputBuffer", "ptr"],
  ["outputBitstream", "ptr"],
  ["completionEvent", "ptr"],
  ["bufferFmt", "u32"],
  ["pictureStruct", "u32"],
  ["pictureType", "u32"],
  ["codecPicParams", CODEC_PIC_PARAMS],
  ["meHintCountsPerBlock", ME_HINT_COUNTS, 2],
  ["meExternalHints", "ptr"],
  ["reserved1", "u32", 6],
  ["reserved2", "ptr", 2],
  ["qpDeltaMap", "ptr"],
  ["qpDeltaMapSize", "u32"],
  ["reservedBitFields", "u32"],
  ["meHintRefPicDist", "u16", 2],
  ["reserved3", "u32", 286],
  ["reserved4", "ptr", 60],
]);

/** `NV_ENC_LOCK_BITSTREAM` (1544 bytes); `bits` holds `doNotWait`, `ltrFrame`, `getRCStats`. */
export const LOCK_BITSTREAM: CStruct = layoutStruct([
  ["version", "u32"],
  ["bits", "u32"],
  ["outputBitstream", "ptr"],
  ["sliceOffsets", "ptr"],
  ["frameIdx", "u32"],
  ["hwEncodeStatus", "u32"],
  ["numSlices", "u32"],
  ["bitstreamSizeInBytes", "u32"],
  ["outputTimeStamp", "u64"],
  ["outputDuration", "u64"],
  ["bitstreamBufferPtr", "ptr"],
  ["pictureType", "u32"],
  ["pictureStruct", "u32"],
  ["frameAvgQP", "u32"],
  ["frameSatd", "u32"],
  ["ltrFrameIdx", "u32"],
  ["ltrFrameBitmap", "u32"],
  ["reserved", "u32", 13],
  ["intraMBCount", "u32"],
  ["interMBCount", "u32"],
  ["averageMVX", "u32"],
  ["averageMVY", "u32"],
  ["reserved1", "u32", 219],
  ["reserved2", "ptr", 64],
]);

/**
 * Why NVENC cannot be used here.
 *
 * @example
 * ```ts
 * import { NvencUnavailable } from "./nvenc.ts";
 * const err = new NvencUnavailable("libcuda.so.1 could not be loaded", true);
 * console.log(err.missing); // true
 * ```
 */
export class NvencUnavailable extends Error {
  /** True when the driver's libraries are not there at all (no NVIDIA driver, or no FFI permission). */
  readonly missing: boolean;
  /**
   * @param message what is missing and what happens instead
   * @param missing true when the libraries could not be loaded at all
   */
  constructor(message: string, missing = false) {
    super(message);
    this.name = "NvencUnavailable";
    this.missing = missing;
  }
}

/** Where the driver's libraries are. */
export interface NvencLibraries {
  /** The CUDA driver library. Default `libcuda.so.1`, or `$RFB_CUDA_LIBRARY`. */
  cuda: string;
  /** The NVENC library. Default `libnvidia-encode.so.1`, or `$RFB_NVENC_LIBRARY`. */
  encode: string;
}

function envVar(name: string): string | undefined {
  try {
    // Ask first: reading an unpermitted variable would prompt in a terminal.
    if (
      Deno.permissions.querySync({ name: "env", variable: name }).state !==
        "granted"
    ) {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The library paths to load: `overrides` first, then the environment
 * variables `RFB_CUDA_LIBRARY` and `RFB_NVENC_LIBRARY`, then the driver's
 * sonames.
 *
 * @example
 * ```ts
 * import { nvencLibraries } from "./nvenc.ts";
 * console.log(nvencLibraries({ cuda: "/opt/cuda/libcuda.so.1" }).cuda); // "/opt/cuda/libcuda.so.1"
 * ```
 */
export function nvencLibraries(
  overrides: Partial<NvencLibraries> = {},
): NvencLibraries {
  return {
    cuda: overrides.cuda ?? envVar("RFB_CUDA_LIBRARY") ?? "libcuda.so.1",
    encode: overrides.encode ?? envVar("RFB_NVENC_LIBRARY") ??
      "libnvidia-encode.so.1",
  };
}

const ENCODE_SYMBOLS = {
  NvEncodeAPIGetMaxSupportedVersion: { parameters: ["buffer"], result: "i32" },
  NvEncodeAPICreateInstance: { parameters: ["buffer"], result: "i32" },
} as const;

const CUDA_SYMBOLS = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuCtxCreate_v2: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  cuCtxDestroy_v2: { parameters: ["pointer"], result: "i32" },
} as const;

/** `NVENCSTATUS` names, by value. */
const STATUS = [
  "NV_ENC_SUCCESS",
  "NV_ENC_ERR_NO_ENCODE_DEVICE",
  "NV_ENC_ERR_UNSUPPORTED_DEVICE",
  "NV_ENC_ERR_INVALID_ENCODERDEVICE",
  "NV_ENC_ERR_INVALID_DEVICE",
  "NV_ENC_ERR_DEVICE_NOT_EXIST",
  "NV_ENC_ERR_INVALID_PTR",
  "NV_ENC_ERR_INVALID_EVENT",
  "NV_ENC_ERR_INVALID_PARAM",
  "NV_ENC_ERR_INVALID_CALL",
  "NV_ENC_ERR_OUT_OF_MEMORY",
  "NV_ENC_ERR_ENCODER_NOT_INITIALIZED",
  "NV_ENC_ERR_UNSUPPORTED_PARAM",
  "NV_ENC_ERR_LOCK_BUSY",
  "NV_ENC_ERR_NOT_ENOUGH_BUFFER",
  "NV_ENC_ERR_INVALID_VERSION",
  "NV_ENC_ERR_MAP_FAILED",
  "NV_ENC_ERR_NEED_MORE_INPUT",
  "NV_ENC_ERR_ENCODER_BUSY",
  "NV_ENC_ERR_EVENT_NOT_REGISTERD",
  "NV_ENC_ERR_GENERIC",
  "NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY",
  "NV_ENC_ERR_UNIMPLEMENTED",
  "NV_ENC_ERR_RESOURCE_REGISTER_FAILED",
  "NV_ENC_ERR_RESOURCE_NOT_REGISTERED",
  "NV_ENC_ERR_RESOURCE_NOT_MAPPED",
];

/**
 * An `NVENCSTATUS` as text, e.g. `"NV_ENC_ERR_INVALID_PARAM (8)"`.
 *
 * @example
 * ```ts
 * import { statusName } from "./nvenc.ts";
 * console.log(statusName(15)); // "NV_ENC_ERR_INVALID_VERSION (15)"
 * ```
 */
export function statusName(status: number): string {
  return `${STATUS[status] ?? "NVENCSTATUS"} (${status})`;
}

/** The signature of a function-list entry, for `NvencDriver.fn`. */
export type NvencFn = Deno.ForeignFunction;

function load<S extends Deno.ForeignLibraryInterface>(
  name: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  let allowed = false;
  try {
    // Ask first: an unpermitted dlopen would prompt in a terminal.
    allowed = Deno.permissions.querySync({ name: "ffi", path: name }).state ===
      "granted";
  } catch {
    // Unknown: treat as not allowed, since dlopen without the permission
    // would prompt in a terminal.
    allowed = false;
  }
  if (!allowed) {
    throw new NvencUnavailable(
      `${name} was not loaded: FFI is not allowed (run with --allow-ffi)`,
      true,
    );
  }
  try {
    return Deno.dlopen(name, symbols);
  } catch (err) {
    // Deno says "Could not open library: " twice over the loader's own message.
    const why = (err as Error).message.split("\n")[0].replace(
      /^(Could not open library: )+/,
      "",
    );
    throw new NvencUnavailable(
      `${name} could not be loaded (${why}): no NVIDIA driver here`,
      true,
    );
  }
}

/**
 * Why the driver's libraries cannot be loaded here (no NVIDIA driver, or
 * no FFI permission), or null when both load. Cheap: it opens nothing else.
 *
 * @example
 * ```ts
 * import { nvencLoadError } from "./nvenc.ts";
 * console.log(nvencLoadError({ cuda: "libnope.so" })); // "libnope.so could not be loaded (...)..."
 * ```
 */
export function nvencLoadError(
  libraries: Partial<NvencLibraries> = {},
): string | null {
  const paths = nvencLibraries(libraries);
  try {
    load(paths.cuda, {}).close();
    load(paths.encode, {}).close();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The driver, loaded: `libcuda` and `libnvidia-encode` opened, the API
 * version negotiated, the function list filled and a CUDA context created
 * on device 0. `close()` destroys the context and unloads the libraries.
 * All calls are synchronous, on the calling thread (the CUDA context is
 * current there).
 *
 * @example
 * ```ts ignore
 * const driver = NvencDriver.load();
 * try {
 *   const session = driver.openSession();
 *   driver.destroySession(session);
 * } finally {
 *   driver.close();
 * }
 * ```
 */
export class NvencDriver {
  /** The driver's NVENC API version, `"major.minor"`. */
  readonly driverApi: string;
  /** The CUDA context the sessions run on. */
  readonly context: Deno.PointerValue;
  #cuda: Deno.DynamicLibrary<typeof CUDA_SYMBOLS>;
  #encode: Deno.DynamicLibrary<typeof ENCODE_SYMBOLS>;
  #list: DataView;
  #closed = false;

  private constructor(
    cuda: Deno.DynamicLibrary<typeof CUDA_SYMBOLS>,
    encode: Deno.DynamicLibrary<typeof ENCODE_SYMBOLS>,
    driverApi: string,
    list: DataView,
    context: Deno.PointerValue,
  ) {
    this.#cuda = cuda;
    this.#encode = encode;
    this.driverApi = driverApi;
    this.#list = list;
    this.context = context;
  }

  /**
   * Load the libraries (see `nvencLibraries`) and set up. Throws
   * `NvencUnavailable` saying what failed; `driverApi` on the error's
   * `cause` when the version was read.
   */
  static load(libraries: Partial<NvencLibraries> = {}): NvencDriver {
    const paths = nvencLibraries(libraries);
    let cuda: Deno.DynamicLibrary<typeof CUDA_SYMBOLS> | null = null;
    let enc: Deno.DynamicLibrary<typeof ENCODE_SYMBOLS> | null = null;
    let driverApi: string | undefined;
    try {
      cuda = load(paths.cuda, CUDA_SYMBOLS);
      enc = load(paths.encode, ENCODE_SYMBOLS);
      const max = new Uint32Array(1);
      let r = enc.symbols.NvEncodeAPIGetMaxSupportedVersion(max);
      if (r !== 0) {
        throw new NvencUnavailable(
          `NvEncodeAPIGetMaxSupportedVersion failed (${statusName(r)})`,
        );
      }
      driverApi = negotiate(max[0]);
      const list = new Uint8Array(FUNCTION_LIST.size);
      const view = new DataView(list.buffer);
      view.setUint32(0, structVersion(2), true);
      r = enc.symbols.NvEncodeAPICreateInstance(list);
      if (r !== 0) {
        throw new NvencUnavailable(
          `NvEncodeAPICreateInstance failed (${statusName(r)})`,
        );
      }
      r = cuda.symbols.cuInit(0);
      if (r !== 0) {
        throw new NvencUnavailable(`cuInit failed (CUDA error ${r})`);
      }
      const dev = new Int32Array(1);
      r = cuda.symbols.cuDeviceGet(dev, 0);
      if (r !== 0) {
        throw new NvencUnavailable(`cuDeviceGet failed (CUDA error ${r})`);
      }
      const ctxOut = new BigUint64Array(1);
      // Blocking sync: a thread waiting on the GPU sleeps instead of spinning.
      r = cuda.symbols.cuCtxCreate_v2(
        ctxOut,
        CU_CTX_SCHED_BLOCKING_SYNC,
        dev[0],
      );
      if (r !== 0) {
        throw new NvencUnavailable(`cuCtxCreate failed (CUDA error ${r})`);
      }
      return new NvencDriver(
        cuda,
        enc,
        driverApi,
        view,
        Deno.UnsafePointer.create(ctxOut[0]),
      );
    } catch (err) {
      enc?.close();
      cuda?.close();
      if (driverApi && err instanceof Error) err.cause = { driverApi };
      throw err;
    }
  }

  /**
   * A function-list entry as a callable, or an `NvencUnavailable` when the
   * driver left the slot empty.
   */
  fn<const F extends NvencFn>(
    name: string,
    definition: F,
  ): Deno.UnsafeFnPointer<F> {
    const offset = FUNCTION_LIST.offsets[name];
    if (offset === undefined) throw new TypeError(`no entry ${name}`);
    const ptr = Deno.UnsafePointer.create(
      this.#list.getBigUint64(offset, true),
    );
    if (!ptr) {
      throw new NvencUnavailable(`the driver's function list has no ${name}`);
    }
    return new Deno.UnsafeFnPointer<F>(
      ptr as Deno.PointerObject<Omit<F, "nonblocking">>,
      definition,
    );
  }

  /**
   * Open an encode session on the CUDA context (API 9.0). Throws
   * `NvencUnavailable` with the driver's status when it refuses (a session
   * the driver handed back anyway is destroyed first, as the header asks).
   */
  openSession(): Deno.PointerObject {
    const openEx = this.fn("nvEncOpenEncodeSessionEx", OPEN_FN);
    const params = new Uint8Array(OPEN_SESSION_PARAMS.size);
    const p = new DataView(params.buffer);
    p.setUint32(OPEN_SESSION_PARAMS.offsets.version, structVersion(1), true);
    p.setUint32(OPEN_SESSION_PARAMS.offsets.deviceType, DEVICE_TYPE_CUDA, true);
    p.setBigUint64(
      OPEN_SESSION_PARAMS.offsets.device,
      BigInt(Deno.UnsafePointer.value(this.context)),
      true,
    );
    p.setUint32(
      OPEN_SESSION_PARAMS.offsets.apiVersion,
      apiVersion(NVENC_API.major, NVENC_API.minor),
      true,
    );
    const out = new BigUint64Array(1);
    const r = openEx.call(params, out) as number;
    const session = Deno.UnsafePointer.create(out[0]);
    if (r !== 0 || !session) {
      if (session) this.destroySession(session);
      throw new NvencUnavailable(
        `the driver refused an encode session (${
          statusName(r)
        }; this GPU may have no NVENC engine)`,
      );
    }
    return session;
  }

  /** `nvEncDestroyEncoder`. */
  destroySession(session: Deno.PointerObject): void {
    this.fn("nvEncDestroyEncoder", DESTROY_FN).call(session);
  }

  /** Destroy the CUDA context and unload the libraries (once). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#cuda.symbols.cuCtxDestroy_v2(this.context);
    } finally {
      this.#encode.close();
      this.#cuda.close();
    }
  }
}

const OPEN_FN = { parameters: ["buffer", "buffer"], result: "i32" } as const;
const DESTROY_FN = { parameters: ["pointer"], result: "i32" } as const;

/** What the probe found. */
export interface NvencProbe {
  /** True when an encode session opened and closed. */
  ok: boolean;
  /** The driver's NVENC API version, when the library loaded. */
  driverApi?: string;
  /** True when the driver's libraries could not be loaded at all. */
  missing?: boolean;
  /** What happened. */
  reason: string;
}

/**
 * Load the driver's libraries (see `nvencLibraries` for where from),
 * negotiate the API version, fill the function list, create a CUDA context
 * and open (then close) an encode session. Never throws: the result says
 * what worked.
 *
 * @example
 * ```ts ignore
 * const probe = probeNvenc();
 * console.log(probe.ok ? `NVENC ${probe.driverApi}` : probe.reason);
 * ```
 */
export function probeNvenc(
  libraries: Partial<NvencLibraries> = {},
): NvencProbe {
  let driver: NvencDriver | null = null;
  try {
    driver = NvencDriver.load(libraries);
    driver.destroySession(driver.openSession());
    return {
      ok: true,
      driverApi: driver.driverApi,
      reason: `an NVENC session opened (driver API ${driver.driverApi})`,
    };
  } catch (err) {
    const driverApi = driver?.driverApi ??
      ((err as Error).cause as { driverApi?: string } | undefined)?.driverApi;
    const missing = err instanceof NvencUnavailable && err.missing;
    return {
      ok: false,
      driverApi,
      missing,
      reason: `${(err as Error).message}${
        missing ? "; H.264 uses libx264" : ""
      }`,
    };
  } finally {
    driver?.close();
  }
}
