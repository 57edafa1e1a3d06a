"""Which MSD_musicnn layer makes the best frozen-teacher genre head, and what the teacher
would cost as the device model. Prints the figures docs/models.md quotes:

    python -m genred.training.teacher_probe --data ../shared/data/gtzan \\
        --train-list ../shared/data/gtzan/train_filtered.txt --valid-list ../shared/data/gtzan/valid_filtered.txt

For each layer (the 50 MSD tag logits, the 200-unit penultimate, the 1506 pooled
features) and each C, a balanced logistic head is fitted on the clean train windows
(every 31 frames) and scored on valid and valid_room, track and window level. With
``--int8`` the teacher (pooled features + the chosen head) is also converted to a
full-integer int8 TFLite, timed on one thread as the device would run it, and scored on
valid and valid_room against its float self (the int8 drop of the frozen-teacher option).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from genred.dsp.params import LogMelParams, WindowParams

from .features import DEFAULT_CACHE_DIR

_LOG = logging.getLogger(__name__)

LAYERS = ("tags50", "penultimate200", "pooled1506")


def int8_teacher(model, head, rep: np.ndarray, x: np.ndarray, n_labels: int, repeats: int = 30,
              score: dict[str, np.ndarray] | None = None) -> dict:
    """Pooled features -> head logits as one int8 graph: its size and ms per window (p50,
    one thread), and with ``score`` (name -> log-compressed windows) its probabilities
    for those windows (``probs``: name -> (n, n_labels))."""
    import keras

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from .export import convert_int8

    dense = keras.layers.Dense(n_labels, name="genre")
    full = keras.Model(model.input, dense(model.outputs[2]))
    w = (head.coef / head.scale[None, :]).T
    b = head.intercept - (head.mean / head.scale) @ head.coef.T
    dense.set_weights([w.astype(np.float32), np.where(np.isfinite(b), b, -30.0).astype(np.float32)])
    tflite = convert_int8(full, rep)
    delegate = "XNNPACK"
    try:
        interp = Interpreter(model_content=tflite, num_threads=1)
        interp.allocate_tensors()
    except RuntimeError as exc:  # XNNPACK refuses some of MusiCNN's int8 nodes
        _LOG.info("XNNPACK: %s; timing the built-in kernels", str(exc).splitlines()[0])
        delegate = "built-in kernels (XNNPACK refused the graph)"
        interp = Interpreter(model_content=tflite, num_threads=1,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    scale, zero = inp["quantization"]

    def quantised(w: np.ndarray) -> np.ndarray:
        return np.clip(np.round(w / scale + zero), -128, 127).astype(np.int8)[None]

    times = []
    for k in range(repeats + 3):
        q = quantised(x[k % len(x)])
        t0 = time.perf_counter()
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        if k >= 3:
            times.append(time.perf_counter() - t0)
    out = interp.get_output_details()[0]
    out_scale, out_zero = out["quantization"]
    probs = {}
    for name, windows in (score or {}).items():
        z = np.empty((len(windows), n_labels), dtype=np.float64)
        for i, w in enumerate(windows):
            interp.set_tensor(inp["index"], quantised(w))
            interp.invoke()
            z[i] = (interp.get_tensor(out["index"])[0].astype(np.float64) - out_zero) * out_scale
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs[name] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return {"bytes": len(tflite), "ms_p50": 1000 * float(np.median(times)), "delegate": delegate, "probs": probs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genred.training.teacher_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--train-list", type=Path, required=True)
    p.add_argument("--valid-list", type=Path, required=True)
    p.add_argument("--c", type=float, nargs="+", default=[0.003, 0.01, 0.1], help="inverse L2 strengths to try")
    p.add_argument("--int8", action="store_true", help="also convert and time the teacher as an int8 device model")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from .augment import RoomParams
    from .steps import build_eval_set, build_items
    from .dataset import index_dataset, split_from_lists
    from .features import FeatureExtractor, windows_from_frames
    from .musicnn import log_compress
    from .teacher import Teacher, fit_head, typical_offset_db
    from .train import track_scores

    fe, win = LogMelParams(), WindowParams()
    index = index_dataset(args.data)
    labels = index.labels
    split = split_from_lists(index, args.train_list, args.valid_list)
    ex = FeatureExtractor(fe, args.cache, RoomParams())
    items, _ = build_items(split.train, labels, ex, win, 0, args.workers)
    sets = {"valid": build_eval_set("valid", split.valid, labels, ex, fe, win, False, args.workers)[0],
            "valid_room": build_eval_set("valid_room", split.valid, labels, ex, fe, win, True, args.workers)[0]}
    offset = typical_offset_db([it.variants[0] for it in items], fe, win)
    teacher = Teacher(fe, win, offset, cache_dir=None)
    t0 = time.perf_counter()
    per_item = [teacher.outputs(windows_from_frames(it.variants[0], fe, win, 31).x) for it in items]
    train = [np.concatenate([e[k] for e in per_item]) for k in range(3)]
    y = np.concatenate([np.full(len(e[0]), it.label) for it, e in zip(items, per_item, strict=True)])
    track = np.concatenate([np.full(len(e[0]), i) for i, e in enumerate(per_item)])
    evals = {name: teacher.outputs(ev.x) for name, ev in sets.items()}
    _LOG.info("embedded %d train windows and the valid sets in %.0f s", len(y), time.perf_counter() - t0)

    print("| layer | C | valid track acc | valid track macro recall | valid window acc | "
          "valid_room track acc | valid_room track macro recall | valid_room window acc |")
    print("|---|---|---|---|---|---|---|---|")
    heads = {}
    per_genre: dict[float, dict[str, float]] = {}
    for k, layer in enumerate(LAYERS):
        for c in args.c:
            head = fit_head(train[k], y, track, len(labels), c=c)
            heads[(layer, c)] = head
            s = {name: track_scores(head.probs(evals[name][k]), ev, len(labels)) for name, ev in sets.items()}
            print(f"| {layer} | {c} | " + " | ".join(
                f"{100 * s[name][m]:.1f} %" for name in sets
                for m in ("track_accuracy", "track_macro_recall", "window_accuracy")) + " |", flush=True)
            if layer == "pooled1506":
                per_genre[c] = {labels[g]: r for g, r in enumerate(s["valid"]["track_recalls"]) if r is not None}
    for c, recalls in per_genre.items():
        print(f"\npooled1506, C={c}: valid track recall per genre: "
              + ", ".join(f"{g} {100 * r:.0f} %" for g, r in recalls.items()))
    if args.int8:
        c = 0.01 if 0.01 in args.c else args.c[0]
        rng = np.random.default_rng(0)
        rep = log_compress(np.stack([windows_from_frames(it.variants[0], fe, win).x[0] for it in items[::2]][:200]) + offset)
        x = log_compress(sets["valid"].x[rng.choice(len(sets["valid"].x), 5, replace=False)] + offset)
        r = int8_teacher(teacher.model, heads[("pooled1506", c)], rep, x, len(labels),
                      score={name: log_compress(ev.x + offset) for name, ev in sets.items()})
        print(f"\nteacher as an int8 device model (pooled1506, C={c}): {r['bytes'] / 1024:.0f} KiB, "
              f"{r['ms_p50']:.1f} ms per window (p50, one thread, {r['delegate']})")
        for name, ev in sets.items():
            f = track_scores(heads[("pooled1506", c)].probs(evals[name][2]), ev, len(labels))
            q = track_scores(r["probs"][name], ev, len(labels))
            print(f"  {name}: " + ", ".join(
                f"{m.replace('_', ' ')} {100 * f[m]:.1f} % float -> {100 * q[m]:.1f} % int8"
                for m in ("track_accuracy", "track_macro_recall", "window_accuracy")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
