/**
 * Helpers of the infra/k8s test: KEDA's CRDs as kubeconform schemas, the Temporal scaler's
 * accepted parameters read from KEDA's Go source, and the effective environment of a container.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- rendered Kubernetes objects are untyped YAML; the assertions are their type checks */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered Kubernetes objects are untyped
export type K8sObject = Record<string, any>;

export function parseYamlDocuments(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

type Schema = Record<string, unknown>;

/**
 * An OpenAPI v3 schema of a CRD as a strict JSON schema, the way kubeconform's
 * openapi2jsonschema does it: objects with declared properties allow no others (unless
 * x-kubernetes-preserve-unknown-fields), int-or-string becomes a oneOf.
 */
export function strictSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (node === null || typeof node !== 'object') return node;
  const s = { ...(node as Schema) };
  if (s['x-kubernetes-int-or-string'] === true) {
    delete s.type;
    delete s['x-kubernetes-int-or-string'];
    s.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  for (const key of ['properties', 'patternProperties', 'definitions']) {
    const props = s[key];
    if (props && typeof props === 'object')
      s[key] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, strictSchema(v)]));
  }
  for (const key of ['items', 'not']) if (s[key]) s[key] = strictSchema(s[key]);
  for (const key of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(s[key])) s[key] = strictSchema(s[key]);
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    s.additionalProperties = strictSchema(s.additionalProperties);
  if (
    s.properties !== undefined &&
    s.additionalProperties === undefined &&
    s['x-kubernetes-preserve-unknown-fields'] !== true
  )
    s.additionalProperties = false;
  return s;
}

/**
 * Writes `<out>/<group>/<kind>_<version>.json` for every version of every CRD file given, and
 * returns kubeconform's -schema-location template for that folder.
 */
export async function writeCrdSchemas(crdFiles: string[], out: string): Promise<string> {
  for (const file of crdFiles) {
    const crd = parse(await fsp.readFile(file, 'utf8')) as K8sObject;
    const { group, names, versions } = crd.spec as {
      group: string;
      names: { kind: string };
      versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
    };
    for (const v of versions) {
      const dir = path.join(out, group);
      await fsp.mkdir(dir, { recursive: true });
      const target = path.join(dir, `${names.kind.toLowerCase()}_${v.name}.json`);
      await fsp.writeFile(target, JSON.stringify(strictSchema(v.schema.openAPIV3Schema), null, 1));
    }
  }
  return `${out}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`;
}

export interface ScalerParameters {
  /** names accepted in a trigger's `metadata` */
  triggerMetadata: Set<string>;
  /** names a TriggerAuthentication may set (`parameter:`) */
  authParams: Set<string>;
  /** names that may also come from the target's env (`<name>FromEnv`) */
  resolvedEnv: Set<string>;
}

/** Parses the `keda:"name=..., order=..."` tags of a KEDA scaler's Go source. */
export function scalerParameters(goSource: string): ScalerParameters {
  const result: ScalerParameters = {
    triggerMetadata: new Set(),
    authParams: new Set(),
    resolvedEnv: new Set(),
  };
  for (const m of goSource.matchAll(/`keda:"([^"]*)"`/g)) {
    const fields = Object.fromEntries(
      (m[1] ?? '').split(',').map((part) => {
        const [k, ...v] = part.trim().split('=');
        return [k ?? '', v.join('=')];
      }),
    );
    const names = (fields.name ?? '').split(';').filter(Boolean);
    const orders = (fields.order ?? '').split(';').map((o) => o.trim());
    for (const name of names) {
      if (orders.includes('triggerMetadata')) result.triggerMetadata.add(name);
      if (orders.includes('authParams')) result.authParams.add(name);
      if (orders.includes('resolvedEnv')) result.resolvedEnv.add(name);
    }
  }
  return result;
}

export interface EnvEntry {
  name: string;
  /** a literal value */
  value?: string;
  valueFrom?: K8sObject;
  /** where it came from: env, or configMap NAME via envFrom */
  source: string;
}

/** A container's environment: its `env` and the data of the ConfigMaps its `envFrom` names. */
export function containerEnv(container: K8sObject, objects: K8sObject[]): Map<string, EnvEntry> {
  const env = new Map<string, EnvEntry>();
  for (const from of (container.envFrom ?? []) as K8sObject[]) {
    const ref = from.configMapRef?.name as string | undefined;
    if (!ref) continue;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === ref);
    if (!cm) throw new Error(`container ${container.name} reads ConfigMap ${ref}, which is not rendered`);
    for (const [name, value] of Object.entries((cm.data ?? {}) as Record<string, string>))
      env.set(name, { name, value, source: `configMap ${ref}` });
  }
  for (const e of (container.env ?? []) as K8sObject[])
    env.set(e.name as string, {
      name: e.name as string,
      ...(e.value !== undefined ? { value: String(e.value) } : {}),
      ...(e.valueFrom !== undefined ? { valueFrom: e.valueFrom as K8sObject } : {}),
      source: 'env',
    });
  return env;
}
