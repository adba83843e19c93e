"""What a logged model's folder may hold: text, JSON, YAML and npz archives of .npy and .json members."""
import json
import zipfile

import numpy as np
import yaml


def assert_no_pickle(folder):
    """Open every file under ``folder`` as what its name says it is; returns their relative paths.

    A pickle fails: it does not decode as text, and an .npz member that needs one does not load
    with ``allow_pickle=False``.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    with archive.open(member) as f:
                        if member.endswith(".npy"):
                            assert np.lib.format.read_array(f, allow_pickle=False).dtype != object, member
                        else:
                            assert member.endswith(".json"), f"{path}: {member}"
                            json.load(f)
            continue
        assert path.suffix in ("", ".json", ".yaml", ".txt"), path  # MLmodel has no suffix
        text = path.read_bytes().decode("utf-8")
        if path.suffix == ".json":
            json.loads(text)
        elif path.suffix != ".txt":
            yaml.safe_load(text)  # MLmodel, conda.yaml, python_env.yaml
    return [p.relative_to(folder).as_posix() for p in files]
