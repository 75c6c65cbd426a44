"""Time the training loop on fixed workloads, beside PyTorch when it is installed.

    python bench.py                      # every workload, 3 repeats
    python bench.py --workloads A --repeats 5 --no-torch
    python bench.py --process "book=python /path/to/book_program.py"
    python bench.py --workloads --against "A:book-ch10=python /path/to/ch10.py"

Every measurement runs in a fresh child process (so peak memory is its own
and thread settings do not leak), and the table shows the median of the
repeats. Workloads:

  A  spiral(100, 3),   2-64-3,          Adam lr 0.05 decay 5e-7, 10,000 full-batch epochs
  B  spiral(1000, 3),  2-64-3, L2 5e-4 on the hidden layer, Dropout 0.1,
                                         Adam lr 0.05 decay 5e-5, 10,000 full-batch epochs
  C  spiral(10000, 3), 2-128-128-3,     Adam lr 0.005, mini-batches of 128, 20 epochs

Implementations: "ours" (this package, float32 and float64), "minimal" (A only:
a fixed handful of in-place operations on one flat parameter buffer, the
floor a NumPy loop can reach) and "torch" (the same network, data, initial
weights and schedule, with 1 and 2 threads). The whole processes
`python main.py --help` and `python main.py --optimizer adam --no-plot` are
timed too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKLOADS = {
    "A": dict(samples=100, hidden=[64], l2=0.0, dropout=0.0, lr=0.05, decay=5e-7,
              epochs=10000, batch_size=None),
    "B": dict(samples=1000, hidden=[64], l2=5e-4, dropout=0.1, lr=0.05, decay=5e-5,
              epochs=10000, batch_size=None),
    "C": dict(samples=10000, hidden=[128, 128], l2=0.0, dropout=0.0, lr=0.005, decay=0.0,
              epochs=20, batch_size=128),
}


def initial_network(workload, seed, dtype):
    """Data and a freshly initialised network, shared by every implementation."""
    import numpy as np

    import data
    from heads import Classes
    from model import build

    w = WORKLOADS[workload]
    d = data.spiral(seed, w["samples"], 3)
    seeds = np.random.SeedSequence(seed).spawn(2)
    network = build(2, w["hidden"], 3, Classes(), dropout=w["dropout"], l2=w["l2"],
                    rng=np.random.default_rng(seeds[0]), dtype=dtype)
    return d.x_train.astype(dtype), d.y_train, network, np.random.default_rng(seeds[1])


def run_ours(workload, seed, dtype):
    from optimizers import Adam
    from train import train

    w = WORKLOADS[workload]
    x, y, network, rng = initial_network(workload, seed, dtype)
    optimizer = Adam(learning_rate=w["lr"], decay=w["decay"], fused=True)
    started = time.perf_counter()
    train(network, optimizer, x, y, x[:1], y[:1], epochs=w["epochs"],
          log_every=w["epochs"], batch_size=w["batch_size"], rng=rng)
    seconds = time.perf_counter() - started
    return seconds, network.evaluate(x, y)["accuracy"]


def run_minimal(workload, seed, dtype):
    """Workload A as a bare loop: no classes, no checks, one flat buffer for Adam."""
    import numpy as np

    if workload != "A":
        raise SystemExit("the minimal loop exists for workload A only")
    w = WORKLOADS[workload]
    x, y, network, _ = initial_network(workload, seed, dtype)
    (w1, b1), (w2, b2) = ((d.weights, d.biases) for d in network.trainable)
    shapes = [w1.shape, b1.shape, w2.shape, b2.shape]
    sizes = [a * b for a, b in shapes]
    params = np.concatenate([w1.ravel(), b1.ravel(), w2.ravel(), b2.ravel()])
    grads, m, v, tmp = (np.zeros_like(params) for _ in range(4))
    views = []
    for buffer in (params, grads):
        parts, offset = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            parts.append(buffer[offset:offset + size].reshape(shape))
            offset += size
        views.append(parts)
    (w1, b1, w2, b2), (dw1, db1, dw2, db2) = views
    n, rows = len(y), np.arange(len(y))
    hidden = np.empty((n, w1.shape[1]), dtype)
    scores = np.empty((n, w2.shape[1]), dtype)
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    started = time.perf_counter()
    for t in range(w["epochs"]):
        np.matmul(x, w1, out=hidden)
        hidden += b1
        np.maximum(hidden, 0, out=hidden)
        np.matmul(hidden, w2, out=scores)
        scores += b2
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        scores[rows, y] -= 1
        scores /= n
        np.matmul(hidden.T, scores, out=dw2)
        scores.sum(axis=0, keepdims=True, out=db2)
        dhidden = scores @ w2.T
        dhidden *= hidden > 0
        np.matmul(x.T, dhidden, out=dw1)
        dhidden.sum(axis=0, keepdims=True, out=db1)
        lr = w["lr"] / (1 + w["decay"] * t)
        m *= beta1
        m += (1 - beta1) * grads
        v *= beta2
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= np.sqrt(1 - beta2 ** (t + 1))
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - beta1 ** (t + 1))
        params -= tmp
    seconds = time.perf_counter() - started
    hidden = np.maximum(x @ w1 + b1, 0)
    accuracy = float(np.mean((hidden @ w2 + b2).argmax(axis=1) == y))
    return seconds, accuracy


def run_torch(workload, seed, dtype):
    import numpy as np
    import torch

    w = WORKLOADS[workload]
    x, y, network, rng = initial_network(workload, seed, dtype)
    torch.manual_seed(seed)
    params = []
    for layer in network.trainable:
        params += [torch.tensor(layer.weights, requires_grad=True),
                   torch.tensor(layer.biases, requires_grad=True)]
    penalised = params[:-2] if w["l2"] else []
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(params, lr=w["lr"], betas=(0.9, 0.999), eps=1e-7)

    def scores(inputs, training):
        for index in range(0, len(params) - 2, 2):
            inputs = torch.relu(inputs @ params[index] + params[index + 1])
            if w["dropout"]:
                inputs = torch.nn.functional.dropout(inputs, w["dropout"], training)
        return inputs @ params[-2] + params[-1]

    step = 0
    started = time.perf_counter()
    for _ in range(w["epochs"]):
        order = (torch.from_numpy(rng.permutation(len(y))) if w["batch_size"]
                 else None)
        starts = range(0, len(y), w["batch_size"]) if w["batch_size"] else [0]
        for start in starts:
            index = order[start:start + w["batch_size"]] if order is not None else slice(None)
            for group in optimizer.param_groups:
                group["lr"] = w["lr"] / (1 + w["decay"] * step)
            loss = torch.nn.functional.cross_entropy(scores(xt[index], True), yt[index])
            for p in penalised:
                loss = loss + w["l2"] * (p * p).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    seconds = time.perf_counter() - started
    with torch.no_grad():
        accuracy = float(np.mean(scores(xt, False).argmax(dim=1).numpy() == y))
    return seconds, accuracy


def child(args):
    """Run one measurement and print it as JSON (called by the parent in a subprocess)."""
    import resource

    import numpy as np

    impl, workload, seed, dtype = args.child
    runner = {"ours": run_ours, "minimal": run_minimal, "torch": run_torch}[impl]
    seconds, accuracy = runner(workload, int(seed), np.dtype(dtype))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(seconds=seconds, accuracy=accuracy, peak_mb=peak_mb)))


def measure(impl, workload, seed, dtype, threads=None):
    env = dict(os.environ)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    out = subprocess.run([sys.executable, str(HERE / "bench.py"), "--child", impl, workload,
                          str(seed), dtype], env=env, capture_output=True, text=True,
                         check=True, cwd=HERE).stdout
    return json.loads(out.strip().splitlines()[-1])


def time_process(command, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=HERE, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# The whole process of this package that stands for a workload in --against.
OUR_PROCESS = {
    "A": ("main.py --optimizer adam --no-plot",
          ["main.py", "--optimizer", "adam", "--no-plot", "--log-level", "WARNING"]),
    "B": ("bench.py --child ours B 0 float32",
          ["bench.py", "--child", "ours", "B", "0", "float32"]),
}


def time_against(workload, command, repeats):
    """Ours and ``command`` timed in turn, ours first: (ours, theirs, [ours / theirs per pair]).

    Alternating the two puts both through the same moments of a shared,
    noisy machine, so the ratio of each pair holds when absolute times drift.
    """
    ours = [sys.executable, *OUR_PROCESS[workload][1]]
    time_process(ours, 1), time_process(command, 1)  # a first pair, not counted: warm caches
    pairs = [(time_process(ours, 1), time_process(command, 1)) for _ in range(repeats)]
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs),
            [p[0] / p[1] for p in pairs])


def torch_available():
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return probe.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="*", choices=sorted(WORKLOADS),
                        default=sorted(WORKLOADS), help="which workloads (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default: 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds: timing uses the first; this package's accuracy is "
                             "reported for each (default: 0)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch loops")
    parser.add_argument("--process", action="append", default=[], metavar="NAME=COMMAND",
                        help="also time a whole process, e.g. a reference program kept "
                             "outside this repository (repeatable)")
    parser.add_argument("--against", action="append", default=[],
                        metavar="W:NAME=COMMAND",
                        help="time a whole process in alternation with this package's process "
                             f"for workload W ({', '.join(OUR_PROCESS)}) and report the ratio "
                             "of each pair, e.g. 'A:book-ch10=python ch10.py' (repeatable)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        print("torch is not installed: timing this package alone")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"median of {args.repeats}, seeds {args.seeds}\n")
    print(f"{'workload':8} {'implementation':18} {'seconds':>8} {'epochs/s':>9} "
          f"{'peak MB':>8}  final training accuracy (per seed)")
    for workload in args.workloads:
        plan = [("ours", "float32", None), ("ours", "float64", None)]
        if workload == "A":
            plan.append(("minimal", "float64", None))
        if use_torch:
            plan += [("torch", "float32", 1), ("torch", "float32", 2)]
        for impl, dtype, threads in plan:
            # Timed on the first seed; ours also runs once on each further seed,
            # for the accuracy comparison of float32 with float64.
            timed = [measure(impl, workload, args.seeds[0], dtype, threads)
                     for _ in range(args.repeats)]
            accuracies = [timed[0]["accuracy"]]
            if impl == "ours":
                accuracies += [measure(impl, workload, seed, dtype, threads)["accuracy"]
                               for seed in args.seeds[1:]]
            seconds = statistics.median(r["seconds"] for r in timed)
            peak = statistics.median(r["peak_mb"] for r in timed)
            label = f"{impl} {dtype}" + (f" {threads}T" if threads else "")
            shown = " ".join(f"{a:.3f}" for a in accuracies)
            if len(accuracies) > 1:
                shown += f"  (mean {statistics.mean(accuracies):.3f})"
            print(f"{workload:8} {label:18} {seconds:8.2f} "
                  f"{WORKLOADS[workload]['epochs'] / seconds:9.0f} {peak:8.0f}  {shown}",
                  flush=True)
    print()
    processes = [("main.py --help", [sys.executable, "main.py", "--help"]),
                 ("main.py --optimizer adam --no-plot",
                  [sys.executable, "main.py", "--optimizer", "adam", "--no-plot",
                   "--log-level", "WARNING"])]
    processes += [(spec.split("=", 1)[0], spec.split("=", 1)[1].split())
                  for spec in args.process]
    for name, command in processes:
        print(f"process  {name:40} {time_process(command, args.repeats):8.2f} s", flush=True)
    for spec in args.against:
        workload, rest = spec.split(":", 1)
        name, command = rest.split("=", 1)
        ours, theirs, ratios = time_against(workload, command.split(), args.repeats)
        print(f"against  {workload}: {OUR_PROCESS[workload][0]} {ours:.2f} s, {name} "
              f"{theirs:.2f} s; ratio per pair: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    main()
