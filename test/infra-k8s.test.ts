/**
 * Offline validation of infra/: every Kustomize overlay rendered with kustomize and checked by
 * kubeconform (strict) against Kubernetes' schemas (PyPI kubernetes-validate) and KEDA's CRDs (Go
 * module proxy); the ScaledObject against KEDA's own Temporal scaler source; the environment
 * against @seqtrain/contracts; the Dockerfiles and the example CI job parsed. Tools are pinned and
 * built or fetched once into ~/.cache/seqtrain (a missing one fails this test, never skips it).
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- rendered Kubernetes objects are untyped YAML; the assertions are their type checks */
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KNOWN_KEYS, TRAINER_QUEUE } from '@seqtrain/contracts';
import {
  ensureKedaSource,
  ensureKubeconform,
  ensureKubernetesSchemas,
  ensureKustomize,
  KEDA_VERSION,
} from '@seqtrain/local-stack';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  containerEnv,
  parseYamlDocuments,
  scalerParameters,
  writeCrdSchemas,
  type K8sObject,
  type ScalerParameters,
} from './support/k8s';

const root = path.resolve(import.meta.dirname, '..');
const k8s = path.join(root, 'infra/k8s');
const overlaysDir = path.join(k8s, 'overlays');
const overlays = readdirSync(overlaysDir).filter((d) =>
  existsSync(path.join(overlaysDir, d, 'kustomization.yaml')),
);
const cacheDir = process.env.SEQTRAIN_CACHE ?? path.join(os.homedir(), '.cache', 'seqtrain');
const log = (m: string): void => void process.stderr.write(`[infra-k8s] ${m}\n`);

const SECRET_LIKE = /(SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY)/;
/** secret-like names whose value is a path to a mounted secret file */
const SECRET_FILE_PATHS = new Set([
  'SEQTRAIN_TEMPORAL_TLS_CERT',
  'SEQTRAIN_TEMPORAL_TLS_KEY',
  'SEQTRAIN_TEMPORAL_TLS_CA',
]);

let kubeconform = '';
let kedaDir = '';
let k8sSchemaLocation = '';
let k8sVersion = '';
let kedaSchemaLocation = '';
let scaler: ScalerParameters;
/** KEDA's Prometheus scaler (the hold-while-training trigger) */
let promScaler: ScalerParameters;
const rendered = new Map<string, { text: string; objects: K8sObject[] }>();

