/**
 * NVENC through `Deno.dlopen`: the loader for `libcuda.so.1` and
 * `libnvidia-encode.so.1`, API version negotiation, the structures the
 * session needs (laid out here by C's rules from the documented field
 * types, checked by tests against the sizes and offsets of the public
 * `nvEncodeAPI.h`), and a probe that opens and closes an encode session.
 *
 * This version probes and reports NVENC (doctor, logs) and encodes with
 * libx264; the encode loop on NVENC is not wired yet.
 *
 * @module
 */

/** A C field type on x86_64 Linux. */
export type CType = "u32" | "u64" | "ptr";

/** One field: name, type, array length (default 1). */
export type CField = readonly [name: string, type: CType, count?: number];

/** A laid-out C structure. */
export interface CStruct {
  /** Total size in bytes (padded to the largest alignment). */
  size: number;
  /** Byte offset of each field. */
  offsets: Record<string, number>;
}

const SIZE: Record<CType, number> = { u32: 4, u64: 8, ptr: 8 };

/**
 * Lay out a C structure: each field at the next multiple of its natural
 * alignment, the size rounded up to the largest alignment.
 *
 * @example
 * ```ts
 * import { layoutStruct } from "./nvenc.ts";
 * layoutStruct([["a", "u32"], ["p", "ptr"]]); // { size: 16, offsets: { a: 0, p: 8 } }
 * ```
 */
export function layoutStruct(fields: readonly CField[]): CStruct {
  let at = 0, align = 1;
  const offsets: Record<string, number> = {};
  for (const [name, type, count = 1] of fields) {
    const a = SIZE[type];
    at = Math.ceil(at / a) * a;
    offsets[name] = at;
    at += a * count;
    align = Math.max(align, a);
  }
  return { size: Math.ceil(at / align) * align, offsets };
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

/** `NV_ENC_DEVICE_TYPE_CUDA`. */
export const DEVICE_TYPE_CUDA = 1;

/** Why NVENC cannot be used here. */
export class NvencUnavailable extends Error {
  /** @param message what is missing and what happens instead */
  constructor(message: string) {
    super(message);
    this.name = "NvencUnavailable";
  }
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

type OpenFn = {
  readonly parameters: readonly ["buffer", "buffer"];
  readonly result: "i32";
};
type DestroyFn = {
  readonly parameters: readonly ["pointer"];
  readonly result: "i32";
};

/** What the probe found. */
export interface NvencProbe {
  /** True when an encode session opened and closed. */
  ok: boolean;
  /** The driver's NVENC API version, when the library loaded. */
  driverApi?: string;
  /** What happened. */
  reason: string;
}

function open<S extends Deno.ForeignLibraryInterface>(
  name: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(name, symbols);
  } catch (err) {
    throw new NvencUnavailable(
      `${name} could not be loaded (${
        (err as Error).message.split("\n")[0]
      }): no NVIDIA driver here; H.264 uses libx264`,
    );
  }
}

/**
 * Load the driver's libraries, negotiate the API version, fill the function
 * list, create a CUDA context and open (then close) an encode session.
 * Never throws: the result says what worked.
 *
 * @example
 * ```ts ignore
 * const probe = probeNvenc();
 * console.log(probe.ok ? `NVENC ${probe.driverApi}` : probe.reason);
 * ```
 */
export function probeNvenc(
  libraries = { cuda: "libcuda.so.1", encode: "libnvidia-encode.so.1" },
): NvencProbe {
  let cuda: Deno.DynamicLibrary<typeof CUDA_SYMBOLS> | null = null;
  let enc: Deno.DynamicLibrary<typeof ENCODE_SYMBOLS> | null = null;
  let driverApi: string | undefined;
  try {
    cuda = open(libraries.cuda, CUDA_SYMBOLS);
    enc = open(libraries.encode, ENCODE_SYMBOLS);
    const max = new Uint32Array(1);
    let r = enc.symbols.NvEncodeAPIGetMaxSupportedVersion(max);
    if (r !== 0) {
      throw new NvencUnavailable(
        `NvEncodeAPIGetMaxSupportedVersion failed (${r})`,
      );
    }
    driverApi = negotiate(max[0]);
    const list = new Uint8Array(FUNCTION_LIST.size);
    const view = new DataView(list.buffer);
    view.setUint32(0, structVersion(2), true);
    r = enc.symbols.NvEncodeAPICreateInstance(list);
    if (r !== 0) {
      throw new NvencUnavailable(`NvEncodeAPICreateInstance failed (${r})`);
    }
    const fn = (name: string) =>
      Deno.UnsafePointer.create(
        view.getBigUint64(FUNCTION_LIST.offsets[name], true),
      );
    r = cuda.symbols.cuInit(0);
    if (r !== 0) throw new NvencUnavailable(`cuInit failed (CUDA error ${r})`);
    const dev = new Int32Array(1);
    r = cuda.symbols.cuDeviceGet(dev, 0);
    if (r !== 0) {
      throw new NvencUnavailable(`cuDeviceGet failed (CUDA error ${r})`);
    }
    const ctxOut = new BigUint64Array(1);
    r = cuda.symbols.cuCtxCreate_v2(ctxOut, 0, dev[0]);
    if (r !== 0) {
      throw new NvencUnavailable(`cuCtxCreate failed (CUDA error ${r})`);
    }
    const ctx = Deno.UnsafePointer.create(ctxOut[0]);
    try {
      const openEx = fn("nvEncOpenEncodeSessionEx");
      const destroy = fn("nvEncDestroyEncoder");
      if (!openEx || !destroy) {
        throw new NvencUnavailable("the function list came back empty");
      }
      const params = new Uint8Array(OPEN_SESSION_PARAMS.size);
      const p = new DataView(params.buffer);
      p.setUint32(OPEN_SESSION_PARAMS.offsets.version, structVersion(1), true);
      p.setUint32(
        OPEN_SESSION_PARAMS.offsets.deviceType,
        DEVICE_TYPE_CUDA,
        true,
      );
      p.setBigUint64(OPEN_SESSION_PARAMS.offsets.device, ctxOut[0], true);
      p.setUint32(
        OPEN_SESSION_PARAMS.offsets.apiVersion,
        apiVersion(NVENC_API.major, NVENC_API.minor),
        true,
      );
      const session = new BigUint64Array(1);
      const openFn = new Deno.UnsafeFnPointer(
        openEx as Deno.PointerObject<OpenFn>,
        {
          parameters: ["buffer", "buffer"],
          result: "i32",
        },
      );
      r = openFn.call(params, session) as number;
      if (r !== 0) {
        throw new NvencUnavailable(
          `the driver refused an encode session (NVENCSTATUS ${r}; this GPU may have no NVENC engine)`,
        );
      }
      const destroyFn = new Deno.UnsafeFnPointer(
        destroy as Deno.PointerObject<DestroyFn>,
        {
          parameters: ["pointer"],
          result: "i32",
        },
      );
      destroyFn.call(Deno.UnsafePointer.create(session[0]));
      return {
        ok: true,
        driverApi,
        reason: `an NVENC session opened (driver API ${driverApi})`,
      };
    } finally {
      cuda.symbols.cuCtxDestroy_v2(ctx);
    }
  } catch (err) {
    return { ok: false, driverApi, reason: (err as Error).message };
  } finally {
    enc?.close();
    cuda?.close();
  }
}
