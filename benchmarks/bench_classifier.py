"""Benchmark the usability classifiers: numpy inference and input preparation.

Run as ``python benchmarks/bench_classifier.py``. The published FCN
architecture (84,321 parameters; random weights, so no download or TensorFlow
is needed) on 100,000 fields of 32x32 input, in float32 with numpy, and its
input preparation, `prepare_input` (normalisation and OpenCV-identical cubic
resize), on fields of the five MaNGA map sizes. Then the embedded footprint
network (``kinmisalign-footprint-v2``): its preparation (footprint image and
symmetry features) and its inference (three convolutions, run on the 8 flips
and quarter turns of each image), on the same fields. Set ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` to choose the number of BLAS threads.
"""

import argparse
import time

import numpy as np
from astropy import units as u

from kinmisalign import VelocityField
from kinmisalign.classifier import UsabilityModel, load_model, prepare_input
from kinmisalign.classifier._published import PUBLISHED_MODELS

__all__ = ["fcn_model", "random_fields", "main"]

# Typical map sizes of the 19- to 127-fibre bundles.
MAP_SIZES = (34, 44, 54, 64, 74)


def fcn_model(seed=0):
    """The published FCN architecture with random weights."""
    layers = PUBLISHED_MODELS["duckworth2020"]["layers"]
    rng = np.random.default_rng(seed)
    weights, n_in = {}, 1024
    for layer in layers:
        if layer["type"] == "dense":
            weights[f"{layer['name']}/kernel"] = rng.normal(0, n_in**-0.5, (n_in, layer["units"]))
            weights[f"{layer['name']}/bias"] = rng.normal(0, 0.1, layer["units"])
            n_in = layer["units"]
    return UsabilityModel(layers, weights, meta={"name": "random-fcn"})


def random_fields(n, seed=0):
    """``n`` rotating-disc fields with masked rims, cycling through `MAP_SIZES`."""
    rng = np.random.default_rng(seed)
    fields = []
    for i in range(n):
        size = MAP_SIZES[i % len(MAP_SIZES)]
        yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
        inside = np.hypot(xx, yy) < 0.8
        v = 200 * np.tanh(xx / 0.3) * inside + rng.normal(0, 10, (size, size))
        fields.append(VelocityField.from_array(v * u.km / u.s, mask=~inside))
    return fields


def _best(func, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-infer", type=int, default=100_000, help="fields for inference")
    parser.add_argument("--n-prep", type=int, default=5_000, help="fields for preparation")
    parser.add_argument("--n-embedded", type=int, default=20_000,
                        help="fields for the embedded network's inference")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)

    model = fcn_model()
    x = np.random.default_rng(1).uniform(-1, 1, (args.n_infer, 32, 32, 1)).astype(np.float32)
    model.predict(x[:1000])  # warm up BLAS
    t = _best(lambda: model.predict(x), args.repeat)
    print(f"FCN inference (numpy, float32): {args.n_infer:,} fields in {t:.3f} s "
          f"= {args.n_infer / t:,.0f} fields/s")

    fields = random_fields(args.n_prep)
    t = _best(lambda: prepare_input(fields), args.repeat)
    print(f"input preparation (sizes {', '.join(map(str, MAP_SIZES))} px -> 32x32): "
          f"{args.n_prep:,} fields in {t:.3f} s = {args.n_prep / t:,.0f} fields/s")

    embedded = load_model("embedded")
    t = _best(lambda: embedded.prepare(fields), args.repeat)
    print(f"embedded network, preparation (footprint image and features): {args.n_prep:,} "
          f"fields in {t:.3f} s = {args.n_prep / t:,.0f} fields/s")
    inputs = embedded.prepare(fields)
    reps = -(-args.n_embedded // len(fields))
    x = np.tile(inputs.x, (reps, 1, 1, 1))[:args.n_embedded]
    extra = np.tile(inputs.extra, (reps, 1))[:args.n_embedded]
    embedded.predict(x[:500], extra[:500])
    t = _best(lambda: embedded.predict(x, extra), args.repeat)
    print(f"embedded network, inference (8 turns each): {args.n_embedded:,} fields in {t:.3f} s "
          f"= {args.n_embedded / t:,.0f} fields/s")


if __name__ == "__main__":
    main()
