"""Keras `model.fit` baseline for bench/src/distributed.ts.

Trains the same model on the same windows as seqtrain (exported by the caller as little-endian
float32 files): one recurrent layer + Dense head, Adam, MSE, the same global batch, epochs and
early stopping, validating every epoch. Each round builds a fresh model; the time is that of
`fit` alone (data already in memory), like the loop time of the other systems.

usage: keras_fit.py '<json config>'   prints one JSON line per round on stdout
"""

import json
import os
import sys
import time


def main():
    config = json.loads(sys.argv[1])
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import keras
    import tensorflow as tf

    if config.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(config["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)

    def load(name):
        a = config["arrays"][name]
        return np.fromfile(a["path"], dtype="<f4").reshape(a["shape"])

    x, y, xv, yv = load("x"), load("y"), load("xv"), load("yv")
    for round_ in range(config["rounds"]):
        keras.utils.set_random_seed(config["seed"] + round_)
        if config["cell"] == "lstm":
            rnn = keras.layers.LSTM(config["units"], recurrent_activation="sigmoid")
        else:
            rnn = keras.layers.GRU(config["units"], recurrent_activation="sigmoid", reset_after=False)
        model = keras.Sequential([keras.Input(x.shape[1:]), rnn, keras.layers.Dense(y.shape[1])])
        model.compile(optimizer=keras.optimizers.Adam(config["learningRate"]), loss="mse")
        callbacks = []
        if config.get("patience") is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=config["patience"] + 1)
            )
        t0 = time.perf_counter()
        history = model.fit(
            x,
            y,
            batch_size=config["batch"],
            epochs=config["epochs"],
            validation_data=(xv, yv),
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        seconds = time.perf_counter() - t0
        epochs = len(history.history["loss"])
        steps = epochs * int(np.ceil(len(x) / config["batch"]))
        print(
            json.dumps(
                {
                    "round": round_,
                    "seconds": seconds,
                    "epochs": epochs,
                    "steps": steps,
                    "samples": epochs * len(x),
                    "samplesPerSec": epochs * len(x) / seconds,
                    "valLoss": float(history.history["val_loss"][-1]),
                    "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
