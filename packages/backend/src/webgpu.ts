/**
 * WebGPU through Dawn (the `webgpu` package) for tfjs-backend-webgpu. Dawn may offer a software
 * adapter (SwiftShader, llvmpipe/lavapipe) that is slower than native TensorFlow on the same CPU, so
 * auto mode takes WebGPU only on a hardware adapter; an explicit choice accepts either.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Tfjs from '@tensorflow/tfjs';
import type { Loaded, Unavailable } from './loaded';

const require = createRequire(import.meta.url);

/** The fields of GPUAdapterInfo we judge by (older Dawn builds lack isFallbackAdapter). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export function isHardwareAdapter(info: AdapterInfoLike): boolean {
  if (info.isFallbackAdapter === true) return false;
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  return !SOFTWARE_ADAPTER.test(text);
}

export function describeAdapter(info: AdapterInfoLike): string {
  const text = [info.vendor, info.architecture, info.device, info.description].filter(
    (s) => s !== undefined && s !== '',
  );
  return text.length > 0 ? [...new Set(text)].join(' ') : 'unknown adapter';
}

interface GpuLike {
  requestAdapter(options?: {
    powerPreference?: 'high-performance' | 'low-power';
  }): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
}

export interface WebGpuProbe {
  adapter: AdapterInfoLike | null;
  hardware: boolean;
  /** Set when Dawn itself could not be loaded or asked. */
  error?: string;
}

let dawn: Promise<GpuLike> | undefined;

function loadDawn(): Promise<GpuLike> {
  dawn ??= import('webgpu').then((mod) => {
    // GPUBufferUsage, GPUMapMode, ... are globals in a browser and tfjs-backend-webgpu uses them so.
    Object.assign(globalThis, mod.globals);
    const gpu: GpuLike = mod.create([]);
    return gpu;
  });
  return dawn;
}

/**
 * On Linux Dawn reaches every GPU through the Vulkan loader. Without it Dawn can only fail (after
 * printing a warning), so we do not load its 20 MB addon at all.
 */
function vulkanLoaderMissing(): boolean {
  if (process.platform !== 'linux') return false;
  // LD_LIBRARY_PATH is the dynamic loader's own setting, not seqtrain configuration.
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/lib64',
  ];
  if (dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) return false;
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const res = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
    if (res.status === 0) return !res.stdout.includes('libvulkan.so.1');
  }
  return true;
}

/** Asks Dawn for its preferred adapter without creating a device. */
export async function probeWebGpu(timeoutMs = 15_000): Promise<WebGpuProbe> {
  if (vulkanLoaderMissing())
    return { adapter: null, hardware: false, error: 'libvulkan.so.1 (the Vulkan loader) is not installed' };
  try {
    const gpu = await loadDawn();
    const adapter = await withTimeout(gpu.requestAdapter({ powerPreference: 'high-performance' }), timeoutMs);
    if (adapter === null) return { adapter: null, hardware: false };
    const info: AdapterInfoLike = {
      ...adapter.info,
      isFallbackAdapter: adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter,
    };
    return { adapter: info, hardware: isHardwareAdapter(info) };
  } catch (err) {
    return { adapter: null, hardware: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export async function loadWebGpu(requireHardware: boolean): Promise<Loaded | Unavailable> {
  const probe = await probeWebGpu();
  if (probe.error !== undefined) return { reasons: [`WebGPU (Dawn) is not usable: ${probe.error}`] };
  if (probe.adapter === null)
    return { reasons: ['no WebGPU adapter found (Dawn sees no Vulkan/Metal/D3D12 GPU)'] };
  if (requireHardware && !probe.hardware) {
    return { reasons: [`only a software WebGPU adapter is present (${describeAdapter(probe.adapter)})`] };
  }
  const gpu = await loadDawn();
  // tfjs-backend-webgpu registers itself only where navigator.gpu exists (Node 20 has no navigator).
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav === undefined)
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  const tf = require('@tensorflow/tfjs') as typeof Tfjs;
  require('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') === null) {
    return {
      reasons: [
        '@tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed and did not register',
      ],
    };
  }
  if (!(await tf.setBackend('webgpu')))
    return { reasons: ['tfjs-backend-webgpu failed to initialise on the adapter'] };
  return {
    tf,
    name: 'webgpu',
    nativeTfVersion: null,
    tfjsNodeVersion: null,
    device: `${describeAdapter(probe.adapter)}${probe.hardware ? '' : ' (software)'}`,
    threads: { intraOp: 1, interOp: 1 },
    numericsEnv: {},
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Dawn within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
