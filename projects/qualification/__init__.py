"""Qualification tests: building a stream's test, taking it, scoring it, and what a PM does with the
results. See docs/qualification.md.

- ``services``: writes (start an attempt, answer, finish, waive, allow another attempt, questions);
- ``selectors``: reads (an annotator's standing in a test, the candidate list, question statistics);
- ``importing``: questions from a JSONL/CSV file in any ``import_items`` format plus answers;
- ``requirements``: matching annotator profiles against a stream's requirements.
"""
