"""Reference timings for bench/src/backends.ts: the seqtrain benchmark model in PyTorch and Keras.

One recurrent layer (T=50, B=32, I=32, H=128) + Dense(1), Adam, MSE; the shape, the timing plan and
the thread budget come from the caller so that every system is measured alike. Prints one JSON line per (system, cell) on stdout.

usage: rnn_bench.py torch|keras '<json: shape, plan, cells>'
"""

import json
import os
import statistics
import sys
import time


def timed(step, plan, sync=lambda: None):
    for _ in range(plan["warmup"]):
        step()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < plan["maxIters"] and (
        len(times) < plan["minIters"] or (time.perf_counter() - start) * 1000 < plan["budgetMs"]
    ):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return {"msPerBatch": statistics.median(times), "iterations": len(times)}


def bench_torch(shape, plan, cells, threads):
    import torch

    # Same thread budget as every other system: intra-op threads as asked, one inter-op thread.
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    devices = [("pytorch-cpu", torch.device("cpu"))]
    if torch.cuda.is_available():
        devices.append(("pytorch-cuda", torch.device("cuda")))
    for system, device in devices:
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        for cell in cells:
            rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU

            class Model(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.rnn = rnn_cls(shape["inputs"], shape["units"], batch_first=True)
                    self.head = torch.nn.Linear(shape["units"], 1)

                def forward(self, x):
                    out, _ = self.rnn(x)
                    return self.head(out[:, -1, :])

            model = Model().to(device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            loss_fn = torch.nn.MSELoss()
            x = torch.randn(shape["batch"], shape["timeSteps"], shape["inputs"], device=device)
            y = torch.randn(shape["batch"], 1, device=device)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                # Read the loss like tfjs trainOnBatch does, so every system ends its step the same way.
                loss.item()

            result = timed(step, plan, sync)
            emit(system, cell, result, {"torch": torch.__version__, "threads": torch.get_num_threads()})


def bench_keras(shape, plan, cells, threads):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((shape["batch"], shape["timeSteps"], shape["inputs"]), dtype=np.float32)
    y = rng.standard_normal((shape["batch"], 1), dtype=np.float32)
    for cell in cells:
        if cell == "lstm":
            rnn = keras.layers.LSTM(shape["units"], recurrent_activation="sigmoid")
        else:
            # tfjs-layers implements only reset_after=False; match it exactly.
            rnn = keras.layers.GRU(shape["units"], recurrent_activation="sigmoid", reset_after=False)
        model = keras.Sequential([keras.Input((shape["timeSteps"], shape["inputs"])), rnn, keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        result = timed(lambda: model.train_on_batch(x, y), plan)
        emit("keras", cell, result, {"keras": keras.__version__, "tensorflow": tf.__version__})


def emit(system, cell, result, versions):
    print(json.dumps({"system": system, "cell": cell, **result, "versions": versions}), flush=True)


def main():
    framework, config = sys.argv[1], json.loads(sys.argv[2])
    run = {"torch": bench_torch, "keras": bench_keras}[framework]
    run(config["shape"], config["plan"], config["cells"], config["threads"])


if __name__ == "__main__":
    main()
