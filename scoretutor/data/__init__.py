"""What the networks are fed (chapters 3, 5 and 7): the data wing of the library.

* :mod:`scoretutor.data.leaves` – Moving Leaves, the procedural occlusion video (chapter 3);
* :mod:`scoretutor.data.probes` – collision-course probes and the reading of which disk a frame puts in
  front (chapter 3, used in chapter 6);
* :mod:`scoretutor.data.pairs` – (past frames, next frame) pairs of a set of sequences (chapter 3);
* :mod:`scoretutor.data.davis` – DAVIS32 natural-video clips (chapter 7), and
  :mod:`scoretutor.data.download` – fetching DAVIS-2017 for it;
* :mod:`scoretutor.data.sources` – the training sources that feed :func:`scoretutor.training.train`
  epoch by epoch (chapter 5).

Nothing is imported here: ``import scoretutor.data.leaves`` loads Moving Leaves alone.
"""
