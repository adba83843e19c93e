"""The config tree composes as Hydra does it, and nnplug.config refuses what cannot run, one line each."""
import pickle
import textwrap
from importlib.resources import files

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import HydraException

from nnplug.app import experiment, schema, validate as config
from nnplug.app.errors import ConfigError, hydra_one_line
from nnplug.contract.registry import Registry, default_registry
from nnplug.core.nested import flatten

CONF = files("nnplug.conf")


def composed(*overrides):
    schema.register()
    with initialize_config_module(config_module="nnplug.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def options(group):
    return sorted(f.name[:-5] for f in CONF.joinpath(group).iterdir() if f.name.endswith(".yaml"))


def problems(*overrides):
    """The lines nnplug prints for a config: Hydra's composition error (types, enums) or validation's."""
    try:
        cfg = composed(*overrides)
    except HydraException as error:
        return [hydra_one_line(error)]
    with pytest.raises(ConfigError) as error:
        config.validate(cfg, default_registry())
    return error.value.problems


@pytest.mark.parametrize("choice", [f"{group}={option}" for group in
                                    ("layer", "optim", "loss", "model", "augment", "solver", "tracking", "experiment",
                                     "hparams_search") for option in options(group)])
def test_every_option_of_every_group_composes_into_a_valid_config(choice):
    settings = config.validate(composed(choice), default_registry())

    assert set(settings) == set(config.SECTIONS)


@pytest.mark.parametrize("option", options("optim"))
def test_each_optim_option_holds_its_update_rules_hyperparameters_and_defaults(option):
    optim = config.validate(composed(f"optim={option}"), default_registry())["optim"]

    rule = default_registry().get("optimizers", optim.pop("name"))
    assert optim == pytest.approx(dict(rule.defaults))


@pytest.mark.parametrize("overrides, expected", [
    (["solver.num_epochs=-1"], "solver.num_epochs=-1: expected a whole number >= 0"),
    (["solver.batch_size=0"], "solver.batch_size=0: expected a whole number >= 1"),
    (["solver.batch_size=abc"], "solver.batch_size='abc': expected a whole number"),
    (["solver.verbose=maybe"], "solver.verbose='maybe': expected true or false"),
    (["solver.lr_schedule=polynomial"], "solver.lr_schedule='polynomial': expected one of exponential, step, cosine, linear"),
    (["solver.epochs=3"], "solver.epochs: no such key in the config; did you mean 'num_epochs'?"),
    (["+solver.epochs=3"], "solver.epochs: unknown key; did you mean 'num_epochs'?"),
    (["solver.num_epochs=null"], "solver.num_epochs=None: expected a value, not null"),
    (["model.hidden_dims=[100,0]"], "model.hidden_dims=[100, 0]: expected a list of whole numbers >= 1"),
    (["model.init=uniform"], "model.init='uniform': expected one of gaussian, he, xavier, small"),
    (["model.dtype=float16"], "model.dtype='float16': expected one of float32, float64"),
    (["model.dropout=-0.1"], "model.dropout=-0.1: expected a number >= 0 and < 1"),
    (["model.weight_scale=0"], "model.weight_scale=0: expected a number > 0"),
    (["model.hidden_dims=abc"], "model.hidden_dims='abc': expected a list of whole numbers"),
    (["model.fuse=maybe"], "model.fuse='maybe': expected true or false"),
    (["model.widht=3"], "model.widht: no such key in the config"),
    (["model=cnn", "model.width=0"], "model.layers[0].conv.filters=0: expected a number >= 1"),
    (["model=cnn", "model.filter_size=abc"], "model.layers[0].conv.size='abc': expected a whole number"),
    (["model=cnn", "model.layers=[convv,affine]"], "model.layers[0]='convv': unknown layer 'convv'; did you mean"),
    (["model=cnn", "model.layers=[{conv:{filter:3}},affine]"],
     "model.layers[0].conv.filter: layer 'conv' has no such option; did you mean 'filters'?"),
    (["model=vgg", "model.depth=-1"], "model.layers[0].layers[0].repeat=-1: expected a whole number >= 0"),
    (["model=vgg", "model.widths=[32,0]"], "model.layers[0].widths=[32, 0]: expected a list of whole numbers >= 1"),
    (["tracking.experiment=''"], "tracking.experiment='': expected a non-empty string"),
    (["tracking.log_every_n_steps=0"], "tracking.log_every_n_steps=0: expected a whole number >= 1"),
    (["optim=adma"], "optim=adma: no such option in group 'optim'; did you mean 'adam'?"),
    (["optim=adam", "optim.beta1=high"], "optim.beta1='high': expected a number"),
    (["optim.learning_rate=0"], "optim.learning_rate=0: expected a finite number > 0"),
    (["+optim.nesterov=true"], "optim.nesterov: update rule 'sgd_momentum' has no such option "
                               "(its options: learning_rate, momentum, weight_decay, decoupled_weight_decay)"),
    (["layer=leaky", "+layer.options.leaky_relu.slope=0.1"],
     "layer.options.leaky_relu.slope: layer 'leaky_relu' has no such option (its options: alpha)"),
    (["loss.name=hinge"], "loss.name='hinge': unknown loss 'hinge' (available: softmax, svm)"),
    (["data.name=cifar100"], "data.name='cifar100': unknown data set 'cifar100'; did you mean 'cifar10'?"),
    (["loss.name=3"], "loss.name=3: expected the name of an installed loss plugin"),
    (["+seed=1"], "seed: unknown key (known: data, layer, loss, optim, model, augment, solver, tracking)"),
    (["data=npz"], "data.path: missing; it has no default (set data.path=...)"),
    (["tracking.experiment=${oops}"], "the config does not resolve: Interpolation key 'oops' not found"),
    (["solver.resume=maybe"], "solver.resume='maybe': expected true or false"),
    # data keys are checked here, before the MLflow run opens, not first when the data loads
    (["+data.foo=1"], "data.foo: data set 'digits' has no such option (its options: seed, test_size)"),
    (["data.url=http://example.org/digits"], "data.url: data set 'digits' has no such option"),
    (["data=npz", "data.path=x.npz", "+data.test_size=3"], "data.test_size: data set 'npz' has no such option (its options: path)"),
    (["data.normalize=zscore"], "data.normalize='zscore': expected one of auto, per_channel, per_feature, mean_image, none"),
    (["data=cifar10", "data.test_size=abc"], "data.test_size='abc': expected a whole number or null"),
    (["layer=leaky", "layer.options.leaky_relu.alpha=abc"], "layer.options.leaky_relu.alpha='abc': expected a number"),
    (["optim=adam", "optim.beta1=1.0"], "optim.beta1=1.0: expected a number >= 0 and < 1"),
    (["optim=adam", "optim.epsilon=-1"], "optim.epsilon=-1: expected a number > 0"),
    (["optim.learning_rate=1e400"], "optim.learning_rate=inf: expected a finite number > 0"),
    (["+layer.options.dropout.p=1.5"], "layer.options.dropout.p=1.5: expected a number >= 0 and < 1"),
    (["data.limit=0"], "data.limit=0: expected null or a whole number >= 1"),
    (["augment.transforms=[random_crp]"], "augment.transforms[0]='random_crp': unknown transform 'random_crp'; did you mean"),
    (["augment=crop_flip", "augment.transforms.0.random_crop.padding=-1"],
     "augment.transforms[0].random_crop.padding=-1: expected a number >= 0"),
    (["augment.transforms=3"], "augment.transforms=3: expected a list of transforms"),
    (["augment.transforms=[{random_crop:{padding_mode:mirror}}]"],
     "augment.transforms[0].random_crop.padding_mode='mirror': expected one of constant, reflect, edge, symmetric"),
    (["solver.lr_warmup=1.0"], "solver.lr_warmup=1.0: expected a number >= 0 and < 1"),
    (["solver.average=swa"], "solver.average='swa': expected one of none, ema, lookahead"),
    (["solver.average_decay=1.5"], "solver.average_decay=1.5: expected a number >= 0 and <= 1"),
    (["solver.average_every=0"], "solver.average_every=0: expected a whole number >= 1"),
    (["solver.tta=mirror"], "solver.tta='mirror': expected one of none, flip, flip_shift"),
    (["solver.sampling=random"], "solver.sampling='random': expected one of replacement, shuffle"),
    (["solver.micro_batch=0"], "solver.micro_batch=0: expected null or a whole number >= 1"),
    (["optim=nesterov", "optim.decoupled_weight_decay=yes"], "optim.decoupled_weight_decay='yes': expected true or false"),
    (["optim=nesterov", "optim.weight_decay=-1"], "optim.weight_decay=-1: expected a number >= 0"),
])
def test_a_config_that_cannot_run_is_one_problem_naming_key_value_and_what_is_allowed(overrides, expected):
    found = problems(*overrides)

    assert len(found) == 1 and found[0].startswith(expected), found


def test_every_problem_is_reported_at_once_and_survives_the_trip_from_a_sweep_worker():
    found = problems("solver.batch_size=0", "optim.learning_rate=-1", "layer.block=[affine,relu6]")

    assert [p.split("=")[0] for p in found] == ["solver.batch_size", "layer.block[1]", "optim.learning_rate"]
    error = ConfigError(found)
    assert pickle.loads(pickle.dumps(error)).problems == found


def test_a_third_party_layer_needs_no_yaml_to_be_used_in_the_block(tmp_path, monkeypatch, fresh_store):
    (tmp_path / "my_layers.py").write_text(textwrap.dedent('''\
        import numpy as np
        from nnplug.contract.hookspecs import hookimpl
        from nnplug.contract.kinds import Layer

        class MySwish(Layer):
            name = "my_swish"
            description = "x * sigmoid(x)"

            def forward(self, x, params, mode):
                s = 1 / (1 + np.exp(-x))
                return x * s, (x, s)

            def backward(self, dout, cache):
                x, s = cache
                return dout * (s + x * s * (1 - s)), {}

        @hookimpl
        def nnplug_layers():
            return [MySwish]
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(modules=["my_layers"])
    cfg = composed("layer.block=[affine,my_swish]", "solver.num_epochs=2", "solver.verbose=false",
                   "tracking.diagnostics=false", f"tracking.uri={fresh_store}")

    result = experiment.run(cfg, output_dir=tmp_path / "run", cwd=tmp_path, registry=registry)

    assert result.name == "digits:affine-my_swish:sgd_momentum"
    assert result.best_val_acc > 0.5
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=result.tracking_uri).get_run(result.run_id)
    assert "nnplug.plugin.layers.my_swish" in run.data.tags
    assert run.data.params["layer.block"] == "['affine', 'my_swish']"


def test_params_are_the_config_flattened_with_lists_whole():
    assert flatten({"optim": {"name": "adam", "learning_rate": 1e-3},
                               "layer": {"block": ["affine", "relu"], "options": {"leaky_relu": {"alpha": 0.1}}},
                               "tracking": {"uri": None}}) == {
        "optim.name": "adam", "optim.learning_rate": 1e-3, "layer.block": ["affine", "relu"],
        "layer.options.leaky_relu.alpha": 0.1, "tracking.uri": None}


def test_a_launcher_or_sweeper_of_the_sweep_extra_that_is_not_installed_names_the_extra():
    from hydra.errors import MissingConfigException

    # what Hydra raises for hydra/launcher=joblib where hydra-joblib-launcher is not installed
    error = MissingConfigException("Could not find 'hydra/launcher/joblib'", "hydra/launcher/joblib", ["basic"])

    assert hydra_one_line(error) == ("hydra/launcher=joblib: no such option in group 'hydra/launcher' (available: "
                                     "basic); it comes with nnplug's sweep extra: pip install 'nnplug[sweep]'")
    assert "sweep extra" not in problems("optim=adma")[0]
