"""Every definition the numbers of ``results.json`` depend on, written beside them (the report states them)."""
from __future__ import annotations

from dataclasses import asdict

from replicate import config, metrics, vocabulary
from replicate.analysis import learning, replication, screening, stats


def methods(sweep_config: dict) -> dict:
    """The methods block of ``results.json`` for a sweep with this configuration."""
    endpoint = sweep_config.get("endpoint") or "rmse_midtone"
    margin = sweep_config.get("margin") or config.DEFAULT_MARGIN
    return {
        "metrics_version": metrics.METRICS_VERSION,
        "ssim": {"headline": {"name": "ssim", **metrics.WANG_SSIM, "window": "11x11 Gaussian (truncate 3.5)",
                              "source": "Wang et al., IEEE TIP 13(4):600-612, 2004"},
                 "secondary": {"name": "ssim_skimage", **metrics.SKIMAGE_SSIM,
                               "window": "7x7 uniform, sample covariance (scikit-image defaults)"},
                 "averaging": f"SSIM map averaged after cropping a {metrics.WANG_CROP}-pixel border (scikit-image)",
                 "ssim_midtone": "Wang SSIM map averaged over midtone target pixels inside the same cropped region; "
                                 "run level pooled over all such pixels"},
        "psnr": {"data_range": 1.0, "psnr_mean_of_images": "mean over images of per-image PSNR",
                 "psnr_of_mean_mse": "10 log10(1 / mean over images of MSE)"},
        "bands": [asdict(b) for b in metrics.BANDS],
        "extreme_bands": list(metrics.EXTREME_BANDS),
        "extreme_groups": {k: list(v) for k, v in metrics.EXTREME_GROUPS.items()},
        "fine_edges": metrics.FINE_EDGES.tolist(),
        "band_statistics": "RMSE and bias (recon - target) pooled over every pixel of the band in the run",
        "edge_transfer": ("sum over pixels of grad(recon) . grad(target) / sum of |grad(target)|^2 (central "
                          "differences, as numpy.gradient), pooled over the run: the least-squares slope of the "
                          "reconstruction's gradients on the target's. 1 = every edge kept, below 1 = blurred; "
                          "noise independent of the target adds nothing on average, unlike a gradient-magnitude "
                          "ratio. Midtone: over midtone target pixels whose 3 x 3 neighbourhood holds no background "
                          "(exact 0), i.e. the inside of shapes (garments, digits), not their outlines. Related to "
                          "the edge preservation index commonly attributed to Sattar et al. (IEEE TIP 6(6):888-895, "
                          "1997), a correlation of high-passed images that noise lowers; this is a regression slope "
                          "instead."),
        "sharpness": "sum of gradient magnitude (central differences) of recon / of target, pooled over the run's "
                     "pixels (midtone: over midtone target pixels); 1 = as sharp, < 1 blurrier; noise raises it, so "
                     "it is shown for continuity only",
        "hf_energy_ratio": f"power-spectrum energy above {metrics.HF_CUTOFF} cycles/pixel, recon / target, pooled",
        "bce_kl": "mean over pixels of KL(Bern(a) || Bern(x)) in nats, x clipped to [1e-7, 1 - 1e-7]",
        "confidence": stats.CONFIDENCE,
        "alpha": stats.ALPHA,
        "settled": {"threshold": learning.threshold(sweep_config),
                    "rule": ("a model and loss's learning curves count as settled when their runs' mean last-epoch "
                             "improvement of the best validation-loss excess over the loss's floor (the convergence "
                             "rule's measure) is below the threshold, min_improvement. It is one epoch's gain, "
                             "averaged over seeds, and descriptive; the convergence rule itself needs patience epochs "
                             "in a row, and the runs that met it are counted per model and loss")},
        "screening": {"min_output_std_ratio": screening.SCREEN_MIN_STD_RATIO,
                      "max_mse_to_constant": screening.SCREEN_MAX_MSE_RATIO,
                      "rule": ("a run is screened out as collapsed when the standard deviation of its output pixels "
                               f"is below {100 * screening.SCREEN_MIN_STD_RATIO:g} % of the targets', or when its "
                               f"MSE is at least {screening.SCREEN_MAX_MSE_RATIO:g} times that of the targets' mean "
                               "image (the best output that ignores the input); as diverged when its output is not "
                               "finite. Screened-out runs are left out of every mean, interval and test, and listed.")},
        "convergence_rule": {"patience": sweep_config.get("patience"),
                             "min_improvement": sweep_config.get("min_improvement"),
                             "rule": ("a run stops at the first epoch after which the best validation-loss excess "
                                      "over the loss's floor improved by less than min_improvement (relative) in "
                                      "each of the last patience epochs, or at the profile's epoch cap. Floors: the "
                                      "targets' mean entropy for BCE, 0 for losses that vanish at a perfect "
                                      "reconstruction, and for the continuous Bernoulli its least negative "
                                      "log-density (at 8-bit resolution at exact 0 and 1, where it is unbounded).")},
        "saturation": {"images": config.SATURATION_IMAGES, "logit": config.SATURATION_LOGIT,
                       "rule": (f"after every epoch, on the first {config.SATURATION_IMAGES} test images: the share of "
                                f"output pixels with |logit| > {config.SATURATION_LOGIT:g} and the output more than "
                                "0.5 away from the target")},
        "seed_aggregation": "mean, sample std (ddof 1) and Student-t 95% CI over per-seed run values",
        "primary_endpoint": {
            "metric": endpoint, "compared": f"{vocabulary.BASELINE} - {vocabulary.COMPARATOR}, paired by seed",
            "margin": margin,
            "rule": (f"per model, the paired t-test of BCE - MSE on {endpoint} and the two one-sided tests (TOST) of "
                     f"equivalence within +-{100 * margin:g} % of MSE's mean; both families Holm-corrected across "
                     f"the models whose verdict counts, at alpha = {stats.ALPHA}. Equivalent where the TOST rejects; "
                     "else worse or better where the t-test rejects; else inconclusive. Where a model is trained "
                     "both with the post's penalty and with it rescaled, the rescaled one carries the verdict and "
                     "the other is a sensitivity check (same tests, no correction). Fixed in sweep.json before any "
                     "run."),
        },
        "secondary": ("edge transfer, midtone/extreme RMSE ratios and SSIM, BCE - MSE paired by seed with "
                      "uncorrected 95% CIs: descriptive, no verdict"),
        "paired_secondary": "image level: per seed, paired t over test images; pooled, Wilcoxon signed-rank over "
                            "each image's difference averaged over seeds (zeros dropped)",
        "penalty_rescaling": ("for the *_rescaled models, the model's own penalty (sparse L1, VAE KL) is multiplied "
                              "by the loss's curvature at mid-grey relative to BCE's (MSE: 2 / 4 = 0.5), so the "
                              "penalty trades off against every loss as the post's does against BCE"),
        "theory_checks": ("for each loss and extreme group (exact 0, open extremes, exact 1): the frequency-weighted "
                          "mean of 2 (L(a, a +- e) - L_min(a)) / e^2 over the group's 8-bit levels at the group's "
                          "measured RMSE e, over the same at the midtones; a loss whose value is below BCE's predicts "
                          "a smaller midtone/group RMSE ratio than BCE's. MAE, Huber beyond its delta and the image "
                          "losses make no prediction."),
        "factorial": ("effects on the four cells per seed: weighting = ((BCE - BCE with MSE's weighting) + (MSE with "
                      "BCE's weighting - MSE)) / 2; saturation = ((BCE - MSE with BCE's weighting) + (BCE with MSE's "
                      "weighting - MSE)) / 2 (so weighting + saturation = BCE - MSE); interaction = (BCE - BCE with "
                      "MSE's weighting) - (MSE with BCE's weighting - MSE); t-intervals over seeds. Where the gap's "
                      "interval excludes 0, the conclusion names a factor whose effect's interval excludes 0: as a "
                      "cause where it has the gap's sign, as opposing it otherwise; but not a factor whose two simple "
                      "effects (weighting: BCE - BCE with MSE's weighting, and MSE with BCE's weighting - MSE; "
                      "saturation: BCE - MSE with BCE's weighting, and BCE with MSE's weighting - MSE) both exclude 0 "
                      "on opposite sides, which has no direction of its own. a(1 - a) is "
                      f"floored at {vocabulary.WEIGHT_FLOOR:.6f} (its value at the first 8-bit level)."),
        "replication_tolerance": (f"|measured mean - reported| <= {replication.REPLICATION_TOLERANCE} (absolute), "
                                  f"for profiles {', '.join(replication.PROTOCOL_PROFILES)} on "
                                  f"{' or '.join(replication.MNIST_SETS)}"),
    }
