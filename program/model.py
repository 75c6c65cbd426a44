"""A network: any stack of layers followed by one output head.

    X -> layers[0] -> layers[1] -> ... -> layers[-1] -> head (activation + loss)

``Network`` runs the stack forward and backward and evaluates it, and reaches
every layer's parameters through the parameter protocol (``layers.py``,
``parameter_names``), never by asking what kind of layer it holds.
``build`` assembles the usual one from the registries' parts:

    dense:   X -> [Dense -> [Norm] -> act [-> Dropout]] per hidden width -> Dense -> head
    images:  X -> Reshape(C, H, W) -> [Conv2D -> [Norm] -> act -> MaxPool2D(2)] per --conv
               -> Flatten -> the dense part above

with the L1/L2 penalties on the hidden layers only (as in the book's
chapter-14 network).
"""

import inspect
import math
from numbers import Integral

import numpy as np

from layers import Dense, parameter_names, state_names
from losses import regularization_loss
from program import registry


class Network:
    """A stack of layers and a head (see ``heads.py``).

    ``layers`` is a list of objects with ``forward(inputs, training)`` and
    ``backward(dvalues)``; those that declare parameters (``layers.py``,
    the parameter protocol) are the trainable ones an optimizer updates.
    ``specs``: the (kind, settings) each layer was built from, when ``build``
    made it (the checkpoint records them); None for a stack built by hand.
    """

    def __init__(self, layers, head, specs=None, *, chunk=None):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        self.head = head
        self.specs = None if specs is None else list(specs)
        # Evaluation takes at most ``chunk`` rows at a time (None: all at once), so
        # that its memory does not grow with the data (a convolution keeps a patch
        # matrix of 9 to 144 floats a pixel: thousands of images would take gigabytes).
        self.chunk = chunk
        self.trainable = [layer for layer in self.layers if parameter_names(layer)]
        self.names = _layer_names(self.layers)
        # Where backward stops, worked out once (it runs every step): the first
        # layer past a leading Reshape, and whether it can skip its input gradient.
        first = 0
        while first < len(self.layers) - 1 and self.names[first].startswith("reshape"):
            first += 1
        self._first = first
        self._skips_input = "input_gradient" in _keywords(type(self.layers[first]).backward)
        # The fewest samples a training batch may hold (BatchNorm's statistics need two).
        self.min_batch = max(getattr(layer, "min_batch", 1) for layer in self.layers)
        # (full name, layer, attribute) of every parameter and of every state array, listed
        # once: the arrays themselves are read afresh each time (an optimizer's fused path
        # replaces them with views).
        self._parameters = [(f"{layer_name}.{name}", layer, name)
                            for layer, layer_name in zip(self.layers, self.names, strict=True)
                            for name in parameter_names(layer)]
        self._state = [(f"{layer_name}.{name}", layer, name)
                       for layer, layer_name in zip(self.layers, self.names, strict=True)
                       for name in state_names(layer)]

    def forward(self, x, y, training=False):
        """The mean data loss of (x, y); the head keeps its outputs in ``head.output``."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return self.head.forward(x, y)

    def backward(self, y):
        """Gradients of the mean data loss plus the penalties, into every layer.

        The first layer's input is the data (a leading Reshape only reshapes
        it), whose gradient nobody uses: a Dense or Conv2D layer there
        computes its parameter gradients only, saving a product as large as
        its forward one.
        """
        grad = self.head.backward(y)
        for layer in reversed(self.layers[self._first + 1:]):
            grad = layer.backward(grad)
        layer = self.layers[self._first]
        if self._skips_input:
            layer.backward(grad, input_gradient=False)
        else:
            layer.backward(grad)

    def outputs(self, x):
        """The head's outputs (probabilities or values) with dropout off."""
        if self.chunk is not None and len(x) > self.chunk:
            return np.concatenate([self.outputs(x[start:start + self.chunk])
                                   for start in range(0, len(x), self.chunk)])
        for layer in self.layers:
            x = layer.forward(x, False)
        return self.head.outputs(x)

    def predict(self, x):
        """Predictions for x: classes, 0/1 decisions or values, as the head makes them."""
        return self.head.predictions(self.outputs(x))

    def evaluate(self, x, y):
        """Data loss and the head's figures on (x, y), dropout off, nothing updated.

        Returns a dict with ``loss`` and ``accuracy`` (and ``r2`` for a regression).
        """
        if self.chunk is None or len(x) <= self.chunk:
            loss = self.forward(x, y, training=False)
            return dict(loss=loss, **self.head.metrics(self.head.output, y))
        # In chunks: the mean loss is the chunks' means weighted by their sizes.
        total, outputs = 0.0, []
        for start in range(0, len(x), self.chunk):
            part = slice(start, start + self.chunk)
            total += self.forward(x[part], y[part], training=False) * len(y[part])
            outputs.append(self.head.output)
        self.head.output = np.concatenate(outputs)
        return dict(loss=total / len(y), **self.head.metrics(self.head.output, y))

    def regularization_loss(self):
        return sum(regularization_loss(layer) for layer in self.trainable)

    def trainable_names(self):
        """The names of the trainable layers ('dense0', 'batchnorm0', ...), as ``trainable``."""
        return [name for layer, name in zip(self.layers, self.names, strict=True)
                if parameter_names(layer)]

    def parameters(self):
        """(name, array) for every parameter, e.g. ('dense0.weights', W), ('batchnorm0.gamma', g).

        A layer's name is its kind (its name in ``registry.LAYERS``, or its
        class's name in lower case) and its number among the layers of that kind.
        """
        for full_name, layer, name in self._parameters:
            yield full_name, getattr(layer, name)

    def gradients(self):
        """(name, array) for the gradient of every parameter, in the order of ``parameters``."""
        for full_name, layer, name in self._parameters:
            yield full_name, getattr(layer, "d" + name)

    def state(self):
        """(name, array) for what is saved but not trained, e.g. ('batchnorm0.running_mean', m)."""
        for full_name, layer, name in self._state:
            yield full_name, getattr(layer, name)

    def is_finite(self):
        """True unless some parameter is NaN or infinite, or their sum overflows (divergence)."""
        # The sum of an array is NaN or inf when any entry is (or when its
        # finite entries overflow, which is divergence too), and so is the
        # sum of those sums: one reduction per array, one test in all.
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # inf + -inf is the point
            for _, layer, name in self._parameters + self._state:
                total += float(getattr(layer, name).sum())
        return math.isfinite(total)

    def widths(self):
        """[n_inputs, hidden widths..., n_outputs] of the Dense layers, for a Dense stack."""
        dense = [layer for layer in self.trainable if isinstance(layer, Dense)]
        return [dense[0].weights.shape[0], *(layer.weights.shape[1] for layer in dense)]

    def describe(self):
        """The stack in one short line: '2-64-3' for Dense layers, conv blocks as 'conv16'."""
        parts = []
        for layer in self.trainable:
            if isinstance(layer, Dense):
                if not parts:
                    parts.append(str(layer.weights.shape[0]))
                parts.append(str(layer.weights.shape[1]))
            elif getattr(layer, "weights", None) is not None and layer.weights.ndim == 4:
                if not parts:
                    parts.append("x".join(map(str, getattr(self.layers[0], "shape", ())))
                                 or str(layer.weights.shape[1]))
                parts.append(f"conv{layer.weights.shape[0]}")
        return "-".join(parts) if parts else type(self.layers[0]).__name__


