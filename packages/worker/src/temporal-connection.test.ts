import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError, loadConfig } from '@seqtrain/contracts';
import { temporalConnectOptions } from '@seqtrain/worker';

describe('temporalConnectOptions', () => {
  it('is the address alone for the embedded stack, TLS with system roots for an API key', async () => {
    expect(await temporalConnectOptions(loadConfig({}))).toEqual({ address: '127.0.0.1:7233' });
    expect(
      await temporalConnectOptions(
        loadConfig({ SEQTRAIN_TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', SEQTRAIN_TEMPORAL_API_KEY: 'k' }),
      ),
    ).toEqual({ address: 'ns.acct.tmprl.cloud:7233', apiKey: 'k', tls: true });
  });

  it('reads the CA and the client pair from their files, and names the variable of a missing one', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-tls-'));
    try {
      for (const f of ['ca.pem', 'tls.crt', 'tls.key']) await fsp.writeFile(path.join(dir, f), `PEM ${f}`);
      const o = await temporalConnectOptions(
        loadConfig({
          SEQTRAIN_TEMPORAL_TLS_CA: path.join(dir, 'ca.pem'),
          SEQTRAIN_TEMPORAL_TLS_CERT: path.join(dir, 'tls.crt'),
          SEQTRAIN_TEMPORAL_TLS_KEY: path.join(dir, 'tls.key'),
          SEQTRAIN_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
        }),
      );
      expect(o.tls).toEqual({
        serverNameOverride: 'temporal.internal',
        serverRootCACertificate: Buffer.from('PEM ca.pem'),
        clientCertPair: { crt: Buffer.from('PEM tls.crt'), key: Buffer.from('PEM tls.key') },
      });
      const missing = temporalConnectOptions(
        loadConfig({ SEQTRAIN_TEMPORAL_TLS_CA: path.join(dir, 'nope.pem') }),
      );
      await expect(missing).rejects.toThrow(BadInputError);
      await expect(missing).rejects.toThrow(
        /SEQTRAIN_TEMPORAL_TLS_CA=".*nope.pem": cannot read the CA certificate \(ENOENT\)/,
      );
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
