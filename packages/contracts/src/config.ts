/**
 * Process configuration: the SEQTRAIN_* environment (README, Configuration), validated once at each entry point.
 * Unknown SEQTRAIN_* keys are rejected so that a typo never silently falls back to a default.
 * No Node imports here: workflows import this package and must stay deterministic.
 */
import { z } from 'zod';
import { BadInputError } from './errors';

export const BACKEND_NAMES = [
  'auto',
  'cuda',
  'webgpu',
  'tensorflow',
  'wasm',
  'cpu',
  'tensorflow-gpu',
] as const;
export const BackendNameSchema = z.enum(BACKEND_NAMES);
export type BackendName = z.infer<typeof BackendNameSchema>;

/** Every SEQTRAIN_* variable the configuration reads (the README documents each one). */
export const KNOWN_KEYS = [
  'SEQTRAIN_TEMPORAL_ADDRESS',
  'SEQTRAIN_TEMPORAL_NAMESPACE',
  'SEQTRAIN_S3_ENDPOINT',
  'SEQTRAIN_S3_BUCKET',
  'SEQTRAIN_S3_REGION',
  'SEQTRAIN_BACKEND',
  'SEQTRAIN_HOME',
  'SEQTRAIN_TEMPORAL_CLI',
  'SEQTRAIN_CACHE',
  'SEQTRAIN_S3_PORT',
  'SEQTRAIN_TEMPORAL_UI_PORT',
  'SEQTRAIN_REGISTRY_TOKENS',
  'SEQTRAIN_REGISTRY_URL',
  'SEQTRAIN_REGISTRY_TOKEN',
  'SEQTRAIN_LOG_LEVEL',
  'SEQTRAIN_THREADS',
  'SEQTRAIN_DATA_PLANE_HOST',
  'SEQTRAIN_DATA_PLANE_PORT',
  'SEQTRAIN_DATA_PLANE_ADVERTISE',
  'SEQTRAIN_TEMPORAL_API_KEY',
  'SEQTRAIN_TEMPORAL_TLS',
  'SEQTRAIN_TEMPORAL_TLS_CERT',
  'SEQTRAIN_TEMPORAL_TLS_KEY',
  'SEQTRAIN_TEMPORAL_TLS_CA',
  'SEQTRAIN_TEMPORAL_TLS_SERVER_NAME',
  'SEQTRAIN_METRICS_HOST',
  'SEQTRAIN_METRICS_PORT',
  'SEQTRAIN_SHUTDOWN_GRACE_SECONDS',
] as const;
export type KnownEnvKey = (typeof KNOWN_KEYS)[number];

const hostName = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/,
    'expected an IP address or a host name, e.g. 127.0.0.1 or 10.0.0.5',
  );

const hostPort = z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7233');

export const ConfigSchema = z.object({
  temporal: z.object({
    address: hostPort,
    namespace: z.string().min(1),
    uiPort: z.number().int().positive(),
    /** Temporal Cloud API key (sent as a bearer token; implies TLS unless TLS is set to false) */
    apiKey: z.string().min(1).optional(),
    /** TLS to the frontend: off, on with the system roots, or with a CA / client pair (mTLS) */
    tls: z
      .object({
        enabled: z.boolean(),
        /** PEM file paths */
        certPath: z.string().min(1).optional(),
        keyPath: z.string().min(1).optional(),
        caPath: z.string().min(1).optional(),
        serverName: z.string().min(1).optional(),
      })
      .refine((t) => (t.certPath === undefined) === (t.keyPath === undefined), {
        message:
          'a client certificate needs its key: set both SEQTRAIN_TEMPORAL_TLS_CERT and SEQTRAIN_TEMPORAL_TLS_KEY',
        path: ['certPath'],
      }),
  }),
  s3: z.object({
    /** undefined = AWS S3 */
    endpoint: z.string().url().optional(),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name'),
    region: z.string().min(1),
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
    /** port of the embedded local S3 server (only used by `seqtrain up`) */
    localPort: z.number().int().positive(),
  }),
  backend: BackendNameSchema,
  home: z.string().min(1),
  cacheDir: z.string().min(1),
  temporalCli: z.string().optional(),
  registry: z.object({
    url: z.string().url().optional(),
    token: z.string().optional(),
    tokens: z.string().optional(),
  }),
  threads: z.number().int().positive().optional(),
  /** a trainer's gradient-exchange listener: the address it binds and advertises to its peers */
  dataPlane: z.object({
    host: hostName,
    /** 0 = an ephemeral port chosen at start */
    port: z.number().int().min(0).max(65535),
    /**
     * host[:port] peers dial instead of the bound address (a pod IP, a NAT or proxy address);
     * without a port, the bound port
     */
    advertise: z
      .string()
      .regex(
        /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/,
        'expected host or host:port, e.g. 10.0.0.5 or 10.0.0.5:7300',
      )
      .optional(),
  }),
  /** every worker's Prometheus /metrics, /healthz and /readyz listener */
  metrics: z.object({
    host: hostName,
    /** 0 = an ephemeral port chosen at start (printed, and in the worker's state file) */
    port: z.number().int().min(0).max(65535),
  }),
  /** how long a stopping worker lets its running activities finish (Kubernetes: below terminationGracePeriodSeconds) */
  shutdownGraceSeconds: z.number().int().min(0).max(86_400).optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
});
export type Config = z.infer<typeof ConfigSchema>;

