// NVENC through FFI: structure layouts against the public nvEncodeAPI.h, version words, API
// negotiation, and the loader's error path on machines without the NVIDIA driver (all of CI).

import assert from "node:assert/strict";
import {
  apiVersion,
  FUNCTION_LIST,
  FUNCTION_SLOTS,
  layoutStruct,
  negotiate,
  OPEN_SESSION_PARAMS,
  probeNvenc,
  structVersion,
} from "../src/encoders/nvenc.ts";

Deno.test("nvenc: the C layout rules (natural alignment, padded size)", () => {
  assert.deepEqual(layoutStruct([["a", "u32"], ["p", "ptr"]]), {
    size: 16,
    offsets: { a: 0, p: 8 },
  });
  assert.deepEqual(
    layoutStruct([["a", "u32"], ["b", "u32"], ["p", "ptr"]]).offsets.p,
    8,
  );
  assert.equal(
    layoutStruct([["p", "ptr"], ["a", "u32"]]).size,
    16,
    "tail padding",
  );
  assert.equal(layoutStruct([["a", "u32", 3]]).size, 12);
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
  assert.equal(FUNCTION_LIST.offsets.nvEncInitializeEncoder, 8 + 11 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncEncodePicture, 8 + 16 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncLockBitstream, 8 + 17 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncDestroyEncoder, 8 + 27 * 8);
  assert.equal(FUNCTION_LIST.offsets.nvEncOpenEncodeSessionEx, 8 + 29 * 8);
  assert.equal(FUNCTION_LIST.offsets.reserved2, 8 + 37 * 8);
});

Deno.test("nvenc: version words and API negotiation", () => {
  assert.equal(apiVersion(9, 0), 9);
  assert.equal(apiVersion(12, 1), (12 | (1 << 24)) >>> 0);
  assert.equal(structVersion(1), 0x70010009);
  assert.equal(structVersion(2), 0x70020009);
  assert.equal(negotiate((12 << 4) | 2), "12.2");
  assert.equal(negotiate(9 << 4), "9.0");
  assert.throws(
    () => negotiate((8 << 4) | 1),
    /supports NVENC API 8\.1; this library needs 9\.0/,
  );
});

const driverPresent = (() => {
  try {
    Deno.dlopen("libnvidia-encode.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "nvenc: without the NVIDIA driver the probe says so and H.264 stays on libx264",
  ignore: driverPresent,
  fn: () => {
    const probe = probeNvenc();
    assert.equal(probe.ok, false);
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
