"""Analysis of trained runs, from their artifacts alone (nothing here trains):

- ``evaluate``: predictions tables -> frame, video and paired metrics; fold tables; mean ± std over folds;
- ``compare``: every approach side by side (notebook 06): the paired protocol, tests, ensembles;
- ``inference``: score a new video with the kept weights of a trained run;
- ``widgets``: the prediction inspector and "analyse your own video" panels.

Import the module you need (``from helpers.analysis import evaluate``): this package imports none of them
itself, because ``evaluate`` is used by the training runner while ``inference`` uses the approaches.
"""
