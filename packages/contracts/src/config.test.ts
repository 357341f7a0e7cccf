import { describe, expect, it } from 'vitest';
import { BadInputError, loadConfig } from '@seqtrain/contracts';

describe('loadConfig', () => {
  it('uses the embedded-stack defaults of CLI.md', () => {
    const c = loadConfig({ HOME: '/home/u' });
    expect(c.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
    expect(c.s3).toMatchObject({ bucket: 'seqtrain', endpoint: 'http://127.0.0.1:4568' });
    expect(c.backend).toBe('auto');
    expect(c.home).toBe('/home/u/.local/share/seqtrain');
    // The data plane listens on loopback and an ephemeral port unless told otherwise.
    expect(c.dataPlane).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('takes and checks the data-plane listener address', () => {
    expect(
      loadConfig({ SEQTRAIN_DATA_PLANE_HOST: '10.0.0.5', SEQTRAIN_DATA_PLANE_PORT: '7400' }).dataPlane,
    ).toEqual({
      host: '10.0.0.5',
      port: 7400,
    });
    expect(loadConfig({ SEQTRAIN_DATA_PLANE_HOST: 'trainer-0.trainers.svc' }).dataPlane.host).toBe(
      'trainer-0.trainers.svc',
    );
    expect(() => loadConfig({ SEQTRAIN_DATA_PLANE_PORT: '70000' })).toThrow(/SEQTRAIN_DATA_PLANE_PORT=70000/);
    expect(() => loadConfig({ SEQTRAIN_DATA_PLANE_PORT: 'abc' })).toThrow(
      /SEQTRAIN_DATA_PLANE_PORT="abc" is not a positive integer/,
    );
    expect(() => loadConfig({ SEQTRAIN_DATA_PLANE_HOST: 'bad host!' })).toThrow(
      /SEQTRAIN_DATA_PLANE_HOST="bad host!"/,
    );
  });

  it('rejects unknown SEQTRAIN_* variables by name', () => {
    expect(() => loadConfig({ SEQTRAIN_BAKEND: 'cpu', SEQTRAIN_TEMPRAL: 'x' })).toThrow(
      /SEQTRAIN_BAKEND, SEQTRAIN_TEMPRAL/,
    );
    expect(() => loadConfig({ SEQTRAIN_BAKEND: 'cpu' })).toThrow(BadInputError);
  });

  it('names the variable and value that is invalid, but never a secret', () => {
    expect(() => loadConfig({ SEQTRAIN_BACKEND: 'tpu' })).toThrow(/SEQTRAIN_BACKEND="tpu"/);
    expect(() => loadConfig({ SEQTRAIN_TEMPORAL_ADDRESS: 'nohost' })).toThrow(
      /SEQTRAIN_TEMPORAL_ADDRESS="nohost"/,
    );
    expect(() => loadConfig({ SEQTRAIN_S3_BUCKET: 'Bad_Bucket' })).toThrow(/SEQTRAIN_S3_BUCKET="Bad_Bucket"/);
    const err = (() => {
      try {
        loadConfig({ SEQTRAIN_S3_ENDPOINT: 'aws', AWS_SECRET_ACCESS_KEY: '', AWS_ACCESS_KEY_ID: 'x' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toMatch(/AWS_SECRET_ACCESS_KEY=<redacted>/);
  });
});