function exec(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

beforeAll(async () => {
  const started = Date.now();
  // Fails (does not skip) with the reason when a tool cannot be obtained.
  const [kustomize, kc, schemas, keda] = await Promise.all([
    ensureKustomize({ cacheDir, log }),
    ensureKubeconform({ cacheDir, log }),
    ensureKubernetesSchemas({ cacheDir, log }),
    ensureKedaSource({ cacheDir, log }),
  ]);
  kubeconform = kc;
  kedaDir = keda;
  k8sSchemaLocation = schemas.location;
  k8sVersion = schemas.kubernetesVersion;
  const crds = ['keda.sh_scaledobjects.yaml', 'keda.sh_triggerauthentications.yaml'].map((f) =>
    path.join(kedaDir, 'config/crd/bases', f),
  );
  const schemaDir = path.join(cacheDir, 'tools', `keda-crd-schemas-${KEDA_VERSION.replace(/^v/, '')}`);
  kedaSchemaLocation = await writeCrdSchemas(crds, schemaDir);
  const scalerFile = ['pkg/scalers/temporal_scaler.go', 'pkg/scalers/temporal.go']
    .map((f) => path.join(kedaDir, f))
    .find((f) => existsSync(f));
  if (!scalerFile)
    throw new Error(`KEDA ${KEDA_VERSION} has no Temporal scaler source in ${kedaDir}/pkg/scalers`);
  scaler = scalerParameters(await fsp.readFile(scalerFile, 'utf8'));
  promScaler = scalerParameters(
    await fsp.readFile(path.join(kedaDir, 'pkg/scalers/prometheus_scaler.go'), 'utf8'),
  );
  for (const overlay of overlays) {
    const text = exec(kustomize, ['build', path.join(overlaysDir, overlay)]);
    rendered.set(overlay, { text, objects: parseYamlDocuments(text) });
  }
  log(`tools and renders ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 20 * 60_000);

const find = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`no ${kind} ${name} rendered`);
  return o;
};
const podSpec = (d: K8sObject): K8sObject => d.spec.template.spec as K8sObject;
const mainContainer = (d: K8sObject): K8sObject => (podSpec(d).containers as K8sObject[])[0] as K8sObject;
const workerDeployments = ['seqtrain-orchestrator', 'seqtrain-trainer'];
const allDeployments = [...workerDeployments, 'seqtrain-registry'];

describe('infra/k8s overlays', () => {
  it('has the cpu and gpu overlays, and one that holds training trainers', () => {
    expect(overlays).toEqual(expect.arrayContaining(['cpu', 'gpu', 'cpu-hold']));
    const so = find(rendered.get('cpu-hold')!.objects, 'ScaledObject', 'seqtrain-trainer');
    expect((so.spec.triggers as K8sObject[]).map((x) => x.type)).toEqual(['temporal', 'prometheus']);
  });

  it.each(overlays)(
    '%s: kubeconform accepts every object (strict, Kubernetes and KEDA schemas)',
    (overlay) => {
      const { text, objects } = rendered.get(overlay)!;
      const out = exec(
        kubeconform,
        [
          '-strict',
          '-summary',
          '-output',
          'json',
          '-kubernetes-version',
          k8sVersion,
          '-schema-location',
          k8sSchemaLocation,
          '-schema-location',
          kedaSchemaLocation,
          '-',
        ],
        text,
      );
      const report = JSON.parse(out) as {
        resources?: { kind: string; name: string; status: string; msg: string }[];
        summary: { valid: number; invalid: number; errors: number; skipped: number };
      };
      expect(report.resources ?? []).toEqual([]);
      expect(report.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
      expect(objects.map((o) => o.kind)).toEqual(
        expect.arrayContaining([
          'ScaledObject',
          'TriggerAuthentication',
          'NetworkPolicy',
          'Deployment',
          'Service',
        ]),
      );
    },
  );

  it.each(overlays)('%s: the ScaledObject scales the trainer Deployment on seqtrain-train', (overlay) => {
    const { objects } = rendered.get(overlay)!;
    const so = find(objects, 'ScaledObject', 'seqtrain-trainer');
    expect(so.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'seqtrain-trainer' });
    find(objects, 'Deployment', so.spec.scaleTargetRef.name as string);
    expect(so.spec.minReplicaCount).toBe(0);
    expect(so.spec.maxReplicaCount).toBeGreaterThanOrEqual(2);
    expect(so.spec.cooldownPeriod).toBeGreaterThanOrEqual(600);
    expect(
      so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds,
    ).toBeGreaterThanOrEqual(600);
    const triggers = so.spec.triggers as K8sObject[];
    const temporal = triggers.filter((x) => x.type === 'temporal');
    expect(temporal).toHaveLength(1);
    const t = temporal[0]!;
    // Any other trigger is the hold-while-training one: Prometheus, on a metric trainers serve.
    for (const other of triggers.filter((x) => x !== t)) {
      expect(other.type).toBe('prometheus');
      for (const key of Object.keys(other.metadata as object))
        expect(promScaler.triggerMetadata.has(key), `prometheus trigger metadata ${key}`).toBe(true);
      expect(other.metadata.query).toMatch(/\bseqtrain_train_steps_total\b/);
      expect(other.metadata).toMatchObject({ threshold: '1', activationThreshold: '0' });
    }
    expect(t.metadata).toMatchObject({ taskQueue: TRAINER_QUEUE, queueTypes: 'activity' });
    expect(TRAINER_QUEUE).toBe('seqtrain-train');
    for (const key of ['endpoint', 'namespace', 'targetQueueSize', 'activationTargetQueueSize'])
      expect(t.metadata, key).toHaveProperty(key);
    // every metadata key is one KEDA's Temporal scaler reads (its struct tags), or NAMEFromEnv of one
    expect(scaler.triggerMetadata.size).toBeGreaterThan(5);
    for (const key of Object.keys(t.metadata as object)) {
      const fromEnv = key.endsWith('FromEnv') ? key.slice(0, -'FromEnv'.length) : undefined;
      const ok =
        scaler.triggerMetadata.has(key) || (fromEnv !== undefined && scaler.resolvedEnv.has(fromEnv));
      expect(
        ok,
        `trigger metadata ${key} is not a parameter of KEDA ${KEDA_VERSION}'s temporal scaler (${[...scaler.triggerMetadata].join(', ')})`,
      ).toBe(true);
    }
    // the scaler dials the workers' own Temporal
    const trainerEnv = containerEnv(mainContainer(find(objects, 'Deployment', 'seqtrain-trainer')), objects);
    expect(t.metadata.endpoint).toBe(trainerEnv.get('SEQTRAIN_TEMPORAL_ADDRESS')?.value);
    expect(t.metadata.namespace).toBe(trainerEnv.get('SEQTRAIN_TEMPORAL_NAMESPACE')?.value);
    const auth = find(objects, 'TriggerAuthentication', t.authenticationRef.name as string);
    for (const ref of auth.spec.secretTargetRef as K8sObject[]) {
      expect(scaler.authParams.has(ref.parameter as string), `auth parameter ${ref.parameter}`).toBe(true);
      expect(ref.name).toMatch(/^seqtrain-temporal/);
    }
  });

  it.each(overlays)(
    '%s: workers get every variable they need, all known, secrets only from Secrets',
    (overlay) => {
      const { text, objects } = rendered.get(overlay)!;
      // a misspelt SEQTRAIN_* anywhere in the manifests fails here (loadConfig would refuse it)
      for (const name of new Set(text.match(/SEQTRAIN_[A-Z0-9_]+/g) ?? []))
        expect(KNOWN_KEYS as readonly string[], `${name} is not in KNOWN_KEYS`).toContain(name);
      const required: Record<string, string[]> = {
        common: [
          'SEQTRAIN_TEMPORAL_ADDRESS',
          'SEQTRAIN_TEMPORAL_NAMESPACE',
          'SEQTRAIN_S3_ENDPOINT',
          'SEQTRAIN_S3_BUCKET',
          'SEQTRAIN_S3_REGION',
          'AWS_ACCESS_KEY_ID',
          'AWS_SECRET_ACCESS_KEY',
          'SEQTRAIN_HOME',
          'SEQTRAIN_CACHE',
        ],
        'seqtrain-orchestrator': [
          'SEQTRAIN_METRICS_HOST',
          'SEQTRAIN_METRICS_PORT',
          'SEQTRAIN_SHUTDOWN_GRACE_SECONDS',
        ],
        'seqtrain-trainer': [
          'SEQTRAIN_DATA_PLANE_HOST',
          'SEQTRAIN_DATA_PLANE_PORT',
          'SEQTRAIN_DATA_PLANE_ADVERTISE',
          'SEQTRAIN_METRICS_HOST',
          'SEQTRAIN_METRICS_PORT',
          'SEQTRAIN_SHUTDOWN_GRACE_SECONDS',
          'SEQTRAIN_BACKEND',
        ],
        'seqtrain-registry': ['SEQTRAIN_REGISTRY_TOKENS'],
      };
      for (const name of allDeployments) {
        const d = find(objects, 'Deployment', name);
        const env = containerEnv(mainContainer(d), objects);
        for (const key of [...(required.common ?? []), ...(required[name] ?? [])])
          expect(env.has(key), `${overlay}: ${name} does not set ${key}`).toBe(true);
        for (const e of env.values()) {
          if (!SECRET_LIKE.test(e.name) && !SECRET_FILE_PATHS.has(e.name)) continue;
          if (SECRET_FILE_PATHS.has(e.name)) {
            expect(e.value, `${name}: ${e.name} is a path`).toMatch(/^\//);
            continue;
          }
          expect(e.value, `${name}: ${e.name} has a literal value (${e.source})`).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef, `${name}: ${e.name} must come from a Secret`).toBeDefined();
        }
        const grace = env.get('SEQTRAIN_SHUTDOWN_GRACE_SECONDS')?.value;
        if (grace !== undefined)
          expect(
            podSpec(d).terminationGracePeriodSeconds,
            `${name}: terminationGracePeriodSeconds`,
          ).toBeGreaterThan(Number(grace));
      }
      const trainer = find(objects, 'Deployment', 'seqtrain-trainer');
      const env = containerEnv(mainContainer(trainer), objects);
      expect(env.get('SEQTRAIN_DATA_PLANE_HOST')?.value).toBe('0.0.0.0');
      expect(env.get('SEQTRAIN_METRICS_HOST')?.value).toBe('0.0.0.0');
      expect(env.get('SEQTRAIN_DATA_PLANE_ADVERTISE')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
      expect(Number(env.get('SEQTRAIN_DATA_PLANE_PORT')?.value)).toBeGreaterThan(0);
      expect(Number(env.get('SEQTRAIN_SHUTDOWN_GRACE_SECONDS')?.value)).toBeGreaterThan(0);
      // no Secret object (and so no secret value) is part of the manifests
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      for (const cm of objects.filter((o) => o.kind === 'ConfigMap'))
        for (const key of Object.keys((cm.data ?? {}) as object)) expect(key).not.toMatch(SECRET_LIKE);
    },
  );

  it.each(overlays)(
    '%s: probes, ports, non-root, read-only root, writable emptyDirs, resources',
    (overlay) => {
      const { objects } = rendered.get(overlay)!;
      for (const name of allDeployments) {
        const d = find(objects, 'Deployment', name);
        const spec = podSpec(d);
        const c = mainContainer(d);
        const env = containerEnv(c, objects);
        expect(spec.securityContext.runAsNonRoot, name).toBe(true);
        expect(spec.securityContext.runAsUser, name).toBeGreaterThan(0);
        expect(c.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        });
        for (const r of ['cpu', 'memory']) {
          expect(c.resources.requests[r], `${name} requests.${r}`).toBeDefined();
          expect(c.resources.limits[r], `${name} limits.${r}`).toBeDefined();
        }
        // SEQTRAIN_HOME, SEQTRAIN_CACHE and /tmp are emptyDirs
        for (const dir of [env.get('SEQTRAIN_HOME')?.value, env.get('SEQTRAIN_CACHE')?.value, '/tmp']) {
          const mount = (c.volumeMounts as K8sObject[]).find((m) => m.mountPath === dir);
          expect(mount, `${name}: ${dir} is not mounted`).toBeDefined();
          const vol = (spec.volumes as K8sObject[]).find((v) => v.name === mount?.name);
          expect(vol?.emptyDir, `${name}: ${dir} is not an emptyDir`).toBeDefined();
        }
        const portOf = (probe: K8sObject): number => {
          const p = probe.httpGet.port as string | number;
          return typeof p === 'number'
            ? p
            : ((c.ports as K8sObject[]).find((x) => x.name === p)?.containerPort as number);
        };
        if (workerDeployments.includes(name)) {
          const metricsPort = Number(env.get('SEQTRAIN_METRICS_PORT')?.value);
          expect(c.livenessProbe.httpGet.path).toBe('/healthz');
          expect(c.readinessProbe.httpGet.path).toBe('/readyz');
          expect(portOf(c.livenessProbe)).toBe(metricsPort);
          expect(portOf(c.readinessProbe)).toBe(metricsPort);
        } else {
          expect(c.livenessProbe.httpGet.path).toBe('/healthz');
          expect(c.readinessProbe.httpGet.path).toBe('/healthz');
          expect(portOf(c.readinessProbe)).toBe(
            Number((c.args as string[])[(c.args as string[]).indexOf('--port') + 1]),
          );
        }
      }
    },
  );

  it.each(overlays)('%s: the data plane is open only to trainers of the same release', (overlay) => {
    const { objects } = rendered.get(overlay)!;
    const trainer = find(objects, 'Deployment', 'seqtrain-trainer');
    const labels = trainer.spec.template.metadata.labels as Record<string, string>;
    expect(labels['app.kubernetes.io/instance']).toBeDefined();
    const c = mainContainer(trainer);
    const env = containerEnv(c, objects);
    const dataPort = Number(env.get('SEQTRAIN_DATA_PLANE_PORT')?.value);
    const metricsPort = Number(env.get('SEQTRAIN_METRICS_PORT')?.value);
    expect((c.ports as K8sObject[]).map((p) => p.containerPort)).toEqual(
      expect.arrayContaining([dataPort, metricsPort]),
    );
    const matches = (sel: Record<string, string> | undefined, l: Record<string, string>): boolean =>
      Object.entries(sel ?? {}).every(([k, v]) => l[k] === v);
    const svc = objects.find((o) => o.kind === 'Service' && o.spec.clusterIP === 'None');
    expect(svc, 'a headless Service for the trainers').toBeDefined();
    expect(matches(svc?.spec.selector as Record<string, string>, labels)).toBe(true);
    const policies = objects.filter(
      (o) => o.kind === 'NetworkPolicy' && matches(o.spec.podSelector.matchLabels, labels),
    );
    expect(policies).toHaveLength(1);
    const rules = policies[0]!.spec.ingress as K8sObject[];
    const on = (port: number): K8sObject[] =>
      rules.filter((r) => (r.ports as K8sObject[]).some((p) => p.port === port));
    expect(on(dataPort)).toHaveLength(1);
    for (const peer of on(dataPort)[0]!.from as K8sObject[]) {
      expect(Object.keys(peer)).toEqual(['podSelector']);
      const sel = peer.podSelector.matchLabels as Record<string, string>;
      expect(sel).toMatchObject({
        'app.kubernetes.io/component': 'trainer',
        'app.kubernetes.io/instance': labels['app.kubernetes.io/instance'],
      });
      expect(matches(sel, labels)).toBe(true);
    }
    expect(on(metricsPort)).toHaveLength(1);
    expect(JSON.stringify(on(metricsPort)[0]!.from)).toContain('prometheus');
  });

  it('gpu: trainers ask for a GPU, land on GPU nodes and use the auto backend', () => {
    const { objects } = rendered.get('gpu')!;
    const trainer = find(objects, 'Deployment', 'seqtrain-trainer');
    const c = mainContainer(trainer);
    expect(c.resources.limits['nvidia.com/gpu']).toBeDefined();
    expect(podSpec(trainer).tolerations).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'nvidia.com/gpu' })]),
    );
    expect(podSpec(trainer).nodeSelector).toBeDefined();
    expect(containerEnv(c, objects).get('SEQTRAIN_BACKEND')?.value).toBe('auto');
    expect(c.image).toMatch(/gpu/);
    const cpu = find(rendered.get('cpu')!.objects, 'Deployment', 'seqtrain-trainer');
    expect(mainContainer(cpu).resources.limits['nvidia.com/gpu']).toBeUndefined();
  });
});

