"""Gradient-descent optimizers: the update rule of each, for one parameter array.

With g a parameter's gradient and lr_t the rate of step t (t steps already
taken, 0 for the first step), each class below moves a parameter p by the
rule under its "Update:". The rest of a step is the same for all of them and
is their base class's, ``stepping.Optimizer`` (T = total_steps, W = warmup):

    Decay:     lr_t = learning_rate / (1 + decay * t)
               lr_t = learning_rate * exp(-decay * t)            with schedule=exponential
               lr_t = learning_rate * (1 + cos(pi * t / T)) / 2  with schedule=cosine
               lr_t = lr_t * (t + 1) / W                         then, while t < W (warm-up)

then the gradients clipped (clip_norm), the weights decayed (AdamW), and
the rule. Its state (momentums, caches) is the optimizer's, one set per
parameter array, zeros at first.
"""

import numpy as np

from stepping import Optimizer, cosine, exponential, hyperparameter, inverse

# The base class and the schedules are reached from here too (optimizers.Optimizer).
__all__ = ["SGD", "Adagrad", "RMSProp", "Adam", "AdamW", "Optimizer", "inverse", "exponential",
           "cosine"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (heavy-ball) momentum.

    Update:    p <- p - lr_t g                                  (momentum = 0)
               v <- momentum v - lr_t g;  p <- p + v            (v starts at 0)

    Robbins & Monro (1951); momentum after Polyak (1964).
    """

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0, **options):
        super().__init__(learning_rate, decay, **options)
        self.momentum = hyperparameter("momentum", momentum, below_one=True)
        self.slots = ("velocity",) if self.momentum else ()

    def update(self, param, grad, state, lr):
        if not self.momentum:
            param -= lr * grad
            return
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity -= lr * grad
        param += velocity


class Adagrad(Optimizer):
    """Adaptive gradient: each parameter's step shrinks with its gradient history.

    Update:    c <- c + g^2;  p <- p - lr_t g / (sqrt(c) + epsilon)    (c starts at 0)

    Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12.
    """

    slots = ("cache",)

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = hyperparameter("epsilon", epsilon)

    def update(self, param, grad, state, lr):
        cache = state["cache"]
        cache += grad**2
        param -= lr * grad / (np.sqrt(cache) + self.epsilon)


class RMSProp(Optimizer):
    """Root-mean-square propagation: Adagrad with a decaying average of g^2.

    Update:    c <- rho c + (1 - rho) g^2;  p <- p - lr_t g / (sqrt(c) + epsilon)
               (c starts at 0)

    Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning",
    lecture 6e.
    """

    slots = ("cache",)

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = hyperparameter("epsilon", epsilon)
        self.rho = hyperparameter("rho", rho, below_one=True)

    def update(self, param, grad, state, lr):
        cache = state["cache"]
        cache *= self.rho
        cache += (1 - self.rho) * grad**2
        param -= lr * grad / (np.sqrt(cache) + self.epsilon)


class Adam(Optimizer):
    """Adaptive moment estimation: momentum plus RMSProp, both bias-corrected.

    Update:    m <- beta_1 m + (1 - beta_1) g      v <- beta_2 v + (1 - beta_2) g^2
               m_hat = m / (1 - beta_1^(t+1))      v_hat = v / (1 - beta_2^(t+1))
               p <- p - lr_t m_hat / (sqrt(v_hat) + epsilon)    (m, v start at 0)

    The corrections undo the pull of the zero start towards 0 in early steps.
    Kingma & Ba (2014), "Adam: A Method for Stochastic Optimization",
    arXiv:1412.6980.
    """

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7,
                 beta_1=0.9, beta_2=0.999, **options):
        super().__init__(learning_rate, decay, **options)
        self.epsilon = hyperparameter("epsilon", epsilon)
        self.beta_1 = hyperparameter("beta_1", beta_1, below_one=True)
        self.beta_2 = hyperparameter("beta_2", beta_2, below_one=True)

    def update(self, param, grad, state, lr):
        m, v = state["m"], state["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        v += (1 - self.beta_2) * grad**2
        t = self.iterations + 1
        m_hat = m / (1 - self.beta_1 ** t)
        v_hat = v / (1 - self.beta_2 ** t)
        param -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay: the weights shrink apart from the gradient.

    Update:    p <- p - lr_t weight_decay p        (weights only: never biases, gamma, beta)
               then Adam's update of p with g      (g holds no decay term)

    Adding weight_decay p to g instead (L2 regularisation) would have Adam
    divide the decay by sqrt(v_hat) like the gradient, so that weights with
    large gradients would hardly decay; decoupled, every weight shrinks by
    the same fraction lr_t weight_decay. Decay first, then Adam, as
    torch.optim.AdamW orders them. Loshchilov & Hutter (2019), "Decoupled
    Weight Decay Regularization", ICLR.
    """

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9,
                 beta_2=0.999, weight_decay=0.01, **options):
        super().__init__(learning_rate, decay, epsilon, beta_1, beta_2, **options)
        self.weight_decay = hyperparameter("weight_decay", weight_decay)
