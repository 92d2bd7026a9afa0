/**
 * NVENC through `Deno.dlopen`: where the driver's libraries are
 * (`libcuda.so.1` and `libnvidia-encode.so.1`, or the paths in
 * `RFB_CUDA_LIBRARY` and `RFB_NVENC_LIBRARY`), loading them without a
 * permission prompt, `NvencDriver` (API version negotiated, function list
 * filled, a CUDA context on device 0, encode sessions opened and
 * destroyed), `NVENCSTATUS` names, and a probe that opens and closes an
 * encode session. The structures are in `abi.ts`; the encoder is in
 * `encoder.ts`.
 *
 * Tested against a fake driver built by the tests, not on NVIDIA hardware.
 *
 * @module
 */

import {
  apiVersion,
  DEVICE_TYPE_CUDA,
  FUNCTION_LIST,
  negotiate,
  NVENC_API,
  OPEN_SESSION_PARAMS,
  structVersion,
} from "./abi.ts";

/** CUDA's `CU_CTX_SCHED_BLOCKING_SYNC`: waits on the GPU sleep instead of spinning. */
const CU_CTX_SCHED_BLOCKING_SYNC = 0x4;

/**
 * Why NVENC cannot be used here.
 *
 * @example
 * ```ts
 * import { NvencUnavailable } from "./driver.ts";
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
 * import { nvencLibraries } from "./driver.ts";
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
 * import { statusName } from "./driver.ts";
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
 * import { nvencLoadError } from "./driver.ts";
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