describe('infra/images', () => {
  const dir = path.join(root, 'infra/images');
  const dockerfiles = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile'));

  it('has the worker, GPU worker and registry images', () => {
    expect(dockerfiles.sort()).toEqual(['registry.Dockerfile', 'worker-gpu.Dockerfile', 'worker.Dockerfile']);
  });

  it.each(dockerfiles)(
    '%s: multi-stage, built by ./dev setup, runs as non-root, downloads nothing itself',
    (file) => {
      const text = readFileSync(path.join(dir, file), 'utf8');
      const df = DockerfileParser.parse(text);
      const froms = df.getFROMs();
      expect(froms.length).toBeGreaterThanOrEqual(2);
      const stageOf = (i: Instruction): number =>
        froms.filter((f) => f.getRange().start.line <= i.getRange().start.line).length - 1;
      const instructions = df.getInstructions();
      const keyword = (i: Instruction): string => i.getKeyword().toUpperCase();
      const lines = text.split('\n');
      // the instruction's whole text, flags included
      const args = (i: Instruction): string =>
        lines
          .slice(i.getRange().start.line, i.getRange().end.line + 1)
          .join('\n')
          .replace(/^\s*\S+\s*/, '');
      const last = froms.length - 1;
      const build = froms[0]!.getBuildStage();
      expect(build).toBeTruthy();
      // the build stage runs the repository's provisioning
      expect(
        instructions.some(
          (i) => stageOf(i) < last && keyword(i) === 'RUN' && /\.\/dev setup\b/.test(args(i)),
        ),
      ).toBe(true);
      // the final stage copies the result from it and runs as a numeric non-root user
      expect(
        instructions.some(
          (i) => stageOf(i) === last && keyword(i) === 'COPY' && args(i).includes(`--from=${build}`),
        ),
      ).toBe(true);
      const users = instructions.filter((i) => stageOf(i) === last && keyword(i) === 'USER');
      expect(users.length).toBeGreaterThan(0);
      const user = args(users[users.length - 1]!).split(':')[0]!;
      expect(user).not.toMatch(/^(0|root)$/);
      const entrypoint = instructions.find((i) => stageOf(i) === last && keyword(i) === 'ENTRYPOINT');
      expect(args(entrypoint!)).toContain('/app/infra/images/entrypoint.sh');
      // only package registries: no ADD of URLs, no curl/wget
      for (const i of instructions) {
        if (keyword(i) === 'ADD') expect(args(i)).not.toMatch(/https?:/);
        if (keyword(i) === 'RUN') expect(args(i)).not.toMatch(/\b(curl|wget)\b/);
      }
      // Debian-based Node base images (ARG defaults)
      for (const m of text.matchAll(/^ARG (NODE_IMAGE|RUNTIME_IMAGE)=(\S+)/gm))
        expect(m[2]).toMatch(/^node:\d+-(bookworm|trixie)/);
      for (const name of new Set(text.match(/SEQTRAIN_[A-Z0-9_]+/g) ?? []))
        expect(KNOWN_KEYS as readonly string[]).toContain(name);
      const ignore = readFileSync(path.join(dir, `${file}.dockerignore`), 'utf8');
      expect(ignore).toMatch(/^\*\*\/node_modules$/m);
    },
  );

  it('the entrypoint is executable and execs the CLI', () => {
    const entry = path.join(dir, 'entrypoint.sh');
    expect(readFileSync(entry, 'utf8')).toMatch(
      /^exec node --import tsx \/app\/packages\/cli\/src\/main\.ts "\$@"$/m,
    );
    exec('sh', ['-n', entry]);
    expect(spawnSync('test', ['-x', entry]).status).toBe(0);
  });
});