def _layer_names(layers):
    """['dense0', 'relu0', ...]: each layer's registered name, numbered within its kind."""
    names, counts = [], {}
    for layer in layers:
        kind = registry.kind_of(layer)
        names.append(f"{kind}{counts.get(kind, 0)}")
        counts[kind] = counts.get(kind, 0) + 1
    return names


def _keywords(function):
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


# Rows a network built by ``build`` evaluates at a time (see ``Network.chunk``):
# 4096 rows of 64 float32 units are 1 MB a layer, where 800,000 rows at once
# took 200 MB; a convolution keeps 9 to 144 floats a pixel, so fewer.
EVALUATION_CHUNK = 4096
CONVOLUTION_CHUNK = 1024


def specs(n_inputs, hidden, n_outputs, *, dropout=0.0, l1=0.0, l2=0.0, weight_scale=0.01,
          activation="relu", init=None, conv=(), kernel=3, norm=None, image_shape=None):
    """The (kind, settings) of every layer of the usual network; see ``build``.

    Kinds are names in ``registry.LAYERS`` or ``registry.ACTIVATIONS``;
    settings are the keyword arguments of the part's constructor (the
    random generator and the dtype aside), all JSON values, so that the
    checkpoint can record them.
    """
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise ValueError(f"hidden must be a list of widths, e.g. [64], got {hidden!r}")
    hidden, conv = list(hidden), list(conv)
    for width in (n_inputs, *hidden, n_outputs, *conv):
        if not isinstance(width, Integral) or isinstance(width, bool) or width < 1:
            raise ValueError(f"every width must be a whole number >= 1: got {width!r} in "
                             f"{n_inputs!r}-{'-'.join(map(repr, hidden))}-{n_outputs!r}")
    penalties = dict(weight_regularizer_l1=l1, weight_regularizer_l2=l2,
                     bias_regularizer_l1=l1, bias_regularizer_l2=l2)
    act = (activation, {})
    # Dense's own default is the book's normal: only a chosen init is recorded.
    dense_init = {} if init is None else dict(init=init)
    out = []
    width = n_inputs
    if conv:
        channels, height, size = _image(image_shape, n_inputs)
        out.append(("reshape", dict(shape=[channels, height, size])))
        for filters in conv:
            if height < 2 or size < 2:
                raise ValueError(f"{len(conv)} convolution blocks halve a {image_shape[1]}x"
                                 f"{image_shape[2]} image below 1 pixel: use fewer")
            out.append(("conv2d", dict(in_channels=channels, out_channels=filters,
                                       kernel_size=kernel, padding=kernel // 2,
                                       init=init or "he", weight_scale=weight_scale,
                                       **penalties)))
            if norm:
                out.append((norm, dict(n_features=filters)))
            out += [act, ("maxpool2d", dict(size=2))]
            channels, height, size = filters, height // 2, size // 2
        out.append(("flatten", {}))
        width = channels * height * size
    for n_neurons in hidden:
        out.append(("dense", dict(n_inputs=width, n_neurons=n_neurons, **dense_init,
                                  weight_scale=weight_scale, **penalties)))
        if norm:
            out.append((norm, dict(n_features=n_neurons)))
        out.append(act)
        if dropout:
            out.append(("dropout", dict(rate=dropout)))
        width = n_neurons
    out.append(("dense", dict(n_inputs=width, n_neurons=n_outputs, **dense_init,
                              weight_scale=weight_scale)))
    return out


