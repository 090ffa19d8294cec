"""
Title: The same autoencoder under other losses
Source: "Building Autoencoders in Keras" (F. Chollet, blog.keras.io): every section trains with
    per-pixel binary cross-entropy; this script keeps a section's model and protocol and changes
    only the loss
Description: Trains one of the post's models (the simple one by default) once per loss (binary
    cross-entropy, squared and absolute error, Huber, the continuous Bernoulli likelihood, SSIM
    and MS-SSIM + L1), then measures the reconstructions of every run on the same test images,
    with the error on midtone pixels (neither near black nor near white) singled out.
Expected result: the post has no number for this; it uses BCE throughout. The script prints each
    loss's midtone RMSE and writes an HTML report with the full comparison. On MNIST, whose pixels
    are mostly exact black or white, few pixels are midtones; Fashion-MNIST (--dataset
    fashion_mnist) has many more. Run with --quick for a check on synthetic images (a few epochs per loss).
"""

"""
## Setup
"""

import hashlib
import os
import sys

import common
from replicate import analysis, config, data, fileio, sweep, tutorial, vocabulary

args = common.parse_args("Train one of the post's models under every loss and compare the reconstructions.",
                         loss_comparison=True)

"""
## The model

The chosen model as the package builds it, shown by its summary. For the post's six models,
`models.build` returns the layers their section's script writes out (a test checks that they
are equal). Keras is loaded on the backend the sweep trains this model on.
"""

os.environ["KERAS_BACKEND"] = config.backend_for(args.model)
from replicate import models  # noqa: E402  (Keras loads here, on that backend)

models.build(args.model).autoencoder.summary()

"""
## The sweep

A sweep is a list of runs, one per loss and seed. It starts from the package's `quick` profile
and keeps its bookkeeping, with this script's choices written over it: the chosen model, the
losses, the dataset, and by default the post's epochs on all 60,000 training images. All losses
of one seed start from the same initial weights and see the batches in the same order, so any
difference between them comes from the loss alone. Each run is its section's `compile` and
`fit` with another loss, `compile(optimizer=..., loss=losses.ReconstructionLoss(key))`; the
losses of one seed train side by side in one Keras model, each as it would alone. A run stops
early once its validation loss has converged.
"""

proto = tutorial.PROTOCOLS[vocabulary.model(args.model).post_model]
epochs = common.epochs_of(args, args.model)
train_limit = common.QUICK_TRAIN if args.quick else data.SIZES["train"]
test_limit = common.QUICK_TEST if args.quick else data.SIZES["test"]
losses = list(dict.fromkeys(["bce", *args.losses]))
plan = config.override(config.profile("quick"), dataset=args.dataset, models=[args.model], losses=losses,
                        seeds=range(args.seed, args.seed + args.seeds), epochs=epochs,
                        train_limit=train_limit, test_limit=test_limit)
if args.quick:
    print(f"QUICK MODE: {common.plural(epochs, 'epoch')} per loss on {train_limit} {args.dataset} images "
          f"({test_limit} for validation). This checks that the script runs; its numbers say nothing "
          f"about the losses.\n"
          f"The full run (no --quick) trains {proto.epochs} epochs per loss on {common.FULL_SIZES} of MNIST.")

# The sweep's settings are part of the folder name (the losses as a digest), so a finished run is only
# reused by the same sweep, and another choice of losses or seeds goes to a folder of its own.
chosen = hashlib.sha256(",".join(losses).encode()).hexdigest()[:8]
sweep_dir = args.out / "runs" / (f"loss_comparison_{args.model}_{args.dataset}_{epochs}ep_{train_limit}_"
                                 f"seeds{args.seed}-{args.seed + args.seeds - 1}_losses-{chosen}")
print(f"{len(plan.runs())} runs of {args.model} ({', '.join(losses)}) into {sweep_dir}")
with common.exit_on_data_error(OSError, sweep.WorkerError):  # a full disk, say, or the other backend's process
    counts = sweep.run_sweep(plan, sweep_dir, data_dir=args.data_dir, argv=sys.argv)
if not counts["usable"]:  # the same command would only reuse them: more epochs make new runs, in a new folder
    print(f"error: none of the {counts['runs']} runs is usable ({counts['failed']} failed, {counts['screened']} "
          f"screened out; their status.json says why), so there is nothing to compare. Train longer "
          f"(--epochs more than {epochs}).", file=sys.stderr)
    sys.exit(2)
if counts["failed"] or counts["screened"]:
    print(f"{counts['failed']} run(s) failed and {counts['screened']} were screened out; their status.json says "
          "why. The others are compared below.", file=sys.stderr)

"""
## Measuring the reconstructions

`analysis.evaluate_sweep` computes every run's image metrics against the clean test images and
writes `results.json`. Its `aggregates` hold, per loss, the mean over seeds of each metric. The
one printed here is the RMSE on midtone target pixels, where binary cross-entropy is said to blur.
"""

with common.exit_on_data_error(analysis.ArtifactError):  # a damaged run's artifacts, as `replicate evaluate` says
    results = fileio.read_json(analysis.evaluate_sweep(sweep_dir))
rows = {a["loss"]: a for a in results["aggregates"] if a["model"] == args.model and a["dataset"] == args.dataset}
bce_mid = rows["bce"]["metrics"]["rmse_midtone"]["mean"] if "bce" in rows else None
print(f"Midtone RMSE per loss ({args.model}, {args.dataset}, {common.plural(epochs, 'epoch')}, the mean over each "
      "loss's usable seeds):")
for loss in losses:
    if loss not in rows:
        screened = sum(m["model"] == args.model and m["loss"] == loss for m in results["screened"])
        print(f"  {loss:22s} no usable run" + (f" ({screened} screened out)" if screened else ""))
        continue
    mid = rows[loss]["metrics"]["rmse_midtone"]["mean"]
    versus = f"  ({mid - bce_mid:+.4f} vs bce)" if bce_mid is not None and loss != "bce" else ""
    print(f"  {loss:22s} {mid:.4f} over {common.plural(len(rows[loss]['seeds']), 'seed')}{versus}")

"""
## The report

The HTML report puts the numbers beside confidence intervals, the theory and a gallery of
reconstructions. It is one self-contained file.
"""

from replicate import report
from replicate.report import answer, view

for verdict in results.get("verdicts", []):  # BCE against MSE, in the report's words
    if verdict.get("model") == args.model:
        print(answer.sentence(view.Results(results), verdict))
html = report.write_report(sweep_dir, args.out / f"07_loss_comparison_{args.model}_{args.dataset}.html")
print(f"Report: {html}")
