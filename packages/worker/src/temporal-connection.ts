/**
 * How every process of seqtrain reaches Temporal: the address, and for a Temporal cluster or
 * Temporal Cloud, TLS (system roots, or a CA file) with an optional client pair (mTLS) and an API
 * key. One place, so that the worker, the CLI and the benches connect alike.
 */
import { promises as fsp } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { BadInputError, type Config } from '@seqtrain/contracts';

export interface TemporalConnectOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

async function readPem(what: string, env: string, file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw new BadInputError(
      `${env}=${JSON.stringify(file)}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** Options for `Connection.connect` and `NativeConnection.connect`; reads the PEM files named. */
export async function temporalConnectOptions(config: Config): Promise<TemporalConnectOptions> {
  const { address, apiKey, tls } = config.temporal;
  const out: TemporalConnectOptions = { address, ...(apiKey ? { apiKey } : {}) };
  if (!tls.enabled) return out;
  const cfg: TLSConfig = {};
  if (tls.serverName) cfg.serverNameOverride = tls.serverName;
  if (tls.caPath)
    cfg.serverRootCACertificate = await readPem('CA certificate', 'SEQTRAIN_TEMPORAL_TLS_CA', tls.caPath);
  if (tls.certPath && tls.keyPath)
    cfg.clientCertPair = {
      crt: await readPem('client certificate', 'SEQTRAIN_TEMPORAL_TLS_CERT', tls.certPath),
      key: await readPem('client key', 'SEQTRAIN_TEMPORAL_TLS_KEY', tls.keyPath),
    };
  out.tls = Object.keys(cfg).length > 0 ? cfg : true;
  return out;
}
