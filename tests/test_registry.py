import pytest

import cli
import heads
import optimizers
import registry


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
    assert registry.optimizer_name("newton") == "newton"


def test_registering_an_optimizer_generates_its_flags(tables):
    class Lion(optimizers.Optimizer):
        def __init__(self, learning_rate=1e-4, decay=0.0, beta_1=0.9, weight_decay=0.0):
            super().__init__(learning_rate, decay)

    registry.register_optimizer("lion", Lion, help="sign of an interpolated momentum",
                                defaults=dict(learning_rate=1e-4, decay=0.0, beta_1=0.9,
                                              weight_decay=0.0))
    flags = cli.hyperparameter_flags()
    assert flags["weight_decay"].flag == "--weight-decay"
    assert flags["beta_1"].flag == "--beta1"
    config = cli.resolve(cli.parse(["--optimizer", "lion", "--weight-decay", "0.1"]))
    assert config["hyperparameters"] == dict(learning_rate=1e-4, decay=0.0, beta_1=0.9,
                                             weight_decay=0.1)
    help_text = " ".join(cli.build_parser().format_help().split())
    assert "adam, lion only: first-moment decay" in help_text


@pytest.mark.parametrize("name, defaults, message", [
    ("adam", dict(learning_rate=1.0), "an optimizer named 'adam' is already registered"),
    ("sgd", dict(learning_rate=1.0), "an optimizer named 'sgd' is already registered"),
    ("all", dict(learning_rate=1.0), "'all' is already registered"),
    ("My Opt", dict(learning_rate=1.0), "must be a lowercase word, got 'My Opt'"),
    ("new", dict(decay=0.0), "defaults must include learning_rate"),
])
def test_bad_registrations_are_refused(tables, name, defaults, message):
    with pytest.raises(ValueError, match=message):
        registry.register_optimizer(name, optimizers.SGD, defaults=defaults, help="x")


def test_registering_a_head_and_a_dataset(tables):
    registry.register_head("huber", heads.SquaredError, task="regression", help="robust")
    registry.register_dataset("line", "data:sine", task="regression", help="a line",
                              options=("samples",))
    config = cli.resolve(cli.parse(["--dataset", "line", "--loss", "huber"]))
    assert config["loss"] == "huber"
    with pytest.raises(ValueError, match="task must be"):
        registry.register_head("odd", heads.Binary, task="ranking", help="?")
    with pytest.raises(ValueError, match="task must be"):
        registry.register_dataset("odd", "data:sine", task="binary", help="?")
