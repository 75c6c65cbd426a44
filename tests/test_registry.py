import pytest

import heads
import optimizers
from program import cli, registry

# The parts the tests register are named "my_..." (or with a space or a capital, where
# refused), names that no part of the project will take: a part made permanent must not
# collide with a test's.


@pytest.fixture
def tables(monkeypatch):
    """The registries as they are, put back after the test whatever it registers."""
    for name in ("OPTIMIZERS", "HEADS", "DATASETS"):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))


def test_built_in_parts_build_from_their_names():
    assert isinstance(registry.build(registry.OPTIMIZERS["adam"]), optimizers.Adam)
    assert isinstance(registry.build(registry.OPTIMIZERS["gd"], momentum=0.5), optimizers.SGD)
    for name, entry in registry.HEADS.items():
        head = registry.build(entry)
        assert isinstance(head, heads.Head) and head.task == entry.task, name
    dataset = registry.build(registry.DATASETS["vertical"], seed=1, samples=5, classes=2)
    assert dataset.x_train.shape == (10, 2)


def test_every_optimizer_default_is_a_valid_constructor_argument():
    for name, entry in registry.OPTIMIZERS.items():
        optimizer = registry.build(entry, **entry.defaults, fused=entry.fused)
        for key, value in entry.defaults.items():
            assert getattr(optimizer, key) == value, (name, key)


def test_aliases():
    assert registry.optimizer_name("SGD") == "gd"
    assert registry.optimizer_name("Adam") == "adam"
    assert registry.optimizer_name("No Such") == "no such"  # an unknown name, as it is


def test_registering_an_optimizer_generates_its_flags(tables):
    # my_strength is in no table of flags: it gets one named after it.
    class MyLion(optimizers.Optimizer):
        def __init__(self, learning_rate=1e-4, decay=0.0, beta_1=0.9, my_strength=0.0):
            super().__init__(learning_rate, decay)

    assert "my_strength" not in cli.hyperparameter_flags()
    registry.register_optimizer("my_lion", MyLion, help="sign of an interpolated momentum",
                                defaults=dict(learning_rate=1e-4, decay=0.0, beta_1=0.9,
                                              my_strength=0.0))
    flags = cli.hyperparameter_flags()
    assert flags["my_strength"].flag == "--my-strength"
    assert flags["beta_1"].flag == "--beta1"
    config = cli.resolve(cli.parse(["--optimizer", "my_lion", "--my-strength", "0.1"]))
    assert config["hyperparameters"] == dict(learning_rate=1e-4, decay=0.0, beta_1=0.9,
                                             my_strength=0.1)
    # The new optimizer is named last among those that take --beta1.
    takers = [name for name, entry in registry.OPTIMIZERS.items() if "beta_1" in entry.defaults]
    assert "adam" in takers and takers[-1] == "my_lion"
    help_text = " ".join(cli.build_parser().format_help().split())
    assert f"{', '.join(takers)} only: first-moment decay" in help_text


@pytest.mark.parametrize("name, defaults, message", [
    ("adam", dict(learning_rate=1.0), "an optimizer named 'adam' is already registered"),
    ("sgd", dict(learning_rate=1.0), "an optimizer named 'sgd' is already registered"),
    ("all", dict(learning_rate=1.0), "'all' is already registered"),
    ("My Opt", dict(learning_rate=1.0), "must be a lowercase word, got 'My Opt'"),
    ("my_new", dict(decay=0.0), "defaults must include learning_rate"),
])
def test_bad_registrations_are_refused(tables, name, defaults, message):
    with pytest.raises(ValueError, match=message):
        registry.register_optimizer(name, optimizers.SGD, defaults=defaults, help="x")


def test_registering_a_head_and_a_dataset(tables):
    registry.register_head("my_huber", heads.SquaredError, task="regression", help="robust")
    registry.register_dataset("my_line", "program.data:sine", task="regression", help="a line",
                              options=("samples",))
    config = cli.resolve(cli.parse(["--dataset", "my_line", "--loss", "my_huber"]))
    assert config["loss"] == "my_huber"
    with pytest.raises(ValueError, match="task must be"):
        registry.register_head("my_odd", heads.Binary, task="ranking", help="?")
    with pytest.raises(ValueError, match="task must be"):
        registry.register_dataset("my_odd", "program.data:sine", task="binary", help="?")


