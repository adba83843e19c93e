"""The config schema: Hydra structured configs for the sections whose keys are fixed.

Hydra checks types and enum values while it composes (``solver.batch_size=abc`` or
``solver.lr_schedule=linear`` never reach nnplug); ranges, which OmegaConf does not know, are
declared beside each field (``metadata``) and checked by ``range_problems``. The sections that
plugins shape (``data``, ``layer``, ``loss``, ``optim``) are checked against the registry by
``nnplug.app.validate``, because their keys are the plugins' options.

The ``model`` section is open: besides the fields of ``ModelConfig`` an architecture's file
declares its own knobs (``width``, ``depth``) that its ``layers`` list refers to by
interpolation, so it is no structured config; ``nnplug.app.validate`` checks its fields' types
with ``field_problems`` and its layers against the registry. Hydra still refuses a knob the
file does not declare.

Each schema is stored in Hydra's ConfigStore as ``schema`` of its group, and the group's YAML
options name it first in their defaults list (``defaults: [schema, _self_]``).
"""
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


class Init(Enum):
    gaussian = "gaussian"  # weight_scale * N(0, 1)
    he = "he"
    xavier = "xavier"
    small = "small"  # sqrt(1 / (3 fan_in)): the variance of PyTorch's default nn.Linear and nn.Conv2d


class DType(Enum):
    float32 = "float32"
    float64 = "float64"


class Schedule(Enum):
    exponential = "exponential"
    step = "step"
    cosine = "cosine"
    linear = "linear"  # per step: warm-up, then decay to lr_min


class Average(Enum):
    none = "none"
    ema = "ema"
    lookahead = "lookahead"


class Sampling(Enum):
    replacement = "replacement"  # CS231n's: each minibatch drawn with replacement
    shuffle = "shuffle"  # each epoch a fresh permutation, cut into batches


class TTA(Enum):
    none = "none"
    flip = "flip"  # the image and its mirror
    flip_shift = "flip_shift"  # and both shifted by one pixel either way


def bounded(default, *, minimum=None, above=None, below=None, at_most=None):
    """A dataclass field with a range: ``minimum`` <= v, ``above`` < v, v < ``below``, v <= ``at_most``
    (list items each)."""
    factory = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(**factory, metadata={"minimum": minimum, "above": above, "below": below, "at_most": at_most})


def nonempty(default):
    """A string field that must not be empty."""
    return field(default=default, metadata={"nonempty": True})


@dataclass
class ModelConfig:
    name: str = nonempty("mlp")  # names the architecture in run names and tags
    layers: Optional[List[Any]] = None  # a layer list (nnplug.core.layer_plan); null: the MLP below
    blocks: Optional[Dict[str, Any]] = None  # layer lists used by name in `layers` (nnplug.core.layer_plan)
    hidden_dims: List[int] = bounded([100, 100], minimum=1)  # the MLP: layer.block once per width
    dropout: float = bounded(0.0, minimum=0, below=1)  # the MLP: dropout ending each block
    init: Init = Init.he
    weight_scale: float = bounded(1e-2, above=0)
    reg: float = bounded(0.0, minimum=0)
    dtype: DType = DType.float32
    seed: Optional[int] = bounded(0, minimum=0)
    fuse: bool = True  # layers that offer it run fused (the same model, fewer passes)
    init_from: Optional[str] = nonempty(None)  # a logged model's URI (nnplug.app.run_model.start_from)


@dataclass
class SolverConfig:
    num_epochs: int = bounded(10, minimum=0)
    batch_size: int = bounded(100, minimum=1)
    sampling: Sampling = Sampling.replacement
    micro_batch: Optional[int] = bounded(None, minimum=1)  # rows per forward/backward pass; null: the batch
    lr_schedule: Schedule = Schedule.exponential
    lr_decay: float = bounded(1.0, above=0)
    lr_step_size: int = bounded(1, minimum=1)
    lr_gamma: float = bounded(0.1, above=0)
    lr_min: float = bounded(0.0, minimum=0)
    lr_warmup: float = bounded(0.0, minimum=0, below=1)
    lr_warmup_start: float = bounded(0.0, minimum=0)
    average: Average = Average.none
    average_decay: float = bounded(0.99, minimum=0, at_most=1)
    average_every: int = bounded(1, minimum=1)
    average_ramp: float = bounded(0.0, minimum=0)
    tta: TTA = TTA.none  # the test split scored with test-time augmentation too: test_acc_tta
    num_train_samples: Optional[int] = bounded(1000, minimum=1)
    num_val_samples: Optional[int] = bounded(None, minimum=1)
    print_every: int = bounded(10, minimum=1)
    verbose: bool = True
    seed: Optional[int] = bounded(None, minimum=0)
    checkpoint: bool = True
    resume: bool = False
    param_groups: Optional[List[Any]] = None  # learning-rate multipliers, decay, freezing (nnplug.core.param_groups)


