"""Name -> part tables: every kind of part the program knows.

Optimizers, output heads, datasets, layers, hidden activations,
initialisations and learning-rate schedules. The command line is generated
from these tables: the choices of ``--optimizer``, ``--loss``,
``--dataset``, ``--activation``, ``--norm``, ``--init`` and ``--schedule``,
their ``--help`` texts, each optimizer's defaults and which hyperparameter
flags apply to which optimizer. ``--optimizer all`` compares every
optimizer listed here, and a checkpoint names each layer by its name here.

Adding a part is one class (with its tests) and one entry: in the tables
below for the project itself, or with ``register_optimizer``,
``register_head``, ``register_dataset``, ``register_layer``,
``register_activation`` or ``register_schedule`` from a script, a notebook
or a test. An initialisation is drawn inside Dense and Conv2D: a new one is
a branch of ``layers._initial_weights`` and an entry in ``INITS`` below.
A built-in part is named as "module:Name" and imported only when it is
built, so this module (and ``main.py --help``) never loads NumPy.
"""

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hyperparameter:
    """A hyperparameter's command-line flag, the values it takes and its meaning."""

    flag: str
    kind: str  # "positive", "non-negative", "fraction" ([0, 1)) or "number"
    help: str
    metavar: str = None


# Every optimizer constructor argument that has a flag. A registered
# optimizer with an argument not listed here gets a flag named after it
# (``weight_decay`` -> ``--weight-decay``), taking any finite number.
HYPERPARAMETERS = {
    "learning_rate": Hyperparameter("--learning-rate", "positive", "initial learning rate",
                                    "LR"),
    "decay": Hyperparameter("--decay", "non-negative",
                            "learning-rate decay: step t uses LR / (1 + decay * t), or "
                            "LR * exp(-decay * t) with --schedule exponential", "D"),
    "momentum": Hyperparameter("--momentum", "fraction", "momentum, in [0, 1)", "M"),
    "epsilon": Hyperparameter("--epsilon", "non-negative", "added to the denominator", "E"),
    "rho": Hyperparameter("--rho", "fraction", "decay of the squared-gradient cache, in [0, 1)",
                          "R"),
    "beta_1": Hyperparameter("--beta1", "fraction", "first-moment decay, in [0, 1)", "B1"),
    "beta_2": Hyperparameter("--beta2", "fraction", "second-moment decay, in [0, 1)", "B2"),
    "weight_decay": Hyperparameter("--weight-decay", "non-negative",
                                   "decoupled weight decay: each step first shrinks the "
                                   "weights (not biases) by LR * WD * w", "WD"),
}


@dataclass(frozen=True)
class Optimizer:
    """``build(**defaults)`` makes the optimizer; ``defaults`` lists every flag it takes.

    ``fused``: the rule is element-wise and takes ``fused=True``, the fast
    path of ``optimizers.Optimizer``, which the program then uses.
    """

    build: object  # a class, or "module:Name"
    help: str
    defaults: dict
    aliases: tuple = ()
    fused: bool = False


@dataclass(frozen=True)
class Head:
    """``build()`` makes the head; ``task`` is "classes", "binary" or "regression"."""

    build: object
    help: str
    task: str


@dataclass(frozen=True)
class Dataset:
    """``build(seed=..., samples=..., classes=...)`` returns a ``data.Dataset``.

    ``task`` is "classes" or "regression"; ``options`` the flags among
    ``samples`` and ``classes`` that it takes; ``defaults`` overrides the
    program's defaults for it (``loss``, ``hidden``, ``epochs``, ...), and
    ``optimizer_defaults`` an optimizer's defaults.
    """

    build: object
    help: str
    task: str
    options: tuple = ()
    defaults: dict = field(default_factory=dict)
    optimizer_defaults: dict = field(default_factory=dict)


