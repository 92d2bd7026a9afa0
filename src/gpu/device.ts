/**
 * WebGPU device acquisition with Deno's built-in WebGPU, and a clear error
 * when there is no adapter.
 *
 * @module
 */

/** A device with facts about its adapter. */
export interface GpuContext {
  /** The adapter. */
  adapter: GPUAdapter;
  /** The device. */
  device: GPUDevice;
  /** The adapter's description, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15)". */
  description: string;
  /** True for software adapters (llvmpipe, lavapipe, SwiftShader). */
  software: boolean;
}

/**
 * Get a WebGPU device, or throw an `Error` that says how to get one.
 *
 * @example
 * ```ts ignore
 * const { device, description } = await requestGpu();
 * console.log(`rendering on ${description}`);
 * ```
 */
export async function requestGpu(
  options: GPURequestAdapterOptions = { powerPreference: "high-performance" },
): Promise<GpuContext> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new Error(
      "WebGPU is not available in this runtime (navigator.gpu is missing)",
    );
  }
  // Mesa's software adapters complain on stderr without a runtime dir.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync());
  }
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) {
    throw new Error(
      "no WebGPU adapter: install your GPU's driver (Vulkan, Metal or D3D12), " +
        "or Mesa's software one (Debian: apt-get install mesa-vulkan-drivers libvulkan1)",
    );
  }
  const device = await adapter.requestDevice();
  const info = adapter.info;
  const description = info.description || info.device || info.vendor ||
    "unnamed adapter";
  return {
    adapter,
    device,
    description,
    software: /llvmpipe|lavapipe|swiftshader|softpipe/i.test(
      `${description} ${info.vendor}`,
    ),
  };
}
