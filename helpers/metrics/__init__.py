"""Metrics of predictions, below training and analysis (``helpers.train`` scores each fold with them, 06 and
the book recompute them from the saved artifacts):

- ``evaluate``: predictions tables -> frame, video and paired metrics; fold tables; mean ± std over folds;
- ``challenge``: the ChaLearn 2017 metrics by name (challenge accuracy per video with its exact interval,
  paired accuracy with pairs known or found) and the challenge's prediction file;
- ``scoring``: how one video and one pair are scored (the item-level truth every metric of 06 averages).

Import the module you need (``from helpers.metrics import evaluate``).
"""