# Defaults tuned from the book's chapter-10 settings (gd: lr 1.0, decay 1e-3;
# adagrad: decay 1e-4; rmsprop: lr 0.02, decay 1e-5, rho 0.999; adam: lr 0.05,
# decay 5e-7, beta_1 0.9), then checked on validation loss averaged over seeds
# 0-4 with the default L2 of 5e-4 (docs/defaults.md): gd's rate was halved to
# 0.15 there, since at 0.3 its validation accuracy fell from 0.84 to 0.66.
OPTIMIZERS = {
    "gd": Optimizer("optimizers:SGD", "stochastic gradient descent with momentum",
                    dict(learning_rate=0.15, decay=0.0, momentum=0.9), aliases=("sgd",),
                    fused=True),
    "adagrad": Optimizer("optimizers:Adagrad", "Adagrad: steps shrink with the gradient history",
                         dict(learning_rate=1.0, decay=0.0, epsilon=1e-7), fused=True),
    "rmsprop": Optimizer("optimizers:RMSProp", "RMSProp: Adagrad with a decaying average",
                         dict(learning_rate=0.03, decay=2e-4, epsilon=1e-7, rho=0.9),
                         fused=True),
    "adam": Optimizer("optimizers:Adam", "Adam: momentum and RMSProp, bias-corrected",
                      dict(learning_rate=0.07, decay=1e-4, epsilon=1e-7, beta_1=0.95,
                           beta_2=0.999), fused=True),
    # Adam's tuned defaults, and torch.optim.AdamW's weight decay.
    "adamw": Optimizer("optimizers:AdamW", "AdamW: Adam with decoupled weight decay on the "
                       "weights", dict(learning_rate=0.07, decay=1e-4, epsilon=1e-7, beta_1=0.95,
                                   beta_2=0.999, weight_decay=0.01), fused=True),
}



def _adam_alike(**settings):
    """A dataset's defaults for Adam, and the same for AdamW (Adam with weight decay)."""
    return dict(adam=settings, adamw=dict(settings))


HEADS = {
    "categorical": Head("heads:Classes", "softmax + categorical crossentropy, one output "
                        "per class", "classes"),
    "binary": Head("heads:Binary", "sigmoid + binary crossentropy, one output for two "
                   "classes", "binary"),
    "mse": Head("heads:SquaredError", "linear output + mean squared error (regression)",
                "regression"),
    "mae": Head("heads:AbsoluteError", "linear output + mean absolute error (regression)",
                "regression"),
}

DATASETS = {
    "spiral": Dataset("program.data:spiral", "nnfs spiral arms, one per class", "classes",
                      options=("samples", "classes")),
    "vertical": Dataset("program.data:vertical",
                        "nnfs vertical clusters, far easier than the spiral",
                        "classes", options=("samples", "classes"),
                        # An L2 penalty raised Adam's validation loss here (docs/defaults.md).
                        defaults=dict(l2=0.0)),
    # The book's chapter 17: 1-64-64-1, weights 0.1 N(0, 1), Adam lr 0.005, decay 1e-3.
    "sine": Dataset("program.data:sine", "nnfs sine wave: y = sin(2 pi x) on [0, 1), a regression",
                    "regression", options=("samples",),
                    defaults=dict(hidden=[64, 64], weight_scale=0.1, samples=1000, l2=0.0),
                    optimizer_defaults=_adam_alike(learning_rate=0.005, decay=1e-3, beta_1=0.9)),
    "digits": Dataset("program.data:digits", "scikit-learn's 1797 handwritten digits, 8x8 pixels "
                      "(needs scikit-learn)", "classes",
                      defaults=dict(hidden=[64], batch_size=32, epochs=30,
                                    log_every=1),
                      optimizer_defaults=dict(**_adam_alike(learning_rate=0.005, decay=1e-3,
                                                                beta_1=0.9),
                                              gd=dict(learning_rate=0.05),
                                              adagrad=dict(learning_rate=0.1),
                                              rmsprop=dict(learning_rate=0.003))),
    # Defaults for a small table such as iris (150 rows): about 800 steps. For
    # Fashion-MNIST docs/problems.md gives the book's chapter-19 setting instead.
    "file": Dataset("program.data:user_data", "your own data, given with --data PATH", "classes",
                    options=("data",),
                    defaults=dict(hidden=[64], batch_size=32, epochs=200, log_every=10),
                    optimizer_defaults=_adam_alike(learning_rate=0.005, decay=1e-3, beta_1=0.9)),
}