def test_an_optimizers_aliases_are_registered_and_checked(tables):
    registry.register_optimizer("my_nesterov", optimizers.SGD, help="look-ahead momentum",
                                defaults=dict(learning_rate=0.1), aliases=["my_nag"])
    assert registry.OPTIMIZERS["my_nesterov"] == registry.Optimizer(
        optimizers.SGD, "look-ahead momentum", dict(learning_rate=0.1), ("my_nag",))
    assert registry.optimizer_name("MY_NAG") == "my_nesterov"
    with pytest.raises(ValueError, match="an optimizer named 'sgd' is already registered"):
        registry.register_optimizer("my_plain", optimizers.SGD, help="x",
                                    defaults=dict(learning_rate=0.1), aliases=("sgd",))
    with pytest.raises(ValueError, match="an optimizer's name must be a lowercase word, "
                                         "got 'Plain'"):
        registry.register_optimizer("my_plain", optimizers.SGD, help="x",
                                    defaults=dict(learning_rate=0.1), aliases=("Plain",))
    assert "my_plain" not in registry.OPTIMIZERS


@pytest.mark.parametrize("name", ["MyOpt", "my opt", "", 3])
def test_a_name_must_be_one_lowercase_word(tables, name):
    with pytest.raises(ValueError, match=f"an optimizer's name must be a lowercase word, "
                                         f"got {name!r}"):
        registry.register_optimizer(name, optimizers.SGD, defaults=dict(learning_rate=1.0),
                                    help="x")


@pytest.mark.parametrize("task", ["classes", "binary", "regression"])
def test_a_head_of_each_task_is_registered_as_given(tables, task):
    registry.register_head("my_head", heads.Binary, task=task, help="a custom head")
    assert registry.HEADS["my_head"] == registry.Head(heads.Binary, "a custom head", task)


def test_a_registered_dataset_keeps_every_field(tables):
    registry.register_dataset("my_line", "program.data:sine", task="regression", help="a line",
                              options=["samples"], defaults=dict(epochs=5),
                              optimizer_defaults=dict(adam=dict(learning_rate=0.5)))
    assert registry.DATASETS["my_line"] == registry.Dataset(
        "program.data:sine", "a line", "regression", ("samples",), dict(epochs=5),
        dict(adam=dict(learning_rate=0.5)))
    registry.register_dataset("my_plain", "program.data:sine", task="regression", help="plain")
    assert registry.DATASETS["my_plain"] == registry.Dataset("program.data:sine", "plain",
                                                             "regression")


def test_refusals_name_the_kind_of_part(tables):
    with pytest.raises(ValueError, match="^a head named 'mse' is already registered$"):
        registry.register_head("mse", heads.SquaredError, task="regression", help="x")
    with pytest.raises(ValueError, match="^a dataset named 'sine' is already registered$"):
        registry.register_dataset("sine", "program.data:sine", task="regression", help="x")
    with pytest.raises(ValueError, match="^a head's name must be a lowercase word, got 'Huber'$"):
        registry.register_head("Huber", heads.SquaredError, task="regression", help="x")
    with pytest.raises(ValueError, match="^a dataset's name must be a lowercase word, "
                                         "got 'My Data'$"):
        registry.register_dataset("My Data", "program.data:sine", task="regression", help="x")


def test_the_initialisations_offered_are_those_the_layers_draw():
    import layers

    assert tuple(registry.INITS) == layers.INITIALISATIONS


def test_every_registered_layer_and_activation_is_built_and_named_by_its_kind():
    import numpy as np

    for table in (registry.LAYERS, registry.ACTIVATIONS):
        for kind in table:
            part = registry.part(kind)
            assert isinstance(part, type)
            example = {"dense": dict(n_inputs=2, n_neurons=3),
                       "conv2d": dict(in_channels=1, out_channels=2, kernel_size=3),
                       "reshape": dict(shape=(1, 2, 2)), "dropout": dict(rate=0.5),
                       "batchnorm": dict(n_features=3)}.get(kind, {})
            layer = part(**example)
            assert registry.kind_of(layer) == kind
    assert registry.kind_of(np.zeros(1)) == "ndarray"  # an unregistered class: its own name
    with pytest.raises(ValueError, match="no layer or activation named 'no such part'"):
        registry.part("no such part")


def test_layers_and_activations_share_one_namespace_and_roles_are_checked(monkeypatch):
    for name in ("LAYERS", "ACTIVATIONS", "SCHEDULES"):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))
    with pytest.raises(ValueError, match="a layer named 'relu' is already registered"):
        registry.register_layer("relu", object, help="a layer that would shadow ReLU")
    with pytest.raises(ValueError, match="an activation named 'dense' is already registered"):
        registry.register_activation("dense", object, help="an activation named as a layer")
    with pytest.raises(ValueError, match="role must be None or 'norm', got 'head'"):
        registry.register_layer("my_layer", object, role="head", help="no such role")
    with pytest.raises(ValueError, match="a schedule named 'cosine' is already registered"):
        registry.register_schedule("cosine", print, help="twice")
    registry.register_schedule("my_flat", lambda lr, decay, t, total: lr, help="constant")
    assert registry.build_schedule("my_flat")(0.5, 0.1, 7, None) == 0.5
