import { describe, expect, it } from 'vitest';
import { BadInputError, loadConfig } from '@seqtrain/contracts';

describe('loadConfig', () => {
  it('uses the embedded-stack defaults of the README', () => {
    const c = loadConfig({ HOME: '/home/u' });
    expect(c.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
    expect(c.s3).toMatchObject({ bucket: 'seqtrain', endpoint: 'http://127.0.0.1:4568' });
    expect(c.backend).toBe('auto');
    expect(c.home).toBe('/home/u/.local/share/seqtrain');
    // The data plane listens on loopback and an ephemeral port unless told otherwise.
    expect(c.dataPlane).toEqual({ host: '127.0.0.1', port: 0 });
    // Metrics on loopback too; Temporal in plain text without credentials.
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 0 });
    expect(c.temporal.tls).toEqual({ enabled: false });
    expect(c.temporal.apiKey).toBeUndefined();
  });

  it('takes Temporal TLS and API keys, and refuses half a client pair or a bad switch', () => {
    const cloud = loadConfig({ SEQTRAIN_TEMPORAL_API_KEY: 'k-123' }).temporal;
    // An API key goes to Temporal Cloud, which speaks TLS only.
    expect(cloud).toMatchObject({ apiKey: 'k-123', tls: { enabled: true } });
    expect(
      loadConfig({ SEQTRAIN_TEMPORAL_API_KEY: 'k', SEQTRAIN_TEMPORAL_TLS: 'false' }).temporal.tls.enabled,
    ).toBe(false);
    expect(
      loadConfig({
        SEQTRAIN_TEMPORAL_TLS_CERT: '/s/tls.crt',
        SEQTRAIN_TEMPORAL_TLS_KEY: '/s/tls.key',
        SEQTRAIN_TEMPORAL_TLS_CA: '/s/ca.crt',
      }).temporal.tls,
    ).toEqual({ enabled: true, certPath: '/s/tls.crt', keyPath: '/s/tls.key', caPath: '/s/ca.crt' });
    expect(() => loadConfig({ SEQTRAIN_TEMPORAL_TLS_CERT: '/s/tls.crt' })).toThrow(
      /SEQTRAIN_TEMPORAL_TLS_CERT="\/s\/tls.crt": a client certificate needs its key/,
    );
    expect(() => loadConfig({ SEQTRAIN_TEMPORAL_TLS: 'maybe' })).toThrow(
      /SEQTRAIN_TEMPORAL_TLS="maybe": expected true or false/,
    );
    // The key itself is never echoed, not even when it is the field at fault.
    const key = 'tc-key-c0ffee';
    let message = '';
    try {
      loadConfig({ SEQTRAIN_TEMPORAL_API_KEY: key, SEQTRAIN_TEMPORAL_ADDRESS: 'x' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/SEQTRAIN_TEMPORAL_ADDRESS="x"/);
    expect(message).not.toContain(key);
  });

  it('takes the metrics listener, the advertised data-plane address and the shutdown grace', () => {
    const c = loadConfig({
      SEQTRAIN_METRICS_HOST: '0.0.0.0',
      SEQTRAIN_METRICS_PORT: '9464',
      SEQTRAIN_DATA_PLANE_ADVERTISE: '10.1.2.3:7300',
      SEQTRAIN_SHUTDOWN_GRACE_SECONDS: '120',
    });
    expect(c.metrics).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(c.dataPlane.advertise).toBe('10.1.2.3:7300');
    expect(c.shutdownGraceSeconds).toBe(120);
    expect(loadConfig({ SEQTRAIN_DATA_PLANE_ADVERTISE: '[fd00::5]' }).dataPlane.advertise).toBe('[fd00::5]');
    expect(() => loadConfig({ SEQTRAIN_DATA_PLANE_ADVERTISE: 'a b:1' })).toThrow(
      /SEQTRAIN_DATA_PLANE_ADVERTISE="a b:1"/,
    );
    expect(() => loadConfig({ SEQTRAIN_METRICS_PORT: '-1' })).toThrow(/SEQTRAIN_METRICS_PORT="-1"/);
    expect(() => loadConfig({ SEQTRAIN_SHUTDOWN_GRACE_SECONDS: '1.5' })).toThrow(
      /SEQTRAIN_SHUTDOWN_GRACE_SECONDS="1.5"/,
    );
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