@dataclass(frozen=True)
class Part:
    """A layer or an activation: ``build(**settings)`` makes it.

    ``role`` says where the command line may place a layer: "norm" for a
    normalisation that ``--norm`` puts after every hidden Dense and Conv2D
    (its constructor takes ``n_features``), None for the layers that
    ``model.build`` places itself.
    """

    build: object
    help: str
    role: str = None


@dataclass(frozen=True)
class Schedule:
    """``build`` is a function ``(learning_rate, decay, t, total_steps) -> lr_t``."""

    build: object
    help: str


# Every layer a network may hold, by the name a checkpoint records for it.
LAYERS = {
    "dense": Part("layers:Dense", "fully connected: Y = X W + b"),
    "conv2d": Part("layers:Conv2D", "2-D convolution (cross-correlation) over image channels"),
    "maxpool2d": Part("layers:MaxPool2D", "the maximum of each window"),
    "flatten": Part("layers:Flatten", "(N, ...) to (N, features)"),
    "reshape": Part("layers:Reshape", "flat rows to images (N, channels, height, width)"),
    # fast.Dropout: layers.Dropout's masks, bit for bit, from the generator's raw bits
    # (docs/speed.md: without it workload B takes 24% more instructions).
    "dropout": Part("fast:Dropout", "inverted dropout"),
    "batchnorm": Part("layers:BatchNorm", "batch normalisation: each feature (or channel) "
                      "standardised over the batch, then scaled and shifted", role="norm"),
}

# The hidden layers' activations (--activation); the output's is the head's.
ACTIVATIONS = {
    "relu": Part("activations:ReLU", "max(x, 0)"),
    "tanh": Part("activations:Tanh", "tanh(x)"),
    "sigmoid": Part("activations:Sigmoid", "1 / (1 + exp(-x))"),
    "leaky_relu": Part("activations:LeakyReLU", "x for x > 0, 0.01 x otherwise"),
}

# Initial weights of Dense and Conv2D (--init): the name is passed as ``init=``, and
# layers.INITIALISATIONS lists the same names (tests/test_registry.py checks it).
INITS = {
    "normal": "weight_scale * N(0, 1), the book's (--weight-scale S)",
    "he": "N(0, 2 / fan_in), for ReLU layers (He et al. 2015)",
    "glorot": "U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)",
}

SCHEDULES = {
    "inverse": Schedule("optimizers:inverse", "LR / (1 + decay * t), the book's"),
    "exponential": Schedule("optimizers:exponential", "LR * exp(-decay * t)"),
    "cosine": Schedule("optimizers:cosine", "LR * (1 + cos(pi * t / T)) / 2, T the run's "
                       "total steps (--decay does not apply)"),
}

# Which head tasks fit which dataset task, the first being the default.
TASKS = {"classes": ("classes", "binary"), "regression": ("regression",)}


def build(entry, **kwargs):
    """Build the part of a registry entry: its class (or factory), called with ``kwargs``."""
    return _resolve(entry.build)(**kwargs)


def part(kind):
    """The class (or factory) of a layer or activation named ``kind``."""
    entry = LAYERS.get(kind) or ACTIVATIONS.get(kind)
    if entry is None:
        raise ValueError(f"no layer or activation named {kind!r} is registered")
    return _resolve(entry.build)