def _image(image_shape, n_inputs):
    if image_shape is None or len(image_shape) != 3:
        raise ValueError(f"convolution needs images: image_shape (channels, height, width), "
                         f"got {image_shape!r}")
    channels, height, width = (int(n) for n in image_shape)
    if channels * height * width != n_inputs:
        raise ValueError(f"an image of {channels}x{height}x{width} is not {n_inputs} inputs")
    return channels, height, width


def from_specs(layer_specs, head, *, rng=None, dtype=np.float64):
    """A ``Network`` of the parts ``layer_specs`` names, in order.

    Each part is built as ``class(**settings)``, given also ``rng`` (one
    generator for every part, drawn from in order: initial weights, then
    dropout masks) and ``dtype`` when its constructor takes them.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    built = []
    for kind, settings in layer_specs:
        part = registry.part(kind)
        keywords = _keywords(part)
        extra = {key: value for key, value in (("rng", rng), ("dtype", dtype))
                 if key in keywords}
        built.append(part(**settings, **extra))
    convolution = any(kind == "conv2d" for kind, _ in layer_specs)
    return Network(built, head, layer_specs,
                   chunk=CONVOLUTION_CHUNK if convolution else EVALUATION_CHUNK)


def build(n_inputs, hidden, n_outputs, head, *, dropout=0.0, l1=0.0, l2=0.0,
          weight_scale=0.01, rng=None, dtype=np.float64, activation="relu", init=None,
          conv=(), kernel=3, batch_norm=False, norm=None, image_shape=None):
    """The usual network (see the module's docstring), from the registries' parts.

    Every hidden Dense and Conv2D layer carries the L1/L2 penalties (on
    weights and biases); the output layer carries none. ``activation``
    names the hidden layers' activation (``registry.ACTIVATIONS``),
    ``init`` the initialisation (default: the book's normal for Dense, he
    for Conv2D), ``norm`` a normalisation layer placed after every hidden
    Dense and Conv2D, before its activation (``batch_norm=True`` is
    ``norm="batchnorm"``). ``conv`` lists the channels of each convolution
    block, of ``kernel`` x ``kernel`` kernels, on inputs that are images of
    ``image_shape`` = (channels, height, width). ``rng`` draws the initial
    weights and the dropout masks.
    """
    norm = norm or ("batchnorm" if batch_norm else None)
    layer_specs = specs(n_inputs, hidden, n_outputs, dropout=dropout, l1=l1, l2=l2,
                        weight_scale=weight_scale, activation=activation, init=init,
                        conv=conv, kernel=kernel, norm=norm, image_shape=image_shape)
    return from_specs(layer_specs, head, rng=rng, dtype=dtype)