export const LOCAL_ACCESS_KEY = 'seqtrain-local';
export const LOCAL_SECRET_KEY = 'seqtrain-local-secret';
export const DEFAULT_S3_PORT = 4568;

function intOrUndefined(key: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value))
    throw new BadInputError(`${key}=${JSON.stringify(value)} is not a positive integer`);
  return Number(value);
}

function boolOrUndefined(key: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new BadInputError(`${key}=${JSON.stringify(value)}: expected true or false`);
}

function optional<K extends string, V>(key: K, value: V | undefined | ''): { [P in K]?: V } {
  return value === undefined || value === '' ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Reads and validates the environment. Pass `process.env` only from an entry point. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const unknown = Object.keys(env).filter(
    (k) => k.startsWith('SEQTRAIN_') && !(KNOWN_KEYS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) {
    throw new BadInputError(
      `unknown environment variable${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${KNOWN_KEYS.join(', ')}`,
    );
  }
  const userHome = env.HOME ?? env.USERPROFILE ?? '/tmp';
  const home = env.SEQTRAIN_HOME ?? `${userHome}/.local/share/seqtrain`;
  const localPort = intOrUndefined('SEQTRAIN_S3_PORT', env.SEQTRAIN_S3_PORT) ?? DEFAULT_S3_PORT;
  const endpointRaw = env.SEQTRAIN_S3_ENDPOINT;
  // Unset endpoint means the embedded local server; the literal "aws" selects real AWS S3.
  const endpoint = endpointRaw === 'aws' ? undefined : (endpointRaw ?? `http://127.0.0.1:${localPort}`);
  const isLocal = endpoint !== undefined && endpointRaw === undefined;
  const raw = {
    temporal: {
      address: env.SEQTRAIN_TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
      namespace: env.SEQTRAIN_TEMPORAL_NAMESPACE ?? 'default',
      uiPort: intOrUndefined('SEQTRAIN_TEMPORAL_UI_PORT', env.SEQTRAIN_TEMPORAL_UI_PORT) ?? 8233,
      ...(env.SEQTRAIN_TEMPORAL_API_KEY ? { apiKey: env.SEQTRAIN_TEMPORAL_API_KEY } : {}),
      tls: {
        enabled:
          boolOrUndefined('SEQTRAIN_TEMPORAL_TLS', env.SEQTRAIN_TEMPORAL_TLS) ??
          Boolean(
            env.SEQTRAIN_TEMPORAL_API_KEY || env.SEQTRAIN_TEMPORAL_TLS_CERT || env.SEQTRAIN_TEMPORAL_TLS_CA,
          ),
        ...optional('certPath', env.SEQTRAIN_TEMPORAL_TLS_CERT),
        ...optional('keyPath', env.SEQTRAIN_TEMPORAL_TLS_KEY),
        ...optional('caPath', env.SEQTRAIN_TEMPORAL_TLS_CA),
        ...optional('serverName', env.SEQTRAIN_TEMPORAL_TLS_SERVER_NAME),
      },
    },
    s3: {
      endpoint,
      bucket: env.SEQTRAIN_S3_BUCKET ?? 'seqtrain',
      region: env.SEQTRAIN_S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? (isLocal || endpoint ? LOCAL_ACCESS_KEY : ''),
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? (isLocal || endpoint ? LOCAL_SECRET_KEY : ''),
      localPort,
    },
    backend: env.SEQTRAIN_BACKEND ?? 'auto',
    home,
    cacheDir: env.SEQTRAIN_CACHE ?? `${userHome}/.cache/seqtrain`,
    temporalCli: env.SEQTRAIN_TEMPORAL_CLI,
    registry: {
      url: env.SEQTRAIN_REGISTRY_URL,
      token: env.SEQTRAIN_REGISTRY_TOKEN,
      tokens: env.SEQTRAIN_REGISTRY_TOKENS,
    },
    threads: intOrUndefined('SEQTRAIN_THREADS', env.SEQTRAIN_THREADS),
    dataPlane: {
      // Loopback unless asked: the data plane is for peers of the same run, not the network at large.
      host: env.SEQTRAIN_DATA_PLANE_HOST ?? '127.0.0.1',
      port: intOrUndefined('SEQTRAIN_DATA_PLANE_PORT', env.SEQTRAIN_DATA_PLANE_PORT) ?? 0,
      ...optional('advertise', env.SEQTRAIN_DATA_PLANE_ADVERTISE),
    },
    metrics: {
      host: env.SEQTRAIN_METRICS_HOST ?? '127.0.0.1',
      port: intOrUndefined('SEQTRAIN_METRICS_PORT', env.SEQTRAIN_METRICS_PORT) ?? 0,
    },
    ...optional(
      'shutdownGraceSeconds',
      intOrUndefined('SEQTRAIN_SHUTDOWN_GRACE_SECONDS', env.SEQTRAIN_SHUTDOWN_GRACE_SECONDS),
    ),
    logLevel: env.SEQTRAIN_LOG_LEVEL ?? 'info',
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BadInputError(`invalid configuration: ${formatZodIssues(parsed.error, raw, ENV_NAMES)}`);
  }
  return parsed.data;
}

const ENV_NAMES: Record<string, string> = {
  'temporal.address': 'SEQTRAIN_TEMPORAL_ADDRESS',
  'temporal.namespace': 'SEQTRAIN_TEMPORAL_NAMESPACE',
  's3.endpoint': 'SEQTRAIN_S3_ENDPOINT',
  's3.bucket': 'SEQTRAIN_S3_BUCKET',
  's3.region': 'SEQTRAIN_S3_REGION',
  's3.accessKeyId': 'AWS_ACCESS_KEY_ID',
  's3.secretAccessKey': 'AWS_SECRET_ACCESS_KEY',
  backend: 'SEQTRAIN_BACKEND',
  logLevel: 'SEQTRAIN_LOG_LEVEL',
  'dataPlane.host': 'SEQTRAIN_DATA_PLANE_HOST',
  'dataPlane.port': 'SEQTRAIN_DATA_PLANE_PORT',
  'dataPlane.advertise': 'SEQTRAIN_DATA_PLANE_ADVERTISE',
  'temporal.apiKey': 'SEQTRAIN_TEMPORAL_API_KEY',
  'temporal.tls.certPath': 'SEQTRAIN_TEMPORAL_TLS_CERT',
  'temporal.tls.keyPath': 'SEQTRAIN_TEMPORAL_TLS_KEY',
  'temporal.tls.caPath': 'SEQTRAIN_TEMPORAL_TLS_CA',
  'temporal.tls.serverName': 'SEQTRAIN_TEMPORAL_TLS_SERVER_NAME',
  'metrics.host': 'SEQTRAIN_METRICS_HOST',
  'metrics.port': 'SEQTRAIN_METRICS_PORT',
};

/** Turns zod issues into "field=value: problem" lines; secrets are never echoed. */
/** `path.to.field: message` of a schema's first issue: the one short form of a refusal. */
export function firstIssue(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): string {
  const issue = error.issues[0];
  return `${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`;
}

export function formatZodIssues(
  error: z.ZodError,
  input: unknown,
  names: Record<string, string> = {},
): string {
  return error.issues
    .map((issue) => {
      const dotted = issue.path.map(String).join('.');
      const field = names[dotted] ?? (dotted || '(root)');
      let value: unknown = input;
      for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
      const shown = /secret|token|password|apikey/i.test(dotted) ? '<redacted>' : JSON.stringify(value);
      return `${field}=${shown}: ${issue.message}`;
    })
    .join('; ');
}
