/**
 * A worker's HTTP listener for monitoring and orchestration (SEQTRAIN_METRICS_HOST/PORT):
 *   GET /metrics  Prometheus text: the runtime's exporter (Temporal's and seqtrain's metrics)
 *   GET /healthz  200 while the worker runs (and a trainer's engine is alive), else 503: liveness
 *   GET /readyz   200 once every task queue of the worker is polled, as Temporal itself reports
 *                 it (the worker's identity among the queue's pollers), 503 before and while
 *                 stopping: readiness
 * Bodies are short JSON for the probes, so that `curl` shows why a probe fails.
 */
import http from 'node:http';
import type net from 'node:net';

export interface ProbeState {
  ok: boolean;
  reason: string;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** the runtime's Prometheus endpoint (host:port), if this process installed it */
  prometheus: string | undefined;
  health: () => ProbeState;
  ready: () => Promise<ProbeState>;
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsServer {
  private constructor(
    private readonly server: http.Server,
    /** host:port actually bound */
    readonly address: string,
  ) {}

  static async listen(o: MetricsServerOptions): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      void handle(o, req, res).catch((err: unknown) => {
        if (!res.headersSent) probe(res, 500, { ok: false, reason: (err as Error).message });
        else res.destroy();
      });
    });
    // A scraper that keeps connections open must not hold the worker's shutdown.
    server.keepAliveTimeout = 5_000;
    const host = o.host.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `metrics: cannot listen on ${host}:${o.port} (SEQTRAIN_METRICS_HOST / SEQTRAIN_METRICS_PORT): ${err.code ?? err.message}`,
          ),
        ),
      );
      server.listen({ host, port: o.port }, () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    return new MetricsServer(server, host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function probe(res: http.ServerResponse, status: number, body: ProbeState): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function handle(o: MetricsServerOptions, req: http.IncomingMessage, res: http.ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://worker');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  switch (url.pathname) {
    case '/healthz': {
      const h = o.health();
      probe(res, h.ok ? 200 : 503, h);
      return;
    }
    case '/readyz': {
      const r = await o.ready();
      probe(res, r.ok ? 200 : 503, r);
      return;
    }
    case '/metrics': {
      if (!o.prometheus) {
        probe(res, 503, {
          ok: false,
          reason:
            "this process's Temporal runtime was installed before the worker, without a Prometheus exporter",
        });
        return;
      }
      const upstream = await fetch(`http://${o.prometheus}/metrics`, { signal: AbortSignal.timeout(5_000) });
      const text = await upstream.text();
      res.writeHead(upstream.ok ? 200 : 502, {
        'content-type': PROMETHEUS_TEXT,
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    default:
      probe(res, 404, { ok: false, reason: `no route ${url.pathname}: try /metrics, /healthz or /readyz` });
  }
}