describe('infra/ci', () => {
  const helpSource = readFileSync(path.join(root, 'packages/cli/src/help.ts'), 'utf8');
  /** the option names of `export const NAME = { ... } as const` in help.ts */
  const optionsOf = (constName: string): string[] => {
    const body = new RegExp(`export const ${constName} = \\{([\\s\\S]*?)\\n\\} as const`).exec(
      helpSource,
    )?.[1];
    if (!body) throw new Error(`${constName} is not in help.ts`);
    return [...body.matchAll(/^ {2}(?:'([a-z-]+)'|([a-z]+))[:,]/gm)].map((m) => m[1] ?? m[2] ?? '');
  };

  it('the example workflow imports data and retrains with --code-version and --promote-alias production', () => {
    const wf = parse(readFileSync(path.join(root, 'infra/ci/retrain.yml'), 'utf8')) as K8sObject;
    const steps = Object.values(wf.jobs as K8sObject).flatMap((j) => (j.steps ?? []) as K8sObject[]);
    const runs = steps.map((s) => String(s.run ?? ''));
    const retrain = runs.find((r) => /\bretrain\b/.test(r));
    const imp = runs.find((r) => /\bdataset import\b/.test(r));
    expect(retrain).toBeDefined();
    expect(imp).toBeDefined();
    expect(retrain).toMatch(/--code-version "?\$(GITHUB_SHA|\{\{ github\.sha \}\})"?/);
    expect(retrain).toMatch(/--promote-alias production\b/);
    const flags = (line: string): string[] => [...line.matchAll(/(?:^|\s)--([a-z-]+)/g)].map((m) => m[1]!);
    const retrainLine = retrain!.split('\n').find((l) => /\bretrain\b/.test(l))!;
    for (const f of flags(retrainLine)) expect(optionsOf('RETRAIN_OPTIONS'), `retrain --${f}`).toContain(f);
    for (const f of flags(imp!)) expect(optionsOf('IMPORT_OPTIONS'), `dataset import --${f}`).toContain(f);
    // credentials only from the repository's secrets
    const env = {
      ...(wf.env ?? {}),
      ...Object.assign({}, ...Object.values(wf.jobs as K8sObject).map((j) => j.env ?? {})),
    } as Record<string, string>;
    for (const [k, v] of Object.entries(env)) {
      if (k.startsWith('SEQTRAIN_')) expect(KNOWN_KEYS as readonly string[]).toContain(k);
      if (SECRET_LIKE.test(k)) expect(v, k).toMatch(/^\$\{\{ secrets\.[A-Z0-9_]+ \}\}$/);
    }
  });
});

describe('infra/k8s/grafana', () => {
  it('the dashboard is JSON and charts seqtrain’s metrics', () => {
    const text = readFileSync(path.join(k8s, 'grafana/seqtrain-dashboard.json'), 'utf8');
    const dash = JSON.parse(text) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    // Which series exist is checked against a real scrape in packages/worker/src/metrics.test.ts.
    expect(exprs).toMatch(
      /rate\(seqtrain_reduce_seconds_sum[^\n]*\/[^\n]*rate\(seqtrain_reduce_seconds_count/,
    );
  });
});
