"""Analysis of trained runs, from their artifacts alone (nothing here trains):

- ``compare``: every approach side by side (notebook 06): challenge accuracy and paired accuracy by name, tests, ensembles;
- ``stats``: intervals and tests that resample subjects; ``ensembles``: combining the approaches' models;
- ``selection``: the configuration of each approach chosen on validation subjects;
- ``inference``: score a new video with the kept weights of a trained run;
- ``widgets``: the prediction inspector and "analyse your own video" panels;
- ``presentation``: short model names, tables for the book, tables and figures saved for a thesis.

The metrics themselves (``evaluate``, ``scoring``) live in ``helpers.metrics``, below training, which scores
each fold with them. Import the module you need (``from helpers.analysis import compare``).
"""
