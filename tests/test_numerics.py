"""The GPU settings that replicate.numerics puts in the environment: added where the user set none, the user's
kept, in force in a process that imports replicate (even after JAX), recorded in the provenance, and without
effect on what a CPU computes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from replicate import numerics, provenance

ROOT = Path(__file__).resolve().parent.parent
OURS = ("XLA_FLAGS", "JAX_DEFAULT_MATMUL_PRECISION", "KERAS_BACKEND")
#: JAX's own defaults, named explicitly so that replicate keeps them.
JAX_DEFAULTS = {"XLA_FLAGS": "--xla_gpu_deterministic_ops=false", "JAX_DEFAULT_MATMUL_PRECISION": "default"}


def _environment(**changes: str) -> dict:
    """This process's environment without the settings under test (nor a backend), with ``changes``."""
    return {**{k: v for k, v in os.environ.items() if k not in OURS}, **changes}


def test_the_deterministic_ops_and_float32_products_are_added_where_the_user_set_neither():
    env = {}
    numerics.install(env)
    assert env == {"XLA_FLAGS": "--xla_gpu_deterministic_ops=true", "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
    numerics.install(env)  # twice (a child process imports replicate again): the flag is not repeated
    assert env["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"


def test_the_users_flags_are_kept_and_their_own_choice_wins():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_DEFAULT_MATMUL_PRECISION": "default"}
    numerics.install(env)
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true"
    assert env["JAX_DEFAULT_MATMUL_PRECISION"] == "default"
    for theirs in ("--xla_gpu_deterministic_ops=false", "--a=1  --xla_gpu_deterministic_ops",
                   "--xla_gpu_deterministic_ops false"):
        env = {"XLA_FLAGS": theirs}
        numerics.install(env)
        assert env["XLA_FLAGS"] == theirs
    env = {"XLA_FLAGS": "--xla_gpu_deterministic_ops_other=1"}  # another flag whose name starts the same
    numerics.install(env)
    assert env["XLA_FLAGS"] == "--xla_gpu_deterministic_ops_other=1 --xla_gpu_deterministic_ops=true"


def _python(code: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)


def _output(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    return out.strip().splitlines()[-1]


def test_a_process_that_imports_replicate_computes_with_them_even_when_it_loaded_jax_first():
    """JAX's own precision is what a computation uses; the provenance reports it. A process that imported JAX
    first still gets the precision (its XLA flags are then as it started)."""
    base = _environment(KERAS_BACKEND="jax")  # no TensorFlow
    report = ("import jax, json; from replicate import numerics, provenance; "
              "print(json.dumps([jax.config.jax_default_matmul_precision, provenance.collect([])['numerics']]))")
    started = {"replicate first": _python("import replicate; " + report, base),
               "jax first": _python("import jax; import replicate; " + report, base),
               "the user's": _python(report, {**base, "JAX_DEFAULT_MATMUL_PRECISION": "bfloat16"})}
    seen = {name: json.loads(_output(p)) for name, p in started.items()}
    flags = "--xla_gpu_deterministic_ops=true"
    assert seen["replicate first"] == ["highest", {"XLA_FLAGS": flags, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}]
    assert seen["jax first"] == seen["replicate first"]
    assert seen["the user's"] == ["bfloat16", {"XLA_FLAGS": flags, "JAX_DEFAULT_MATMUL_PRECISION": "bfloat16"}]


def test_tensorflow_gets_its_float32_products_in_float32_from_the_runners_seeding():
    """TensorFlow's half of the settings: TensorFlow runs float32 products as TF32 on GPUs that have it unless told
    not to, and the runner's seeding tells it (this process trains on TensorFlow, as the suite does)."""
    import keras
    import tensorflow as tf

    from replicate import train

    assert keras.backend.backend() == "tensorflow"
    train.seed_everything(0)
    assert not tf.config.experimental.tensor_float_32_execution_enabled()


#: A few gradient steps of a dense and a convolutional layer, at the precision and flags the process was given.
_STEPS = """
import hashlib, json, os, jax, jax.numpy as jnp, numpy as np
import replicate
rng = np.random.default_rng(0)
x = jnp.asarray(rng.random((64, 28, 28, 1), dtype=np.float32))
params = [jnp.asarray(rng.normal(0, 0.05, (784, 32)).astype(np.float32)),
          jnp.asarray(rng.normal(0, 0.2, (3, 3, 1, 8)).astype(np.float32))]
def loss(p):
    code = jax.nn.relu(x.reshape(64, 784) @ p[0])
    dense = jax.nn.sigmoid(code @ p[0].T).reshape(x.shape)
    conv = jax.lax.conv_general_dilated(x, p[1], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.mean((dense - x) ** 2) + jnp.mean(conv ** 2)
step = jax.jit(lambda p: [w - 0.5 * g for w, g in zip(p, jax.grad(loss)(p))])
for _ in range(5):
    params = step(params)
digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in params)).hexdigest()
print(json.dumps([digest, jax.config.jax_default_matmul_precision, os.environ["XLA_FLAGS"]]))
"""


def test_on_a_cpu_the_settings_change_no_number():
    """Dense and convolutional gradient steps with the settings and with JAX's own defaults: the same weights, bit
    for bit (a sweep made before the settings existed regenerates unchanged; the slow test below trains a model)."""
    ours, theirs = _python(_STEPS, _environment()), _python(_STEPS, _environment(**JAX_DEFAULTS))
    ours, theirs = json.loads(_output(ours)), json.loads(_output(theirs))
    assert ours[1:] == ["highest", "--xla_gpu_deterministic_ops=true"]  # each ran with what it was given
    assert theirs[1:] == ["default", "--xla_gpu_deterministic_ops=false"]
    assert ours[0] == theirs[0]


def _train(tmp_path: Path, name: str, env: dict) -> subprocess.Popen:
    code = ("from replicate import cli; import sys; "
            f"sys.exit(cli.main(['run', '--profile', 'smoke', '--models', 'deep', '--losses', 'mse', '--epochs', '2', "
            f"'--backend', 'jax', '--train-limit', '512', '--test-limit', '64', '--out', {str(tmp_path / name)!r}, "
            "'--no-report']) % 100)")  # 100 + n: a run screened out after so few steps is still compared
    return _python(code, env)


@pytest.mark.slow
def test_on_a_cpu_a_run_trained_with_the_settings_equals_one_trained_without(tmp_path):
    started = {"ours": _train(tmp_path, "ours", _environment()),
               "theirs": _train(tmp_path, "theirs", _environment(**JAX_DEFAULTS))}
    seen = {}
    for name, process in started.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, 1), err[-2000:]
        run = tmp_path / name / "synthetic/deep/mse/seed0"
        precision = json.loads((tmp_path / name / "provenance.json").read_text())["numerics"]
        seen[name] = (json.loads((run / "history.json").read_text())["val_loss"],
                      np.load(run / "reconstructions.npz")["recon"], precision["JAX_DEFAULT_MATMUL_PRECISION"])
    assert (seen["ours"][2], seen["theirs"][2]) == ("highest", "default")
    assert seen["ours"][0] == seen["theirs"][0] and len(seen["ours"][0]) == 2
    assert np.array_equal(seen["ours"][1], seen["theirs"][1])