@dataclass
class TrackingConfig:
    uri: Optional[str] = None
    experiment: str = nonempty("nnplug")
    log_every_n_steps: int = bounded(10, minimum=1)
    register: Optional[str] = nonempty(None)  # a registered model name the run's (a sweep's best) model joins
    diagnostics: bool = True  # per-layer training diagnostics (nnplug.core.diagnostics)


SCHEMAS = {"solver": SolverConfig, "tracking": TrackingConfig}


def register():
    """Store the schemas in Hydra's ConfigStore (idempotent); call before Hydra composes."""
    store = ConfigStore.instance()
    for group, schema in SCHEMAS.items():
        store.store(group=group, name="schema", node=schema)


def keys(schema):
    """The keys a section of ``schema`` may have, in order."""
    return [f.name for f in fields(schema)]


def range_problems(section, schema, prefix):
    """One line per value of ``section`` (a plain dict) outside its field's declared range."""
    problems = []
    for f in fields(schema):
        value = section.get(f.name)
        if f.metadata.get("nonempty") and value == "":
            problems.append(f"{prefix}.{f.name}='': expected a non-empty string")
        if value is None or isinstance(value, (bool, str, Enum)) or "minimum" not in f.metadata:
            continue
        if not all(_within(v, **f.metadata) for v in (value if isinstance(value, list) else [value])):
            problems.append(f"{prefix}.{f.name}={value!r}: expected {_kind(f.type)} {_allowed(**f.metadata)}")
    return problems


def _kind(annotation):
    text = str(annotation)
    if "List" in text or "list" in text:
        return "a list of whole numbers" if "int" in text else "a list of numbers"
    kind = "a whole number" if "int" in text else "a number"
    return f"null or {kind}" if "Optional" in text else kind


def _within(v, minimum=None, above=None, below=None, at_most=None):
    return ((minimum is None or v >= minimum) and (above is None or v > above)
            and (below is None or v < below) and (at_most is None or v <= at_most))


def _allowed(minimum=None, above=None, below=None, at_most=None):
    bounds = [f">= {minimum}" if minimum is not None else None, f"> {above}" if above is not None else None,
              f"< {below}" if below is not None else None, f"<= {at_most}" if at_most is not None else None]
    return " and ".join(b for b in bounds if b)


def field_problems(section, schema, prefix):
    """What Hydra checks for a structured config, for a section that is not one: each value of a
    field of ``schema`` has the field's type or enum value; then ``range_problems``."""
    problems = []
    for f in fields(schema):
        if f.name not in section:
            continue
        value, text = section[f.name], str(f.type)
        if isinstance(f.type, type) and issubclass(f.type, Enum):
            if value not in [e.value for e in f.type]:
                problems.append(f"{prefix}.{f.name}={value!r}: expected one of "
                                f"{', '.join(e.value for e in f.type)}")
        elif value is None:
            if "Optional" not in text:
                problems.append(f"{prefix}.{f.name}: expected a value, not null")
        elif "Dict" in text:
            if not isinstance(value, dict):
                problems.append(f"{prefix}.{f.name}={value!r}: expected a mapping")
        elif "List" in text:
            whole = "int" in text
            if not isinstance(value, list) or "Any" not in text and not all(_fits(v, whole) for v in value):
                problems.append(f"{prefix}.{f.name}={value!r}: expected {_kind(f.type)}")
        elif f.type in (int, float, Optional[int]) and not _fits(value, "int" in text):
            problems.append(f"{prefix}.{f.name}={value!r}: expected {_kind(f.type)}")
        elif f.type is bool and not isinstance(value, bool):
            problems.append(f"{prefix}.{f.name}={value!r}: expected true or false")
        elif f.type is str and not isinstance(value, str):
            problems.append(f"{prefix}.{f.name}={value!r}: expected a string")
    return problems or range_problems(section, schema, prefix)


def _fits(value, whole):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if whole else True
