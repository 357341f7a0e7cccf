"""PyTorch/cuDNN half of bench/gpu: the same model and shapes as bench.mjs.

torch.nn.LSTM / torch.nn.GRU (batch_first, cuDNN) -> last state -> Linear(H, 1) -> MSE, Adam lr 1e-3,
eps 1e-7; one fixed batch resident on the GPU; a warm-up, then one timed run of about --budget-s
seconds with one synchronisation at its end. Note: torch's GRU is cuDNN's reset-after variant;
seqtrain's is tfjs's reset-before one (same products, one more elementwise pass).

  python3 bench_torch.py --out torch.json [--math fp32|tf32|fp32,tf32] [--budget-s 1.5]
  python3 bench_torch.py --out x.json --dry-run     # no torch import: arguments and JSON only
  python3 bench_torch.py --merge seqtrain.json torch.json --results-dir DIR   # the final JSON
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time

T, F, O = 32, 8, 1


def shapes(small):
    batches = [64] if small else [64, 1024, 4096]
    units = [64] if small else [64, 256]
    return [(cell, b, h) for cell in ("lstm", "gru") for h in units for b in batches]


def measure(torch, cell, batch, units, math, budget_s):
    torch.backends.cudnn.allow_tf32 = math == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
    dev = torch.device("cuda")
    gen = torch.Generator(device="cpu").manual_seed(5)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    rnn = rnn_cls(F, units, batch_first=True).to(dev)
    head = torch.nn.Linear(units, O).to(dev)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    x = (torch.rand(batch, T, F, generator=gen) * 2 - 1).to(dev)
    y = (torch.rand(batch, O, generator=gen) * 2 - 1).to(dev)
    loss_fn = torch.nn.MSELoss()

    def run(steps):
        loss = None
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            _, state = rnn(x)
            h = state[0] if cell == "lstm" else state
            loss = loss_fn(head(h[-1]), y)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        return loss

    run(5)
    t0 = time.perf_counter()
    run(5)
    s = time.perf_counter() - t0
    steps = max(10, int(budget_s * 5 / max(s, 1e-6)))
    t0 = time.perf_counter()
    loss = run(steps)
    s = time.perf_counter() - t0
    return {
        "impl": "pytorch-cuda",
        "cell": cell,
        "batch": batch,
        "units": units,
        "timeSteps": T,
        "features": F,
        "outputs": O,
        "math": math,
        "steps": steps,
        "seconds": s,
        "stepMs": s / steps * 1e3,
        "samplesPerSec": batch * steps / s,
        "finalLoss": float(loss.item()),
    }


def bench(args):
    out = {"startedAt": datetime.datetime.now(datetime.timezone.utc).isoformat(), "rows": []}
    if args.dry_run:
        out["dryRun"] = True
        out["plannedShapes"] = [dict(cell=c, batch=b, units=h, math=m) for m in args.math.split(",") for c, b, h in shapes(args.small)]
    else:
        import torch

        if not torch.cuda.is_available():
            print("bench_torch.py: torch sees no CUDA device", file=sys.stderr)
            return 2
        out["torch"] = torch.__version__
        out["cudnn"] = torch.backends.cudnn.version()
        out["gpu"] = torch.cuda.get_device_name(0)
        for math in args.math.split(","):
            for cell, b, h in shapes(args.small):
                row = measure(torch, cell, b, h, math, args.budget_s)
                out["rows"].append(row)
                print(f"pytorch-cuda {cell} B={b} H={h} {math}: {row['samplesPerSec']:.0f} samples/s", file=sys.stderr)
    out["finishedAt"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    return 0


def merge(args):
    seq_file, torch_file = args.merge
    with open(seq_file) as f:
        seq = json.load(f)
    with open(torch_file) as f:
        tor = json.load(f)
    gpu = (seq.get("gpu") or {}).get("device") or tor.get("gpu") or "unknown-gpu"
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    date = datetime.date.today().isoformat()
    rows = seq.get("rows", []) + tor.get("rows", [])
    ratios = []
    for r in seq.get("rows", []):
        match = [t for t in tor.get("rows", []) if all(t[k] == r[k] for k in ("cell", "batch", "units", "math"))]
        if match:
            ratios.append({k: r[k] for k in ("cell", "batch", "units", "math")} | {"seqtrainOverPytorch": r["samplesPerSec"] / match[0]["samplesPerSec"]})
    result = {
        "gpu": gpu,
        "date": date,
        "host": platform.node(),
        "shapes": {"timeSteps": T, "features": F, "outputs": O},
        "model": "RNN (last state) -> Dense(1) -> MSE, Adam lr 1e-3 eps 1e-7, one fixed batch on the GPU",
        "seqtrain": {k: v for k, v in seq.items() if k != "rows"},
        "pytorch": {k: v for k, v in tor.items() if k != "rows"},
        "rows": rows,
        "ratios": ratios,
    }
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"gpu-{slug}-{date}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(path)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out")
    p.add_argument("--math", default="fp32")
    p.add_argument("--budget-s", type=float, default=1.5)
    p.add_argument("--small", action="store_true", help="one shape per cell (a smoke run)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--merge", nargs=2, metavar=("SEQTRAIN_JSON", "TORCH_JSON"))
    p.add_argument("--results-dir", default="bench/results")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args)
    if not args.out:
        p.error("--out is required")
    for m in args.math.split(","):
        if m not in ("fp32", "tf32"):
            p.error(f"--math: {m} is not fp32 or tf32")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
