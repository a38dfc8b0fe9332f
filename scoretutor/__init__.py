"""scoretutor: a course in score-based conditional density estimation, worked through
*Video prediction using score-based conditional density estimation* (Fiquet & Simoncelli).

Modules, in the order the chapters teach them (the README's layout table is the full map):

* :mod:`scoretutor.runtime` – seeding, device choice, the quick/full profile switch (chapter 1)
* :mod:`scoretutor.exercises` – automatic checks for the exercises (chapter 1 on)
* :mod:`scoretutor.widgets` – interactive figures that degrade to static ones headless (chapter 1)
* :mod:`scoretutor.toy` – one-dimensional priors, Tweedie denoising and the 1-D sampler (chapters 1–2)
* :mod:`scoretutor.schedule` – the sampler's schedule: step sizes and injected noise (chapters 2 and 6)
* :mod:`scoretutor.data` – what the networks are fed: Moving Leaves, collision-course probes and frame
  pairs (chapter 3), the training sources (chapter 5), DAVIS32 and its download (chapter 7)
* :mod:`scoretutor.unet`, :mod:`scoretutor.linearity` – the conditional bias-free U-net and its local
  linearity (chapter 4)
* :mod:`scoretutor.training`, :mod:`scoretutor.metrics`, :mod:`scoretutor.checkpoints`,
  :mod:`scoretutor.cards` – learning the score by denoising, PSNR, shipped networks and their model
  cards (chapter 5)
* :mod:`scoretutor.sampling`, :mod:`scoretutor.psychometric` – the conditional sampler and the
  psychometric curve of occlusion order (chapter 6)
* :mod:`scoretutor.baselines` – classical next-frame predictors (chapter 7)

Machinery that no chapter teaches: :mod:`scoretutor.cli` (the command line), :mod:`scoretutor.run_record`
(a training run's folder, resume and provenance), :mod:`scoretutor.atomic` (atomic file writes) and
:mod:`scoretutor.checks` (argument checks).
"""

__version__ = "0.1.0"
