/**
 * The NVENC ABI this library speaks (`nvEncodeAPI.h`, API 9.0): API and
 * structure version words, version negotiation against the driver, the
 * function list, the GUIDs, enum values and bitfield bits used, and the
 * structures of the encode loop, laid out by C's rules (`c_layout.ts`) from
 * the header's field lists. Tests check every size and offset against
 * numbers computed by hand and against gcc's layout of the same fields.
 * Pure data: nothing here loads a library (that is `driver.ts`).
 *
 * @module
 */

import { type CStruct, layoutStruct, layoutUnion } from "./c_layout.ts";

/** The API version this module speaks (the function list below is 9.0's, kept by later SDKs). */
export const NVENC_API = { major: 9, minor: 0 } as const;

/**
 * `NVENCAPI_VERSION` for a major.minor: `major | minor << 24`.
 *
 * @example
 * ```ts
 * import { apiVersion } from "./abi.ts";
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
 * import { structVersion } from "./abi.ts";
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
 * import { negotiate } from "./abi.ts";
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

/** `NV_ENC_DEVICE_TYPE_CUDA`. */
export const DEVICE_TYPE_CUDA = 1;

/**
 * A GUID's 16 bytes as C stores them (`Data1` u32, `Data2`/`Data3` u16, all
 * little-endian, then the 8 bytes of `Data4` in order), from its text form.
 *
 * @example
 * ```ts
 * import { guid } from "./abi.ts";
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
 * import { GUIDS } from "./abi.ts";
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
 * import { STRUCT_VERSIONS } from "./abi.ts";
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
 * import { NV } from "./abi.ts";
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
 * import { CONFIG } from "./abi.ts";
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
