import { describe, expect, it } from 'vitest';
import { BACKEND_PREFERENCE, getTf, initBackend, nvidiaDeviceMissing } from './index';

describe('SEQTRAIN_BACKEND=auto', () => {
  it('takes the fastest backend that works and says why it passed over faster ones', async () => {
    const logs: string[] = [];
    const info = await initBackend({ backend: 'auto', log: (m) => logs.push(m) });
    expect(info.requested).toBe('auto');
    // Everything before the chosen backend was skipped, in preference order, each with a reason.
    expect(info.skipped.map((s) => s.name)).toEqual(
      BACKEND_PREFERENCE.slice(0, BACKEND_PREFERENCE.indexOf(info.name)),
    );
    for (const s of info.skipped) expect(s.reason).not.toBe('');
    expect(BACKEND_PREFERENCE).not.toContain('tensorflow-gpu');
    // Without an NVIDIA GPU, cuda is passed over first, naming the missing GPU.
    if (nvidiaDeviceMissing() !== null) {
      expect(info.skipped[0]).toMatchObject({
        name: 'cuda',
        reason: expect.stringMatching(/^no NVIDIA GPU or driver/) as string,
      });
    }
    // Without a hardware WebGPU adapter the native CPU backend wins (this is the case on CI machines).
    if (info.skipped.some((s) => s.name === 'webgpu')) {
      expect(info.name).toBe('tensorflow');
      expect(info.nativeTfVersion).toMatch(/^2\.21\./);
    }
    expect(getTf().getBackend()).toBe(info.name === 'tensorflow' ? 'tensorflow' : info.name);
    expect(logs.at(-1)).toContain(`backend ${info.name}`);
  });
});