def build_schedule(name):
    """The function of the schedule registered as ``name``."""
    return _resolve(SCHEDULES[name].build)


def kind_of(layer):
    """The registered name of ``layer``'s class, or its class's name in lower case."""
    for table in (LAYERS, ACTIVATIONS):
        for name, entry in table.items():
            target = entry.build
            if (target is type(layer) or isinstance(target, str)
                    and target == f"{type(layer).__module__}:{type(layer).__name__}"):
                return name
    return type(layer).__name__.lower()


def _resolve(target):
    if isinstance(target, str):
        module, name = target.split(":")
        target = getattr(importlib.import_module(module), name)
    return target


def register_optimizer(name, build, *, defaults, help, aliases=()):
    """Add an optimizer: ``build(**defaults)`` must make it.

    ``defaults`` names every constructor argument the command line may set,
    with its default, and must include ``learning_rate``.
    """
    if "learning_rate" not in defaults:
        raise ValueError(f"optimizer {name!r}: defaults must include learning_rate")
    _add(OPTIMIZERS, "an optimizer", name, Optimizer(build, help, dict(defaults), tuple(aliases)),
         aliases)


def register_head(name, build, *, task, help):
    """Add an output head for ``--loss NAME``: ``build()`` must make a ``heads.Head``."""
    if task not in ("classes", "binary", "regression"):
        raise ValueError(f"head {name!r}: task must be classes, binary or regression, "
                         f"got {task!r}")
    _add(HEADS, "a head", name, Head(build, help, task))


def register_dataset(name, build, *, task, help, options=(), defaults=None,
                     optimizer_defaults=None):
    """Add a dataset for ``--dataset NAME``; see ``Dataset`` for the fields."""
    if task not in TASKS:
        raise ValueError(f"dataset {name!r}: task must be classes or regression, got {task!r}")
    _add(DATASETS, "a dataset", name, Dataset(build, help, task, tuple(options),
                                            dict(defaults or {}), dict(optimizer_defaults or {})))


def register_layer(name, build, *, help, role=None):
    """Add a layer; ``role="norm"`` makes it a choice of ``--norm`` (see ``Part``).

    The layer keeps to the parameter protocol of ``layers.py``: it lists its
    trained arrays in ``parameters`` (gradients in "d" + name), what weight
    decay shrinks in ``decayed`` and its saved, untrained arrays in
    ``state``.
    """
    if role not in (None, "norm"):
        raise ValueError(f"layer {name!r}: role must be None or 'norm', got {role!r}")
    _add(LAYERS, "a layer", name, Part(build, help, role), others=ACTIVATIONS)


def register_activation(name, build, *, help):
    """Add a hidden activation for ``--activation NAME``: ``build()`` must make it."""
    _add(ACTIVATIONS, "an activation", name, Part(build, help), others=LAYERS)


def register_schedule(name, build, *, help):
    """Add a schedule for ``--schedule NAME``: ``build(lr, decay, t, total_steps) -> lr_t``."""
    _add(SCHEDULES, "a schedule", name, Schedule(build, help))


def _add(table, kind, name, entry, aliases=(), others=None):
    """table[name] = entry, unless a name or alias is taken; ``kind`` says "an optimizer"..."""
    taken = set(table) | {alias for known in table.values()
                          for alias in getattr(known, "aliases", ())} | {"all"}
    taken |= set(others or ())  # a checkpoint names layers and activations in one space
    for key in (name, *aliases):
        if not (isinstance(key, str) and key and key == key.lower() and " " not in key):
            raise ValueError(f"{kind}'s name must be a lowercase word, got {key!r}")
        if key in taken:
            raise ValueError(f"{kind} named {key!r} is already registered")
    table[name] = entry


def optimizer_name(text):
    """The registered name for ``text``, accepting aliases and any case."""
    name = text.lower()
    for known, entry in OPTIMIZERS.items():
        if name in entry.aliases:
            return known
    return name
