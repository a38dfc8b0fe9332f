"""scoretutor: a course in score-based conditional density estimation, worked through
*Video prediction using score-based conditional density estimation* (Fiquet & Simoncelli).

Modules, in the order the chapters teach them:

* :mod:`scoretutor.config` – seeding, device choice, the quick/full profile switch
* :mod:`scoretutor.exercises` – automatic checks for the exercises
* :mod:`scoretutor.widgets` – interactive figures that degrade to static ones headless
* :mod:`scoretutor.toy` – one-dimensional priors, Tweedie denoising and the 1-D sampler (chapters 1–2)
* :mod:`scoretutor.sampling` – the coarse-to-fine stochastic sampler: its schedule (chapter 2) and the
  batched conditional sampler and recursive roll-out for video frames (chapter 6)
* :mod:`scoretutor.leaves`, :mod:`scoretutor.probes`, :mod:`scoretutor.datasets` – Moving Leaves (chapter 3)
* :mod:`scoretutor.unet`, :mod:`scoretutor.training`, :mod:`scoretutor.checkpoints`, :mod:`scoretutor.metrics`
  – the conditional bias-free U-net and its training (chapters 4–5)
* :mod:`scoretutor.davis`, :mod:`scoretutor.download` – DAVIS32 natural video clips (chapter 7)
* :mod:`scoretutor.baselines` – classical next-frame predictors: copy the last frame, linear
  extrapolation, block-matching motion compensation (chapter 7; the SSIM is in :mod:`scoretutor.metrics`)
* :mod:`scoretutor.files` – atomic file writes used by every writer
"""

__version__ = "0.1.0"
